/**
 * `npm run bench`: procfuse next to the kernel's own /proc in one run, as ratios.
 *
 * The daemon runs as a child process; this process is the reader. Each case runs
 * the same operation on /proc/<...> and <mnt>/<...> for the same target, several
 * rounds interleaved, and reports the median time per operation of each and their
 * ratio (procfuse / kernel: 2.0 means twice as slow). Memory: the daemon's RSS
 * after start and after the runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', __dirname.includes(`${path.sep}dist${path.sep}`) ? '..' : '.');
const CLI = path.join(ROOT, 'dist/mount/cli.js');

interface Case {
  name: string;
  /** runs one operation against the tree rooted at `proc` */
  op: (proc: string) => void;
  /** operations per round */
  iterations: number;
  /** bytes per operation, for throughput */
  bytes?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeRound(c: Case, proc: string): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < c.iterations; i++) c.op(proc);
  return Number(process.hrtime.bigint() - t0) / 1000 / c.iterations; // µs per op
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The largest private anonymous rw mapping of this process: a readable region for mem reads. */
function bigRegion(minBytes: number): bigint {
  let best: { start: bigint; size: bigint } | undefined;
  for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0 *$/.exec(line);
    if (!m) continue;
    const start = BigInt(`0x${m[1]}`);
    const size = BigInt(`0x${m[2]}`) - start;
    if (size >= BigInt(minBytes) && (!best || size > best.size)) best = { start, size };
  }
  if (!best) throw new Error('no large anonymous mapping found');
  return best.start;
}

async function mount(): Promise<{ dir: string; daemon: ChildProcess; stop: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-bench-'));
  const daemon = spawn(process.execPath, [CLI, 'mount', dir, '--foreground', '--ready-fd', '3'], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    (daemon.stdio[3] as NodeJS.ReadableStream).on('data', () => resolve());
    daemon.on('exit', (c) => reject(new Error(`daemon exited (${c})`)));
  });
  return {
    dir,
    daemon,
    stop: async () => {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
  // A region of our own heap to read through mem (64 MiB so 1 MiB reads stay inside).
  const keep = Buffer.alloc(64 << 20, 0x5a);
  const region = bigRegion(8 << 20);
  const pid = process.pid;
  const m = await mount();
  const rssStart = rssKiB(m.daemon.pid!);
  const buf = Buffer.alloc(1 << 20);

  const memRead = (size: number): Case => ({
    name: `mem pread ${size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`}`,
    iterations: size >= 1 << 20 ? 100 : 2000,
    bytes: size,
    op: (() => {
      const fds = new Map<string, number>();
      return (proc: string) => {
        let fd = fds.get(proc);
        if (fd === undefined) {
          fd = fs.openSync(`${proc}/${pid}/mem`, 'r');
          fds.set(proc, fd);
        }
        const n = fs.readSync(fd, buf, 0, size, region);
        if (n !== size) throw new Error(`short read ${n} from ${proc}/${pid}/mem`);
      };
    })(),
  });

  const cases: Case[] = [
    { name: 'readlink self', iterations: 2000, op: (p) => void fs.readlinkSync(`${p}/self`) },
    { name: 'stat <pid>/status', iterations: 2000, op: (p) => void fs.statSync(`${p}/${pid}/status`) },
    { name: 'read <pid>/status', iterations: 1000, op: (p) => void fs.readFileSync(`${p}/${pid}/status`) },
    { name: 'readdir root', iterations: 200, op: (p) => void fs.readdirSync(p) },
  ];
  if (fs.existsSync(path.join(m.dir, String(pid), 'maps'))) {
    cases.push({ name: 'read <pid>/maps', iterations: 500, op: (p) => void fs.readFileSync(`${p}/${pid}/maps`) });
  }
  if (fs.existsSync(path.join(m.dir, String(pid), 'mem'))) {
    cases.push(memRead(4096), memRead(64 << 10), memRead(1 << 20));
  }

  const rows: string[][] = [['case', 'kernel', 'procfuse', 'ratio']];
  try {
    for (const c of cases) {
      const k: number[] = [];
      const f: number[] = [];
      c.op('/proc');
      c.op(m.dir); // warm up, open fds
      for (let r = 0; r < rounds; r++) {
        k.push(timeRound(c, '/proc'));
        f.push(timeRound(c, m.dir));
      }
      const fmt = (us: number) =>
        c.bytes ? `${us.toFixed(1)} µs (${((c.bytes / us) * 1e6 / (1 << 30)).toFixed(2)} GiB/s)` : `${us.toFixed(1)} µs`;
      rows.push([c.name, fmt(median(k)), fmt(median(f)), `${(median(f) / median(k)).toFixed(2)}×`]);
    }
    const rssEnd = rssKiB(m.daemon.pid!);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    console.log(`procfuse benchmark: ${rounds} rounds, median per operation; ratio = procfuse / kernel`);
    for (const r of rows) console.log(r.map((s, i) => s.padEnd(widths[i]!)).join('  '));
    console.log(`daemon RSS: ${rssStart} KiB after start, ${rssEnd} KiB after the runs`);
  } finally {
    await m.stop();
    keep.fill(0);
  }
}

main().catch((e: unknown) => {
  console.error(`procfuse bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
