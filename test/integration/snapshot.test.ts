/**
 * procfuse snapshot + procfuse mount --replay: what the live process showed
 * through a live mount at snapshot time (recorded here, in the same test) is
 * what the replayed process shows, byte for byte: maps, auxv, cmdline, the
 * recorded memory; unrecorded memory reads as unmapped (EIO, short at the end of
 * a recorded run); a symbolizer gives the same output on both; fault rules apply
 * to the replay; the target runs again afterwards.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { addr, killAllTargets, startTarget } from '../helpers/c-programs';
import { readPath } from '../helpers/mem-io';
import { canMount, CLI, startMount, type Mount } from '../helpers/with-mount';

const ROOT = path.resolve(__dirname, '../..');
const PAGE = 4096n;
const T = { timeout: 60_000 };

interface Manifest {
  version: number;
  pid: number;
  stoppedWith: string;
  threads: Array<{ tid: number; sp: string | null; pc: string | null }>;
  regions: Array<{ start: string; end: string; why: string }>;
}

function stateOf(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

describe.skipIf(!canMount())('snapshot and replay', () => {
  let dir: string;
  let target: ChildProcess;
  let pid: number;
  let fns: bigint[]; // leaf, middle, outer, main
  let live: Mount;
  let replay: Mount;
  let replayFaulted: Mount;
  let manifest: Manifest;
  let symbolizer: string;
  const liveBytes = new Map<string, Buffer | string>();
  let liveMaps: Buffer;
  let liveAuxv: Buffer;
  let liveCmdline: Buffer;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-snapshot-'));
    const bin = path.join(dir, 'target');
    execFileSync('cc', ['-O0', '-g', '-fno-omit-frame-pointer', '-o', bin, path.join(ROOT, 'examples/unwinder-test/target.c')]);
    symbolizer = path.join(dir, 'symbolize');
    execFileSync('cc', ['-O1', '-g', '-Wall', '-o', symbolizer, path.join(ROOT, 'examples/symbolize/symbolize.c')]);
    target = spawn(bin, ['an', 'argument'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('target did not start')), 10_000);
      target.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) {
          clearTimeout(t);
          resolve(out);
        }
      });
    });
    pid = target.pid!;
    fns = ['leaf', 'middle', 'outer', 'main'].map((f) => BigInt(new RegExp(`${f}=(0x[0-9a-f]+)`).exec(line)![1]!));
    live = await startMount();

    // What the live process shows through procfuse, just before the snapshot
    // (it sits in pause(): nothing it shows changes meanwhile).
    liveMaps = fs.readFileSync(`${live.dir}/${pid}/maps`);
    liveAuxv = fs.readFileSync(`${live.dir}/${pid}/auxv`);
    liveCmdline = fs.readFileSync(`${live.dir}/${pid}/cmdline`);
    const sp = BigInt(fs.readFileSync(`/proc/${pid}/syscall`, 'latin1').trim().split(/\s+/).at(-2)!);
    const exeStart = BigInt(`0x${liveMaps.toString('latin1').split('-')[0]}`);
    const stackEnd = BigInt(`0x${/-([0-9a-f]+) [^\n]*\[stack\]\n/.exec(liveMaps.toString('latin1'))![1]}`);
    const at = (name: string, a: bigint, len: number): void => void liveBytes.set(name, readPath(`${live.dir}/${pid}/mem`, a, len));
    at('exe-header', exeStart, 4096);
    at('stack-from-sp', sp - (sp % PAGE), Number(stackEnd - (sp - (sp % PAGE))));

    const snap = path.join(dir, 'snap');
    execFileSync(process.execPath, [CLI, 'snapshot', String(pid), '-o', snap], { timeout: 60_000, stdio: 'pipe' });
    manifest = JSON.parse(fs.readFileSync(path.join(snap, 'snapshot.json'), 'utf8')) as Manifest;
    replay = await startMount(['--replay', snap]);
    const rules = path.join(dir, 'rules.json');
    fs.writeFileSync(rules, JSON.stringify({ version: 1, rules: [{ name: 'stack', target: { pid }, mapping: '[stack]', action: 'eio' }] }));
    replayFaulted = await startMount(['--replay', snap, '--faults', rules]);
  }, 120_000);

  afterAll(async () => {
    await replayFaulted?.stop();
    await replay?.stop();
    await live?.stop();
    target?.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the target was stopped for the snapshot and runs again', T, () => {
    expect(manifest.version).toBe(1);
    expect(manifest.stoppedWith).toBe('SIGSTOP');
    expect(stateOf(pid)).not.toMatch(/[Tt]/);
    expect(manifest.threads.map((t) => t.tid)).toEqual([pid]);
    expect(manifest.regions.map((r) => r.why)).toEqual(expect.arrayContaining(['stack', 'elf-header', 'vdso']));
  });

  test('maps, auxv and cmdline of the replay are the bytes the live process showed', T, () => {
    expect(fs.readFileSync(`${replay.dir}/${pid}/maps`)).toEqual(liveMaps);
    expect(fs.readFileSync(`${replay.dir}/${pid}/auxv`)).toEqual(liveAuxv);
    expect(fs.readFileSync(`${replay.dir}/${pid}/cmdline`)).toEqual(liveCmdline);
    expect(fs.readFileSync(`${replay.dir}/${pid}/task/${pid}/maps`)).toEqual(liveMaps);
    expect(fs.readlinkSync(`${replay.dir}/${pid}/exe`)).toBe(fs.readlinkSync(`/proc/${pid}/exe`));
    expect(fs.readdirSync(replay.dir)).toContain(String(pid));
  });

  test('mem: the recorded stack and ELF header bytes as the live process showed them; EIO and short reads elsewhere', T, () => {
    const exeStart = BigInt(`0x${liveMaps.toString('latin1').split('-')[0]}`);
    expect(readPath(`${replay.dir}/${pid}/mem`, exeStart, 4096)).toEqual(liveBytes.get('exe-header'));
    const stack = liveBytes.get('stack-from-sp') as Buffer;
    expect(Buffer.isBuffer(stack) && stack.length).toBeGreaterThan(4096);
    const sp = BigInt(manifest.threads[0]!.sp!);
    expect(readPath(`${replay.dir}/${pid}/mem`, sp - (sp % PAGE), stack.length)).toEqual(stack);
    // The heap was not recorded: unmapped, as far as the replay knows.
    const heap = /^([0-9a-f]+)-[0-9a-f]+ [^\n]*\[heap\]$/m.exec(liveMaps.toString('latin1'));
    if (heap) expect(readPath(`${replay.dir}/${pid}/mem`, BigInt(`0x${heap[1]}`), 16)).toBe('EIO');
    // A read that runs past the end of a recorded run stops there.
    const first = manifest.regions[0]!;
    const end = BigInt(first.end);
    const next = manifest.regions.find((r) => BigInt(r.start) === end);
    if (!next) {
      const got = readPath(`${replay.dir}/${pid}/mem`, end - 100n, 4096);
      expect(Buffer.isBuffer(got) && got.length).toBe(100);
    }
    // The same through the thread's own mem.
    expect(readPath(`${replay.dir}/${pid}/task/${pid}/mem`, exeStart, 64)).toEqual((liveBytes.get('exe-header') as Buffer).subarray(0, 64));
    // Writes: the recorded address space is read-only.
    expect(() => fs.openSync(`${replay.dir}/${pid}/mem`, 'r+')).toThrow(/EROFS/);
  });

  test('a symbolizer names the same functions against the live process and the replay', T, () => {
    const pcs = [...fns, BigInt(manifest.threads[0]!.pc!)].map((a) => `0x${a.toString(16)}`);
    const run = (mnt: string): string => {
      const proc = fs.mkdtempSync(path.join(dir, 'proc-'));
      fs.symlinkSync(`${mnt}/${pid}`, path.join(proc, 'self'));
      return execFileSync(symbolizer, [proc, ...pcs], { encoding: 'utf8', timeout: 30_000 });
    };
    const onLive = run(live.dir);
    expect(onLive).toMatch(/leaf\+0x0 .*\n.*middle\+0x0 .*\n.*outer\+0x0 .*\n.*main\+0x0 .*\n.*pause\+0x/);
    expect(run(replay.dir)).toBe(onLive);
  });

  test('fault rules apply to the replayed process', T, () => {
    const sp = BigInt(manifest.threads[0]!.sp!);
    expect(readPath(`${replayFaulted.dir}/${pid}/mem`, sp - (sp % PAGE), 64)).toBe('EIO');
    const exeStart = BigInt(`0x${liveMaps.toString('latin1').split('-')[0]}`);
    expect(readPath(`${replayFaulted.dir}/${pid}/mem`, exeStart, 64)).toEqual((liveBytes.get('exe-header') as Buffer).subarray(0, 64));
  });
});

describe.skipIf(!canMount())('snapshot of a multi-threaded process', () => {
  test('each thread\'s stack is recorded: its patterned buffer reads the same through task/<tid>/mem of the replay', { timeout: 120_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-snapshot-'));
    let replay: Mount | undefined;
    try {
      const t = await startTarget('mem_target', ['--threads', '3']);
      const pid = t.info.pid as number;
      const threads = t.info.threads as Array<{ tid: number; buf: string; len: number }>;
      expect(threads).toHaveLength(3);
      const live = threads.map((th) => readPath(`/proc/${pid}/task/${th.tid}/mem`, addr(th.buf), th.len));
      execFileSync(process.execPath, [CLI, 'snapshot', String(pid), '-o', path.join(dir, 'snap')], { timeout: 60_000, stdio: 'pipe' });
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'snap', 'snapshot.json'), 'utf8')) as Manifest;
      expect(m.threads.map((x) => x.tid).sort()).toEqual([pid, ...threads.map((th) => th.tid)].sort());
      replay = await startMount(['--replay', path.join(dir, 'snap')]);
      expect(fs.readdirSync(`${replay.dir}/${pid}/task`).map(Number).sort()).toEqual(m.threads.map((x) => x.tid).sort());
      threads.forEach((th, i) => {
        expect(Buffer.isBuffer(live[i]) && live[i]!.length).toBe(th.len);
        expect(readPath(`${replay!.dir}/${pid}/task/${th.tid}/mem`, addr(th.buf), th.len)).toEqual(live[i]);
      });
    } finally {
      await replay?.stop();
      await killAllTargets();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
