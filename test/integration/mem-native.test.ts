/**
 * native/mem_reader through the addon's exports, side by side with the host's
 * /proc/<pid>/mem (the oracle): every read is done both ways at the same address.
 * SPEC-10..22; fs/proc/base.c mem_rw; mm/gup.c check_vma_flags.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../../src/native';
import { execFileSync } from 'node:child_process';
import { addr, buildCProgram, killAllTargets, startTarget } from '../helpers/c-programs';
import {
  codeOf,
  firstBadBigWord,
  MEM_TARGET_FILL,
  memTargetRegions,
  openErrno,
  pattern,
  procState,
  readFd as hostReadFd,
  readPath,
  waitFor,
  writeFd as hostWriteFd,
  type ReadResult,
} from '../helpers/mem-io';

const PROBE_BYTE = 0x50;
const SECRET_BYTE = 0x5e;
const T = { timeout: 30_000 };

function nativeRead(h: number, at: bigint, len: number): ReadResult {
  try {
    return native.memRead(h, at, len);
  } catch (e) {
    return codeOf(e);
  }
}

function hostRead(pid: number, at: bigint, len: number): ReadResult {
  return readPath(`/proc/${pid}/mem`, at, len);
}

function nativeWrite(h: number, at: bigint, data: Buffer): number | string {
  try {
    return native.memWrite(h, at, data);
  } catch (e) {
    return codeOf(e);
  }
}

function hostOpenError(pid: number, flags: string): string | null {
  return openErrno(`/proc/${pid}/mem`, flags);
}

function nativeOpenError(pid: number, writable: boolean): string | null {
  try {
    handles.push(native.memOpen(`/proc/${pid}`, writable));
    return null;
  } catch (e) {
    return codeOf(e);
  }
}

// Handles and host fds are per test; the targets are killed after each test.
const handles: number[] = [];
const hostFds: number[] = [];
function open(pid: number, writable = false): number {
  const h = native.memOpen(`/proc/${pid}`, writable);
  handles.push(h);
  return h;
}
function hostOpen(pid: number, flags = 'r'): number {
  const fd = fs.openSync(`/proc/${pid}/mem`, flags);
  hostFds.push(fd);
  return fd;
}

afterEach(async () => {
  for (const h of handles.splice(0)) native.closeHandle(h);
  for (const fd of hostFds.splice(0)) fs.closeSync(fd);
  await killAllTargets();
});

describe('MemReader reads (mem_rw)', () => {
  it('heap, stack, file mapping and text bytes match the host', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const h = open(pid);
    const cases = memTargetRegions(t.info, 64);
    for (const [name, at, len, expected] of cases) {
      const got = nativeRead(h, at, len);
      expect(got, name).toEqual(hostRead(pid, at, len));
      expect(Buffer.isBuffer(got) && got.length, name).toBe(len);
      if (expected) expect(got, name).toEqual(expected);
    }
    // magic(): mov $0x11223344,%eax
    expect((nativeRead(h, addr(t.info.text), 16) as Buffer).includes(Buffer.from([0x44, 0x33, 0x22, 0x11]))).toBe(true);
    expect(native.memAlive(h)).toBe(true);
    expect(nativeRead(h, addr(t.info.heap), 0)).toEqual(Buffer.alloc(0));
  });

  it('PROT_NONE and PROT_WRITE-only pages are readable (FOLL_FORCE, SPEC-21)', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const page = t.info.page as number;
    const h = open(pid);
    const prot = addr(t.info.prot);
    const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    const hex = (a: bigint): string => a.toString(16);
    expect(maps).toContain(`${hex(prot + BigInt(page))}-${hex(prot + BigInt(2 * page))} ---p`);
    expect(maps).toContain(`${hex(prot + BigInt(2 * page))}-${hex(prot + BigInt(3 * page))} -w-p`);
    const expected = pattern(3 * page, MEM_TARGET_FILL.prot);
    expect(nativeRead(h, prot, 3 * page)).toEqual(expected);
    expect(hostRead(pid, prot, 3 * page)).toEqual(expected);
    for (const k of [1, 2]) {
      const at = prot + BigInt(k * page);
      expect(nativeRead(h, at, page)).toEqual(expected.subarray(k * page, (k + 1) * page));
    }
  });

  it('an unmapped address gives EIO (SPEC-17)', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const page = BigInt(t.info.page as number);
    const h = open(pid);
    for (const at of [addr(t.info.hole) + page, 0n, 1n << 46n]) {
      expect(hostRead(pid, at, 16)).toBe('EIO');
      expect(nativeRead(h, at, 16)).toBe('EIO');
    }
  });

  it('a read running into a hole is short by exactly the unmapped part (SPEC-16)', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const page = t.info.page as number;
    const h = open(pid);
    const hole = addr(t.info.hole);
    const mapped = pattern(page, MEM_TARGET_FILL.hole);
    // whole page + hole
    expect(nativeRead(h, hole, 2 * page)).toEqual(mapped);
    expect(hostRead(pid, hole, 2 * page)).toEqual(mapped);
    // gVisor ProcPidMem.PartialRead: 4096 bytes at the last byte of the page -> 1
    const last = hole + BigInt(page - 1);
    expect(nativeRead(h, last, 4096)).toEqual(mapped.subarray(page - 1));
    expect(hostRead(pid, last, 4096)).toEqual(mapped.subarray(page - 1));
    // from the middle of the page
    const mid = hole + 100n;
    expect(nativeRead(h, mid, 3 * page)).toEqual(hostRead(pid, mid, 3 * page));
    expect((nativeRead(h, mid, 3 * page) as Buffer).length).toBe(page - 100);
  });

  it('a 64 MiB read returns the right bytes', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const len = t.info.bigLen as number;
    expect(len).toBeGreaterThanOrEqual(64 << 20);
    const h = open(pid);
    const got = nativeRead(h, addr(t.info.big), len) as Buffer;
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.length).toBe(len);
    const bad = firstBadBigWord(got);
    expect(bad).toBe(-1);
    expect(got.equals(hostRead(pid, addr(t.info.big), len) as Buffer)).toBe(true);
  });

  it("reads another thread's stack through the process handle and the thread's own", T, async () => {
    const t = await startTarget('mem_target', ['--threads', '3']);
    const pid = t.info.pid as number;
    const threads = t.info.threads as Array<{ tid: number; buf: string; len: number }>;
    expect(threads).toHaveLength(3);
    const h = open(pid);
    for (const [k, th] of threads.entries()) {
      expect(th.tid).not.toBe(pid);
      const expected = pattern(th.len, (i) => i * 3 + k + 1);
      expect(nativeRead(h, addr(th.buf), th.len)).toEqual(expected);
      expect(hostRead(pid, addr(th.buf), th.len)).toEqual(expected);
      // /proc/<pid>/task/<tid>/mem: a non-leader tid (pidfd_open needs PIDFD_THREAD)
      const ht = open(th.tid);
      expect(native.memAlive(ht)).toBe(true);
      expect(nativeRead(ht, addr(th.buf), th.len)).toEqual(expected);
      expect(hostRead(th.tid, addr(th.buf), th.len)).toEqual(expected);
    }
  });

  it('an address >= 2^63 answers like read() at that f_pos (pread would give EINVAL, SPEC-25/26)', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const h = open(pid);
    // node's fs cannot read at such positions; a C oracle does lseek+read.
    const oracle = buildCProgram('mem_pos_read');
    const hostPosRead = (at: bigint, len: number): ReadResult => {
      const out = JSON.parse(execFileSync(oracle, [String(pid), at.toString(16), String(len)], { encoding: 'utf8' }));
      return out.error ?? Buffer.from(out.hex, 'hex');
    };
    const cases: Array<[bigint, number, string]> = [
      [1n << 63n, 16, 'EIO'], // non-canonical: access_remote_vm copies nothing
      [0xffff_ffff_ffff_0000n, 16, 'EIO'],
      [0xffff_ffff_ff60_0000n, 16, 'EIO'], // [vsyscall], xonly on this kernel
      [0xffff_ffff_ffff_f000n, 8192, 'EOVERFLOW'], // rw_verify_area: pos < 0 and count >= -pos
    ];
    for (const [at, len, expected] of cases) {
      expect(hostPosRead(at, len), at.toString(16)).toBe(expected);
      expect(nativeRead(h, at, len), at.toString(16)).toBe(expected);
    }
    // and an ordinary address through the same oracle
    expect(hostPosRead(addr(t.info.heap), 4)).toEqual(nativeRead(h, addr(t.info.heap), 4));
  });
});

describe('MemReader binding to the mm of open time (SPEC-11/12/14)', () => {
  it('after exit: 0 bytes as a zombie and after reaping; opening a zombie fails like the host', T, async () => {
    const t = await startTarget('mem_target', ['--fork']);
    const pid = t.info.pid as number;
    expect(t.info.keeper).toBe(t.proc.pid);
    const heap = addr(t.info.heap);
    const h = open(pid);
    const fd = hostOpen(pid);
    expect((nativeRead(h, heap, 16) as Buffer).length).toBe(16);

    t.send('exit');
    await waitFor(() => procState(pid) === 'Z', 'zombie');
    expect(native.memAlive(h)).toBe(true); // not reaped yet
    expect(hostReadFd(fd, heap, 16)).toEqual(Buffer.alloc(0));
    expect(nativeRead(h, heap, 16)).toEqual(Buffer.alloc(0));
    // A zombie has no mm: open fails with ESRCH on 6.15+ (SPEC-10), both sides.
    const hostErr = hostOpenError(pid, 'r');
    expect(hostErr).toBe('ESRCH');
    expect(nativeOpenError(pid, false)).toBe(hostErr);
    expect(nativeOpenError(pid, true)).toBe(hostOpenError(pid, 'r+'));

    process.kill(t.info.keeper as number, 'SIGUSR1');
    expect((await t.nextLine((l) => 'reaped' in l)).reaped).toBe(pid);
    expect(procState(pid)).toBe(null);
    expect(native.memAlive(h)).toBe(false);
    expect(hostReadFd(fd, heap, 16)).toEqual(Buffer.alloc(0));
    expect(nativeRead(h, heap, 16)).toEqual(Buffer.alloc(0));
    // Gone: pidfd_open says ESRCH (the MemReader contract); the host path is ENOENT.
    expect(hostOpenError(pid, 'r')).toBe('ENOENT');
    expect(nativeOpenError(pid, false)).toBe('ESRCH');
  });

  it('a kernel thread has no mm: ESRCH at open on both sides (SPEC-10)', T, () => {
    expect(fs.readFileSync('/proc/2/comm', 'utf8')).toBe('kthreadd\n');
    expect(hostOpenError(2, 'r')).toBe('ESRCH');
    expect(nativeOpenError(2, false)).toBe('ESRCH');
  });

  it('after execve: 0 bytes from the handle, never the new image (SPEC-12)', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const probe = addr(t.info.probe);
    const h = open(pid);
    const hw = open(pid, true);
    const fd = hostOpen(pid);
    expect(nativeRead(h, probe, 64)).toEqual(Buffer.alloc(64, PROBE_BYTE));

    t.send('exec');
    const after = await t.nextLine((l) => l.secretAt === t.info.probe);
    expect(after.pid).toBe(pid);
    // The address now holds the new image's secret...
    expect(hostRead(pid, probe, 64)).toEqual(Buffer.alloc(64, SECRET_BYTE));
    // ...but the handles opened before exec see the old, dead mm.
    expect(hostReadFd(fd, probe, 64)).toEqual(Buffer.alloc(0));
    expect(nativeRead(h, probe, 64)).toEqual(Buffer.alloc(0));
    expect(nativeWrite(hw, probe, Buffer.from('x'))).toBe(0);
    expect(native.memAlive(h)).toBe(true);
    expect(hostRead(pid, probe, 64)).toEqual(Buffer.alloc(64, SECRET_BYTE));
  });

  it('a CLONE_VM child that execs: the handle stays on the shared old mm, never the new image', T, async () => {
    // The case that defeats a process_vm_readv fast path guarded by "pidfd alive and
    // the pinned fd still reads": the old mm lives on in the parent after the exec.
    const t = await startTarget('mem_target');
    const probe = addr(t.info.probe);
    t.send('clone-vm');
    const child = (await t.nextLine((l) => 'clonePid' in l)).clonePid as number;
    const h = open(child);
    const fd = hostOpen(child);
    expect(nativeRead(h, probe, 64)).toEqual(Buffer.alloc(64, PROBE_BYTE));

    t.send('clone-exec');
    const after = await t.nextLine((l) => l.pid === child);
    expect(after.secretAt).toBe(t.info.probe);
    expect(hostRead(child, probe, 64)).toEqual(Buffer.alloc(64, SECRET_BYTE));
    // The kernel's answer through the old fd: the old mm (the parent's), still alive.
    const old = hostReadFd(fd, probe, 64);
    expect(old).toEqual(Buffer.alloc(64, PROBE_BYTE));
    expect(nativeRead(h, probe, 64)).toEqual(old);
    expect(native.memAlive(h)).toBe(true);
  });

  it('pid reuse: a handle on A reads 0 bytes and never B, which has the same pid', T, async () => {
    const t = await startTarget('pid_reuse');
    const a = t.info.pid as number;
    const at = addr(t.info.addr);
    const h = open(a);
    const fd = hostOpen(a);
    expect(nativeRead(h, at, 64)).toEqual(Buffer.alloc(64, 0x41));

    t.send('reuse');
    const r = await t.nextLine((l) => 'reused' in l || 'error' in l);
    expect(r.error).toBeUndefined();
    expect(r.reused).toBe(a);
    expect(hostRead(a, at, 64)).toEqual(Buffer.alloc(64, 0x42)); // the pid now names B
    expect(native.memAlive(h)).toBe(false);
    expect(hostReadFd(fd, at, 64)).toEqual(Buffer.alloc(0));
    expect(nativeRead(h, at, 64)).toEqual(Buffer.alloc(0));
  });
});

describe('MemReader writes', () => {
  it('an O_RDWR handle patches read-only text by COW (FOLL_FORCE, SPEC-22)', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const text = addr(t.info.text);
    const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    const line = maps.split('\n').find((l) => {
      const [lo, hi] = l.split(' ')[0]!.split('-').map((x) => BigInt(`0x${x}`));
      return lo! <= text && text < hi!;
    });
    expect(line?.split(/\s+/)[1]).toBe('r-xp');

    t.send('write-check');
    expect((await t.nextLine((l) => 'magic' in l)).magic).toBe('0x11223344');

    const h = open(pid, true);
    const code = nativeRead(h, text, 16) as Buffer;
    const off = code.indexOf(Buffer.from([0x44, 0x33, 0x22, 0x11]));
    expect(off).toBeGreaterThan(0);
    const at = text + BigInt(off);
    expect(native.memWrite(h, at, Buffer.from([0x55, 0x66, 0x77, 0x88]))).toBe(4);
    expect(hostRead(pid, at, 4)).toEqual(Buffer.from([0x55, 0x66, 0x77, 0x88]));
    t.send('write-check');
    expect((await t.nextLine((l) => 'magic' in l)).magic).toBe('0x88776655');

    // A data page, checked by the target itself.
    const heap = addr(t.info.heap);
    expect(native.memWrite(h, heap, Buffer.from('hello'))).toBe(5);
    t.send(`peek ${heap.toString(16)} 5`);
    expect((await t.nextLine((l) => 'peek' in l)).peek).toBe(Buffer.from('hello').toString('hex'));

    // Into a hole: EIO, as through the host fd; running into it: short.
    const hole = addr(t.info.hole);
    const page = t.info.page as number;
    const fd = hostOpen(pid, 'r+');
    expect(hostWriteFd(fd, hole + BigInt(page), Buffer.alloc(8))).toBe('EIO');
    expect(nativeWrite(h, hole + BigInt(page), Buffer.alloc(8))).toBe('EIO');
    expect(hostWriteFd(fd, hole + BigInt(page - 8), Buffer.alloc(16, 1))).toBe(8);
    expect(nativeWrite(h, hole + BigInt(page - 4), Buffer.alloc(16, 2))).toBe(4);
    expect(hostRead(pid, hole + BigInt(page - 8), 8)).toEqual(Buffer.from([1, 1, 1, 1, 2, 2, 2, 2]));
  });

  it('a read-only handle cannot write (EBADF, as the host)', T, async () => {
    const t = await startTarget('mem_target');
    const pid = t.info.pid as number;
    const heap = addr(t.info.heap);
    const fd = hostOpen(pid, 'r');
    expect(hostWriteFd(fd, heap, Buffer.from('x'))).toBe('EBADF');
    const h = open(pid, false);
    expect(nativeWrite(h, heap, Buffer.from('x'))).toBe('EBADF');
    expect((nativeRead(h, heap, 1) as Buffer)[0]).toBe(7);
  });

  it('writes return 0 once the target has exited (SPEC-14)', T, async () => {
    const t = await startTarget('mem_target', ['--fork']);
    const pid = t.info.pid as number;
    const heap = addr(t.info.heap);
    const h = open(pid, true);
    const fd = hostOpen(pid, 'r+');
    expect(hostWriteFd(fd, heap, Buffer.from('y'))).toBe(1);
    expect(nativeWrite(h, heap, Buffer.from('x'))).toBe(1);
    expect(hostRead(pid, heap, 1)).toEqual(Buffer.from('x'));
    t.send('exit');
    await waitFor(() => procState(pid) === 'Z', 'zombie');
    expect(hostWriteFd(fd, heap, Buffer.from('x'))).toBe(0);
    expect(nativeWrite(h, heap, Buffer.from('x'))).toBe(0);
  });
});
