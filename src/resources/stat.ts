/**
 * /proc/stat for a container (pure): fs/proc/stat.c show_stat's layout with
 * the container's CPUs renumbered 0..n-1 (as in its cpuinfo), their times from
 * the cgroup's CPU usage since the container started, and the process
 * counters of the cgroup's tasks. intr and softirq stay the host's: a cgroup
 * accounts no interrupts.
 */

/** USER_HZ: the unit of /proc/stat and /proc/uptime's clock ticks (100 on every Linux ABI). */
export const USER_HZ = 100;

export interface CpuTimes {
  /** per visible CPU, in order: user and system time, nanoseconds */
  user: number[];
  system: number[];
}

export interface StatInput {
  /** seconds since the container's init started */
  uptime: number;
  /** boot time of the container: the host's btime plus its init's start */
  btime: number;
  times: CpuTimes;
  /** forks in the container: its pid namespace's last pid */
  processes: number;
  running: number;
  blocked: number;
  ctxt: number;
}

/** The per-CPU tick counts: idle is what the CPU's elapsed time leaves (never negative). */
export function cpuTicks(input: Pick<StatInput, 'uptime' | 'times'>): Array<{ user: number; system: number; idle: number }> {
  const elapsed = Math.floor(input.uptime * USER_HZ);
  return input.times.user.map((u, i) => {
    const user = Math.min(elapsed, Math.floor(u / (1e9 / USER_HZ)));
    const system = Math.min(elapsed - user, Math.floor((input.times.system[i] ?? 0) / (1e9 / USER_HZ)));
    return { user, system, idle: elapsed - user - system };
  });
}

export function renderStat(hostText: string, input: StatInput): string {
  const ticks = cpuTicks(input);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const line = (name: string, t: { user: number; system: number; idle: number }) =>
    `${name} ${t.user} 0 ${t.system} ${t.idle} 0 0 0 0 0 0`;
  const sum = ticks.reduce((a, t) => ({ user: a.user + t.user, system: a.system + t.system, idle: a.idle + t.idle }), { user: 0, system: 0, idle: 0 });
  const out = [line('cpu ', sum), ...ticks.map((t, i) => line(`cpu${i}`, t))];
  const host = hostText.split('\n');
  const keep = (k: string) => host.find((l) => l.startsWith(`${k} `));
  out.push(keep('intr') ?? 'intr 0');
  out.push(`ctxt ${input.ctxt}`);
  out.push(`btime ${input.btime}`);
  out.push(`processes ${input.processes}`);
  out.push(`procs_running ${input.running}`);
  out.push(`procs_blocked ${input.blocked}`);
  const softirq = keep('softirq');
  if (softirq) out.push(softirq);
  return `${out.join('\n')}\n`;
}

/** /proc/uptime (fs/proc/uptime.c): up and the idle time summed over the CPUs, "%lu.%02lu". */
export function renderUptime(uptime: number, idleTicks: number): string {
  const f = (centis: number) => `${Math.floor(centis / 100)}.${String(centis % 100).padStart(2, '0')}`;
  return `${f(Math.floor(uptime * 100))} ${f(Math.floor((idleTicks * 100) / USER_HZ))}\n`;
}

/**
 * Without a CPU-accounting cgroup: the host's lines of the visible CPUs,
 * renumbered, and a summary line that is their sum (show_stat sums the same
 * per-CPU values it prints).
 */
export function hostCpuTicks(hostText: string, cpus: number[]): number[][] {
  const byCpu = new Map<number, number[]>();
  for (const l of hostText.split('\n')) {
    const m = /^cpu([0-9]+) (.*)$/.exec(l);
    if (m) byCpu.set(Number(m[1]), m[2]!.trim().split(/\s+/).map(Number));
  }
  return cpus.map((c) => byCpu.get(c) ?? new Array<number>(10).fill(0));
}

/** The CPU numbers the host's stat lists (cpu_online_mask as show_stat walks it). */
export function onlineCpus(hostText: string): number[] {
  const out: number[] = [];
  for (const l of hostText.split('\n')) {
    const m = /^cpu([0-9]+) /.exec(l);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

/** Replaces the cpu lines of a rendered stat with these raw per-CPU tick rows. */
export function withCpuRows(rendered: string, rows: number[][]): string {
  const sum = rows.reduce((a, r) => a.map((v, i) => v + (r[i] ?? 0)), new Array<number>(10).fill(0));
  const rest = rendered.split('\n').filter((l) => !/^cpu[0-9 ]/.test(l));
  return [`cpu  ${sum.join(' ')}`, ...rows.map((r, i) => `cpu${i} ${r.join(' ')}`), ...rest].join('\n');
}
