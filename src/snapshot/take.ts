/**
 * `procfuse snapshot PID -o DIR`: what an unwinder needs of a live process at
 * one instant, recorded while every thread is stopped (SIGSTOP: a group stop,
 * do_signal_stop), then resumed (SIGCONT) unless it was stopped already.
 * The layout is a /proc of one process, which `procfuse mount --replay DIR`
 * serves through the ordinary tree. Format: docs/snapshots.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { parseMaps, type Vma } from '../host/parse-maps';
import { planRegions, type Region, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type SnapshotManifest } from './format';

export interface SnapshotOptions {
  pid: number;
  out: string;
  environ: boolean;
  /** also every readable mapping, up to maxBytes in all */
  allMemory: boolean;
  maxBytes: number;
  /** bytes recorded from the start of each file mapping at offset 0 */
  headerBytes: number;
  /** the host's /proc (tests may point elsewhere) */
  proc?: string;
}

const PER_PROCESS_FILES = ['maps', 'status', 'stat', 'statm', 'auxv', 'cmdline', 'comm', 'limits'];
const PER_THREAD_FILES = ['stat', 'status', 'comm', 'syscall'];
const LINKS = ['exe', 'cwd', 'root'];

function taskStates(proc: string, pid: number): string[] {
  return fs.readdirSync(path.join(proc, String(pid), 'task')).map((tid) => {
    const stat = fs.readFileSync(path.join(proc, String(pid), 'task', tid, 'stat'), 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  });
}

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** Stops every thread of pid; returns whether we must resume it. */
function stopAll(proc: string, pid: number): boolean {
  const before = taskStates(proc, pid);
  if (before.every((s) => s === 'T' || s === 't')) return false;
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + 10_000;
  for (;;) {
    // A thread in uninterruptible sleep (D) stops when it returns to user space.
    if (taskStates(proc, pid).every((s) => s === 'T' || s === 't')) return true;
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGCONT');
      throw new Error(`process ${pid} did not stop within 10 s`);
    }
    sleep(5);
  }
}

/** Copies a file with the host entry's owner and mode (procfs: task_dump_owner), as the tree mirrors them. */
function copyIfReadable(from: string, to: string): boolean {
  try {
    fs.writeFileSync(to, fs.readFileSync(from));
    const st = fs.lstatSync(from);
    fs.chownSync(to, st.uid, st.gid);
    fs.chmodSync(to, st.mode & 0o7777);
    return true;
  } catch {
    return false; // zombie thread, no permission: not recorded
  }
}

/** /proc/<tid>/syscall: "nr args... sp pc", or "-1 sp pc" outside a syscall (proc_pid_syscall). */
function stackPointer(text: string): { sp: bigint; pc: bigint } | undefined {
  const f = text.trim().split(/\s+/);
  if (f.length < 3 || f[0] === 'running') return undefined;
  return { sp: BigInt(f[f.length - 2]!), pc: BigInt(f[f.length - 1]!) };
}

/** Reads [start, end) of mem page by page; returns the runs that could be read. */
function readRuns(memfd: number, start: bigint, end: bigint): Array<{ start: bigint; data: Buffer }> {
  const PAGE = 4096n;
  const runs: Array<{ start: bigint; data: Buffer }> = [];
  let cur: { start: bigint; parts: Buffer[] } | undefined;
  const flush = (): void => {
    if (cur) runs.push({ start: cur.start, data: Buffer.concat(cur.parts) });
    cur = undefined;
  };
  for (let a = start; a < end; a += PAGE) {
    const buf = Buffer.alloc(Number(end - a < PAGE ? end - a : PAGE));
    let n = 0;
    try {
      n = fs.readSync(memfd, buf, 0, buf.length, a);
    } catch {
      n = 0; // EIO: unmapped or unreadable (VM_IO): a hole in the snapshot
    }
    if (n !== buf.length) {
      flush();
      continue;
    }
    if (!cur) cur = { start: a, parts: [] };
    cur.parts.push(buf);
  }
  flush();
  return runs;
}

