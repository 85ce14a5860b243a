/**
 * A cgroup's load average, computed as the kernel computes the system's
 * (kernel/sched/loadavg.c calc_load, fixed point with FSHIFT 11) from samples
 * of its tasks every LOAD_FREQ (5 s), and printed as loadavg_proc_show does.
 */
export const FSHIFT = 11;
export const FIXED_1 = 1 << FSHIFT;
/** 1/exp(5s/1min), 1/exp(5s/5min), 1/exp(5s/15min) in fixed point */
export const EXP = [1884, 2014, 2037] as const;
export const LOAD_FREQ_MS = 5000;

/** One calc_load step: `active` tasks (running + uninterruptible) now. */
export function calcLoad(load: number, exp: number, active: number): number {
  const a = active * FIXED_1;
  let n = load * exp + a * (FIXED_1 - exp);
  if (a >= load) n += FIXED_1 - 1;
  return Math.floor(n / FIXED_1);
}

export function stepLoad(avenrun: number[], active: number): number[] {
  return EXP.map((e, i) => calcLoad(avenrun[i] ?? 0, e, active));
}

/** "%lu.%02lu" ×3, "running/threads", last pid (get_avenrun with offset FIXED_1/200 rounds). */
export function renderLoadavg(avenrun: number[], running: number, threads: number, lastPid: number): string {
  const f = (x: number) => {
    const v = x + FIXED_1 / 200;
    return `${Math.floor(v / FIXED_1)}.${String(Math.floor(((v & (FIXED_1 - 1)) * 100) / FIXED_1)).padStart(2, '0')}`;
  };
  return `${avenrun.map(f).join(' ')} ${running}/${threads} ${lastPid}\n`;
}

/**
 * Samples one cgroup every LOAD_FREQ while anyone reads its loadavg; stops
 * after `idleMs` without a read, so a gone container costs nothing.
 */
export class LoadSampler {
  private avenrun = [0, 0, 0];
  private timer?: NodeJS.Timeout;
  private lastRead = Date.now();

  constructor(
    private readonly active: () => number,
    private readonly idleMs = 15 * 60_000,
  ) {}

  read(): number[] {
    this.lastRead = Date.now();
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), LOAD_FREQ_MS);
      this.timer.unref();
    }
    return this.avenrun;
  }

  tick(): void {
    if (Date.now() - this.lastRead > this.idleMs) {
      this.stop();
      return;
    }
    let n = 0;
    try {
      n = this.active();
    } catch {
      // the cgroup is gone: its load decays as an idle one's would
    }
    this.avenrun = stepLoad(this.avenrun, n);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