export function takeSnapshot(opts: SnapshotOptions): SnapshotManifest {
  const proc = opts.proc ?? '/proc';
  const pid = opts.pid;
  const src = (...p: Array<string | number>): string => path.join(proc, String(pid), ...p.map(String));
  if (fs.existsSync(opts.out) && fs.readdirSync(opts.out).length > 0) throw new Error(`${opts.out} is not empty`);
  const dir = path.join(opts.out, 'proc', String(pid));
  fs.mkdirSync(path.join(dir, 'task'), { recursive: true });

  const resume = stopAll(proc, pid);
  const takenAt = new Date().toISOString();
  let manifest: SnapshotManifest;
  try {
    const files = PER_PROCESS_FILES.filter((f) => copyIfReadable(src(f), path.join(dir, f)));
    if (opts.environ && copyIfReadable(src('environ'), path.join(dir, 'environ'))) files.push('environ');
    const links: Record<string, string> = {};
    for (const l of LINKS) {
      try {
        links[l] = fs.readlinkSync(src(l));
        fs.symlinkSync(links[l]!, path.join(dir, l));
      } catch {
        // a kernel thread has no exe; no permission: not recorded
      }
    }
    // The user namespace: credentials are judged in it (ns_capable). A snapshot
    // taken in the daemon's user namespace names it through /proc/self/ns/user
    // of whoever replays; another one cannot be recreated and is recorded as such.
    const userNs = fs.readlinkSync(src('ns', 'user'));
    const sameUserNs = userNs === fs.readlinkSync(path.join(proc, 'self', 'ns', 'user'));
    fs.mkdirSync(path.join(dir, 'ns'));
    if (sameUserNs) fs.symlinkSync('/proc/self/ns/user', path.join(dir, 'ns', 'user'));
    const threads: SnapshotManifest['threads'] = [];
    for (const tid of fs.readdirSync(src('task')).map(Number).sort((x, y) => x - y)) {
      const tdir = path.join(dir, 'task', String(tid));
      fs.mkdirSync(tdir);
      fs.mkdirSync(path.join(tdir, 'ns'));
      if (sameUserNs) fs.symlinkSync('/proc/self/ns/user', path.join(tdir, 'ns', 'user'));
      for (const f of PER_THREAD_FILES) copyIfReadable(src('task', tid, f), path.join(tdir, f));
      copyIfReadable(src('maps'), path.join(tdir, 'maps')); // one mm for all threads
      let regs: { sp: bigint; pc: bigint } | undefined;
      try {
        regs = stackPointer(fs.readFileSync(path.join(tdir, 'syscall'), 'latin1'));
      } catch {
        regs = undefined;
      }
      threads.push({ tid, sp: regs ? `0x${regs.sp.toString(16)}` : null, pc: regs ? `0x${regs.pc.toString(16)}` : null });
    }
    // /proc/<tid> resolves for every thread, though only the leader is listed
    // (proc_pid_lookup vs proc_pid_readdir): a link, which the replay does not list.
    for (const t of threads) if (t.tid !== pid) fs.symlinkSync(path.join(String(pid), 'task', String(t.tid)), path.join(opts.out, 'proc', String(t.tid)));
    // The system-wide /proc/stat: its btime dates the process's start time.
    copyIfReadable(path.join(proc, 'stat'), path.join(opts.out, 'proc', 'stat'));

    const vmas: Vma[] = parseMaps(fs.readFileSync(path.join(dir, 'maps')));
    const wanted = planRegions(vmas, {
      stackPointers: threads.flatMap((t) => (t.sp ? [BigInt(t.sp)] : [])),
      headerBytes: BigInt(opts.headerBytes),
      allMemory: opts.allMemory,
      maxBytes: BigInt(opts.maxBytes),
    });
    const regions: Region[] = [];
    const data = fs.openSync(path.join(dir, 'mem.data'), 'w');
    const memfd = fs.openSync(src('mem'), 'r');
    let offset = 0n;
    try {
      for (const w of wanted) {
        for (const run of readRuns(memfd, w.start, w.end)) {
          fs.writeSync(data, run.data);
          regions.push({ start: run.start, end: run.start + BigInt(run.data.length), offset, why: w.why });
          offset += BigInt(run.data.length);
        }
      }
    } finally {
      fs.closeSync(memfd);
      fs.closeSync(data);
    }
    writeIndex(path.join(dir, 'mem'), 'mem.data', regions);
    // Directory owners as the host's (the tree mirrors /proc/<pid>'s owner).
    const own = fs.lstatSync(src());
    for (const d of [dir, path.join(dir, 'task'), ...threads.map((t) => path.join(dir, 'task', String(t.tid)))]) fs.chownSync(d, own.uid, own.gid);
    for (const t of threads) writeIndex(path.join(dir, 'task', String(t.tid), 'mem'), '../../mem.data', regions);

    manifest = {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      pid,
      takenAt,
      kernel: os.release(),
      userNs,
      sameUserNs,
      stoppedWith: resume ? 'SIGSTOP' : 'already stopped',
      files,
      links,
      threads,
      regions: regions.map((r) => ({ start: `0x${r.start.toString(16)}`, end: `0x${r.end.toString(16)}`, why: r.why })),
      options: { environ: opts.environ, allMemory: opts.allMemory, maxBytes: opts.maxBytes, headerBytes: opts.headerBytes },
    };
  } finally {
    if (resume) process.kill(pid, 'SIGCONT');
  }
  fs.writeFileSync(path.join(opts.out, 'snapshot.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function writeIndex(file: string, dataName: string, regions: readonly Region[]): void {
  const lines = regions.map((r) => `${r.start.toString(16)} ${r.end.toString(16)} ${r.offset.toString(16)}\n`);
  fs.writeFileSync(file, `procfuse-mem-snapshot 1 ${dataName}\n${lines.join('')}`);
}
