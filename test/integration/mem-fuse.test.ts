/**
 * /proc/<pid>/mem THROUGH the procfuse mount (issue 4), side by side with the
 * host's /proc/<pid>/mem: every read is done both ways at the same address and
 * the answers (bytes, byte counts, errnos, lseek results) must agree, except
 * where FUSE itself cannot match the kernel; those cases assert both sides'
 * measured behaviour explicitly (docs/known-differences.md).
 * SPEC-10..30, SPEC-84..88; fs/proc/base.c mem_open/mem_rw/mem_lseek.
 *
 * Reads are done from this process (fs.readSync with a bigint position is a
 * pread) or, when lseek, mmap, a zero-length read, another caller identity or a
 * second thread is needed, by test/fixtures/c/mem_reader_cli.c.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';

import { addr, buildCProgram, killAllTargets, startTarget, type Target } from '../helpers/c-programs';
import { firstBadBigWord, MEM_TARGET_FILL, memTargetRegions, openErrno, pattern, procState, readFd, readPath, waitFor, writeFd } from '../helpers/mem-io';
import { canMount, startMount, type Mount } from '../helpers/with-mount';

const PROBE_BYTE = 0x50;
const SECRET_BYTE = 0x5e;
const NOBODY = 65534;
const T = { timeout: 30_000 };
const LONG = { timeout: 120_000 };

type Line = Record<string, unknown>;

// ---- reads and opens from this process -------------------------------------

const openFds: number[] = [];

function openMem(path: string, flags = 'r'): number {
  const fd = fs.openSync(path, flags);
  openFds.push(fd);
  return fd;
}

function openError(path: string, flags = 'r'): string {
  return openErrno(path, flags) ?? 'ok';
}

/** FNV-1a 32, as mem_reader_cli's preadsum prints it. */
function fnv1a32(b: Buffer): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619);
  return (h >>> 0).toString(16).padStart(8, '0');
}

const hex = (a: bigint): string => a.toString(16);

// ---- the C reader ----------------------------------------------------------

function parseLines(out: string): Line[] {
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** Runs mem_reader_cli to completion: [header, open result, one line per op]. */
function runCli(args: string[]): Line[] {
  const bin = buildCProgram('mem_reader_cli');
  return parseLines(execFileSync(bin, args, { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 60_000 }));
}

function runCliAsync(args: string[]): Promise<Line[]> {
  const bin = buildCProgram('mem_reader_cli');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(parseLines(out));
      else reject(new Error(`mem_reader_cli exited ${code ?? sig}: ${err}`));
    });
  });
}

/**
 * The same ops on the host's file and on the mount's: the lines after the
 * header (which names the reader process) for each side.
 */
function cliBoth(hostPath: string, mntPath: string, ops: string[], opts: string[] = []): { host: Line[]; mnt: Line[] } {
  return { host: runCli([...opts, hostPath, ...ops]).slice(1), mnt: runCli([...opts, mntPath, ...ops]).slice(1) };
}

const dataOf = (l: Line | undefined): Buffer => Buffer.from(String(l?.hex), 'hex');

// ---- fixtures ---------------------------------------------------------------

/** One mount per describe: started in beforeAll, stopped in afterAll. */
function useMount(): () => Mount {
  let m: Mount | undefined;
  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    await m?.stop();
  });
  return () => {
    if (!m) throw new Error('no mount');
    return m;
  };
}

afterEach(async () => {
  for (const fd of openFds.splice(0)) fs.closeSync(fd);
  await killAllTargets();
});

interface Paths {
  pid: number;
  host: string;
  mnt: string;
}

async function memTarget(mount: Mount, args: string[] = []): Promise<Target & Paths> {
  const t = await startTarget('mem_target', args);
  const pid = t.info.pid as number;
  return Object.assign(t, { pid, host: `/proc/${pid}/mem`, mnt: `${mount.dir}/${pid}/mem` });
}

/**
 * A range of the target that ends exactly at a hole: from 2 MiB + 12345 bytes
 * below the end of the run of adjacent mappings that holds `big`.
 */
function beforeHole(t: Target & Paths): { start: bigint; end: bigint } {
  const big = addr(t.info.big);
  const vmas = fs
    .readFileSync(`/proc/${t.pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => l.split(' ')[0]!.split('-').map((x) => BigInt(`0x${x}`)) as [bigint, bigint]);
  let i = vmas.findIndex(([lo, hi]) => lo <= big && big < hi);
  expect(i).toBeGreaterThanOrEqual(0);
  while (i + 1 < vmas.length && vmas[i + 1]![0] === vmas[i]![1]) i++;
  const end = vmas[i]![1];
  const start = end - (2n << 20n) - 12345n;
  expect(start).toBeGreaterThan(big);
  return { start, end };
}

// ---- tests ------------------------------------------------------------------

describe.skipIf(!canMount())('mem through the mount: bytes (mem_rw)', () => {
  const mount = useMount();

  test('heap, stack, file mapping and text: pread through the mount = host', T, async () => {
    const t = await memTarget(mount());
    const fd = openMem(t.mnt);
    const cases = memTargetRegions(t.info, 256);
    for (const [name, at, len, expected] of cases) {
      const host = readPath(t.host, at, len);
      const got = readFd(fd, at, len);
      expect(got, name).toEqual(host);
      expect(Buffer.isBuffer(got) && got.length, name).toBe(len);
      if (expected) expect(got, name).toEqual(expected);
      // an unaligned start in the middle of the region
      expect(readFd(fd, at + 13n, 100), name).toEqual(readPath(t.host, at + 13n, 100));
    }
    // magic(): mov $0x11223344,%eax
    expect((readFd(fd, addr(t.info.text), 16) as Buffer).includes(Buffer.from([0x44, 0x33, 0x22, 0x11]))).toBe(true);
  });

  test('the same bytes through lseek(SEEK_SET)+read and lseek(SEEK_CUR)+read', T, async () => {
    const t = await memTarget(mount());
    const regions: Array<[string, bigint, Buffer | null]> = [
      ['heap', addr(t.info.heap), pattern(1024, MEM_TARGET_FILL.heap)],
      ['stack', addr(t.info.stack), pattern(1024, MEM_TARGET_FILL.stack)],
      ['file', addr(t.info.file), pattern(1024, MEM_TARGET_FILL.file)],
      ['text', addr(t.info.text), null],
    ];
    for (const [name, at, expected] of regions) {
      const ops = [
        `seek:SET:${hex(at)}`,
        'read:64', // [0, 64)
        'read:64', // f_pos advanced by the first read: [64, 128)
        'seek:CUR:64', // +100: 228
        'read:32', // [228, 260)
        'seek:CUR:-c8', // -200: 60
        'read:16', // [60, 76)
        'seek:CUR:0', // 76
      ];
      const { host, mnt } = cliBoth(t.host, t.mnt, ops);
      expect(mnt, name).toEqual(host);
      expect(mnt[0], name).toEqual({ open: 'ok' });
      expect(mnt[1]!.ret, name).toBe(`0x${hex(at)}`);
      expect(mnt[8]!.ret, name).toBe(`0x${hex(at + 76n)}`);
      const reads = [mnt[2], mnt[3], mnt[5], mnt[7]];
      expect(reads.map((l) => l!.n), name).toEqual([64, 64, 32, 16]);
      if (expected) {
        expect(dataOf(mnt[2]), name).toEqual(expected.subarray(0, 64));
        expect(dataOf(mnt[3]), name).toEqual(expected.subarray(64, 128));
        expect(dataOf(mnt[5]), name).toEqual(expected.subarray(228, 260));
        expect(dataOf(mnt[7]), name).toEqual(expected.subarray(60, 76));
      } else {
        expect(dataOf(mnt[2]), name).toEqual(readPath(t.host, at, 64));
      }
    }
  });

  test('PROT_NONE and PROT_WRITE-only pages of a mapping are readable (FOLL_FORCE, SPEC-21)', T, async () => {
    const t = await memTarget(mount());
    const page = t.info.page as number;
    const prot = addr(t.info.prot);
    const maps = fs.readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    expect(maps).toContain(`${hex(prot + BigInt(page))}-${hex(prot + BigInt(2 * page))} ---p`);
    expect(maps).toContain(`${hex(prot + BigInt(2 * page))}-${hex(prot + BigInt(3 * page))} -w-p`);
    const expected = pattern(3 * page, MEM_TARGET_FILL.prot);
    const fd = openMem(t.mnt);
    expect(readPath(t.host, prot, 3 * page)).toEqual(expected);
    expect(readFd(fd, prot, 3 * page)).toEqual(expected);
    for (const k of [1, 2]) {
      const at = prot + BigInt(k * page);
      expect(readFd(fd, at, page), `page ${k}`).toEqual(expected.subarray(k * page, (k + 1) * page));
      expect(readPath(t.host, at, page), `page ${k}`).toEqual(expected.subarray(k * page, (k + 1) * page));
    }
  });

  test('an unmapped address gives EIO, as does the top of the user address space (SPEC-17)', T, async () => {
    const t = await memTarget(mount());
    const page = BigInt(t.info.page as number);
    const fd = openMem(t.mnt);
    for (const at of [addr(t.info.hole) + page, 0n, 1n << 46n, 0x7fff_ffff_f000n, 0x7fff_ffff_fff0n]) {
      expect(readPath(t.host, at, 16), hex(at)).toBe('EIO');
      expect(readFd(fd, at, 16), hex(at)).toBe('EIO');
    }
    // [vvar] is VM_PFNMAP without an ->access hook (SPEC-23): EIO as well
    const vvar = fs
      .readFileSync(`/proc/${t.pid}/maps`, 'utf8')
      .split('\n')
      .find((l) => l.endsWith(' [vvar]'));
    expect(vvar).toBeDefined();
    const at = BigInt(`0x${vvar!.split('-')[0]}`);
    expect(readPath(t.host, at, 16)).toBe('EIO');
    expect(readFd(fd, at, 16)).toBe('EIO');
  });

  test('a read running into a hole is short by exactly the unmapped part (SPEC-16, gVisor PartialRead)', T, async () => {
    const t = await memTarget(mount());
    const page = t.info.page as number;
    const hole = addr(t.info.hole);
    const mapped = pattern(page, MEM_TARGET_FILL.hole);
    const fd = openMem(t.mnt);
    // mapped page + hole
    expect(readPath(t.host, hole, 2 * page)).toEqual(mapped);
    expect(readFd(fd, hole, 2 * page)).toEqual(mapped);
    // 4096 bytes at the last byte of the page -> 1
    const last = hole + BigInt(page - 1);
    expect(readPath(t.host, last, 4096)).toEqual(mapped.subarray(page - 1));
    expect(readFd(fd, last, 4096)).toEqual(mapped.subarray(page - 1));
    // from the middle of the page, through the hole and beyond it
    const mid = hole + 100n;
    expect((readFd(fd, mid, 3 * page) as Buffer).length).toBe(page - 100);
    expect(readFd(fd, mid, 3 * page)).toEqual(readPath(t.host, mid, 3 * page));
    // and by lseek+read, which must also leave f_pos after the mapped part (SPEC-19)
    const { host, mnt } = cliBoth(t.host, t.mnt, [`seek:SET:${hex(last)}`, 'read:4096', 'seek:CUR:0', 'read:16']);
    expect(mnt).toEqual(host);
    expect(mnt.slice(1)).toEqual([
      { op: 'seek', ret: `0x${hex(last)}` },
      { op: 'read', n: 1, hex: mapped.subarray(page - 1).toString('hex') },
      { op: 'seek', ret: `0x${hex(last + 1n)}` },
      { op: 'read', error: 'EIO' },
    ]);
  });

  test('a multi-request read that runs into a hole returns exactly the mapped part', T, async () => {
    // FUSE splits a big direct-io read into FUSE_READs of at most 1 MiB; the one
    // that starts in the hole gets EIO, and fuse_direct_io returns what came
    // before it, like mem_rw's short count.
    const t = await memTarget(mount());
    const { start, end } = beforeHole(t);
    const len = 4 << 20;
    const fd = openMem(t.mnt);
    const host = readPath(t.host, start, len) as Buffer;
    const got = readFd(fd, start, len);
    expect(Buffer.isBuffer(host) && host.length).toBe(Number(end - start));
    expect(Buffer.isBuffer(got) && got.length).toBe(Number(end - start));
    expect((got as Buffer).equals(host)).toBe(true);
  });

  test('a multi-request write that runs into a hole writes exactly the mapped part', T, async () => {
    // The same with FUSE_WRITEs (max_write 1 MiB). The bytes written are the
    // ones already there, so the target is not disturbed.
    const t = await memTarget(mount());
    const { start, end } = beforeHole(t);
    const mappedLen = Number(end - start);
    const data = Buffer.alloc(4 << 20, 0xee);
    (readPath(t.host, start, mappedLen) as Buffer).copy(data);
    const hostFd = openMem(t.host, 'r+');
    const fd = openMem(t.mnt, 'r+');
    expect(writeFd(hostFd, start, data)).toBe(mappedLen);
    expect(writeFd(fd, start, data)).toBe(mappedLen);
    expect((readPath(t.host, start, mappedLen) as Buffer).equals(data.subarray(0, mappedLen))).toBe(true);
    // and a write that starts in the hole
    expect(writeFd(hostFd, end, data)).toBe('EIO');
    expect(writeFd(fd, end, data)).toBe('EIO');
  });

  test('a 64 MiB read in one read() call returns the right bytes', LONG, async () => {
    const t = await memTarget(mount());
    const len = t.info.bigLen as number;
    expect(len).toBe(64 << 20);
    const fd = openMem(t.mnt);
    const got = readFd(fd, addr(t.info.big), len) as Buffer;
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.length).toBe(len);
    const bad = firstBadBigWord(got);
    expect(bad).toBe(-1);
    expect(got.equals(readPath(t.host, addr(t.info.big), len) as Buffer)).toBe(true);
  });

  test('a zero-length read returns 0, even at an unmapped address (SPEC-27)', T, async () => {
    const t = await memTarget(mount());
    const unmapped = addr(t.info.hole) + BigInt(t.info.page as number);
    const ops = [`pread:${hex(addr(t.info.heap))}:0`, `pread:${hex(unmapped)}:0`, `seek:SET:${hex(unmapped)}`, 'read:0'];
    const { host, mnt } = cliBoth(t.host, t.mnt, ops);
    expect(mnt).toEqual(host);
    expect(mnt.slice(1)).toEqual([
      { op: 'pread', n: 0, hex: '' },
      { op: 'pread', n: 0, hex: '' },
      { op: 'seek', ret: `0x${hex(unmapped)}` },
      { op: 'read', n: 0, hex: '' },
    ]);
  });

  test("the daemon's own memory through the mount = host", T, () => {
    // The daemon serves reads of itself from its pinned host fd, never from its
    // own mount (which would deadlock). Its first mapping is node's ELF header.
    const m = mount();
    const pid = m.daemon.pid!;
    const first = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')[0]!;
    const at = BigInt(`0x${first.split('-')[0]}`);
    const got = readPath(`${m.dir}/${pid}/mem`, at, 4096) as Buffer;
    expect(got.subarray(0, 4)).toEqual(Buffer.from('\x7fELF', 'latin1'));
    expect(got).toEqual(readPath(`/proc/${pid}/mem`, at, 4096));
  });

  test('8 concurrent preads on ONE fd (libuv threads), each its own range', T, async () => {
    const t = await memTarget(mount());
    const big = addr(t.info.big);
    const part = 1 << 20;
    const fd = openMem(t.mnt);
    const got = await Promise.all(
      Array.from(
        { length: 8 },
        (_, k) =>
          new Promise<Buffer>((resolve, reject) => {
            const buf = Buffer.alloc(part);
            fs.read(fd, buf, 0, part, big + BigInt(k * 3 * part), (err, n) => (err ? reject(err) : resolve(buf.subarray(0, n))));
          }),
      ),
    );
    got.forEach((b, k) => {
      expect(b.equals(readPath(t.host, big + BigInt(k * 3 * part), part) as Buffer), `range ${k}`).toBe(true);
    });
  });

  test('8 concurrent readers of different ranges all get the right bytes', LONG, async () => {
    const t = await memTarget(mount());
    const big = addr(t.info.big);
    const part = (t.info.bigLen as number) / 8;
    const rounds = 3;
    const expected = Array.from({ length: 8 }, (_, k) =>
      fnv1a32(readPath(t.host, big + BigInt(k * part), part) as Buffer),
    );
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, k) =>
        runCliAsync([t.mnt, `preadsum:${hex(big + BigInt(k * part))}:${part}:${rounds}`]),
      ),
    );
    results.forEach((lines, k) => {
      expect(lines[1], `reader ${k}`).toEqual({ open: 'ok' });
      expect(lines.slice(2), `reader ${k}`).toEqual(
        Array.from({ length: rounds }, () => ({ op: 'preadsum', n: part, fnv: expected[k] })),
      );
    });
  });

  test('the daemon survives readers killed in the middle of big reads', LONG, async () => {
    const m = mount();
    const t = await memTarget(m);
    const big = addr(t.info.big);
    for (const delay of [0, 20, 50, 120, 250]) {
      const r = await startTarget('mem_reader_cli', [t.mnt, `readloop:${hex(big)}:${64 << 20}`]);
      expect(await r.nextLine()).toEqual({ open: 'ok' });
      expect(await r.nextLine()).toEqual({ op: 'readloop' });
      await new Promise((res) => setTimeout(res, delay));
      const exited = new Promise<void>((res) => r.proc.once('exit', () => res()));
      r.proc.kill('SIGKILL');
      await exited;
      expect(r.proc.signalCode).toBe('SIGKILL');
    }
    expect(m.daemon.exitCode).toBe(null);
    expect(m.daemon.signalCode).toBe(null);
    expect(m.log()).not.toMatch(/internal error|abort|Segmentation/i);
    const fd = openMem(t.mnt);
    const len = 1 << 20;
    expect((readFd(fd, big, len) as Buffer).equals(readPath(t.host, big, len) as Buffer)).toBe(true);
    expect(readFd(fd, addr(t.info.heap), 32)).toEqual(pattern(32, MEM_TARGET_FILL.heap));
  });
});

describe.skipIf(!canMount())('mem through the mount: bound to the mm of open time (SPEC-11/12/14)', () => {
  const mount = useMount();

  test('after exit: 0 bytes as a zombie and after reaping; opening a zombie fails like the host', T, async () => {
    const t = await memTarget(mount(), ['--fork']);
    expect(t.info.keeper).toBe(t.proc.pid);
    const heap = addr(t.info.heap);
    const fd = openMem(t.mnt);
    const hostFd = openMem(t.host);
    expect(readFd(fd, heap, 16)).toEqual(pattern(16, MEM_TARGET_FILL.heap));

    t.send('exit');
    await waitFor(() => procState(t.pid) === 'Z', 'zombie');
    expect(readFd(hostFd, heap, 16)).toEqual(Buffer.alloc(0));
    expect(readFd(fd, heap, 16)).toEqual(Buffer.alloc(0));
    // A zombie has no mm: ESRCH at open on 6.15+ (SPEC-10), both sides, r and rw.
    expect(openError(t.host)).toBe('ESRCH');
    expect(openError(t.mnt)).toBe(openError(t.host));
    expect(openError(t.mnt, 'r+')).toBe(openError(t.host, 'r+'));

    process.kill(t.info.keeper as number, 'SIGUSR1');
    expect((await t.nextLine((l) => 'reaped' in l)).reaped).toBe(t.pid);
    expect(procState(t.pid)).toBe(null);
    expect(readFd(hostFd, heap, 16)).toEqual(Buffer.alloc(0));
    expect(readFd(fd, heap, 16)).toEqual(Buffer.alloc(0));
    // Gone: no /proc/<pid> any more, on either side.
    expect(openError(t.host)).toBe('ENOENT');
    expect(openError(t.mnt)).toBe('ENOENT');
  });

  test('maps opened while running: 0 bytes as a zombie, ESRCH after reaping, as on the host (SPEC-34)', T, async () => {
    const t = await memTarget(mount(), ['--fork']);
    const ours = fs.openSync(t.mnt.replace(/mem$/, 'maps'), 'r');
    const host = fs.openSync(t.host.replace(/mem$/, 'maps'), 'r');
    const read = (fd: number): Buffer | string => {
      const b = Buffer.alloc(65536);
      try {
        return b.subarray(0, fs.readSync(fd, b, 0, b.length, 0));
      } catch (e) {
        return (e as NodeJS.ErrnoException).code!;
      }
    };
    try {
      t.send('exit');
      await waitFor(() => procState(t.pid) === 'Z', 'zombie');
      expect(read(host)).toEqual(Buffer.alloc(0));
      expect(read(ours)).toEqual(Buffer.alloc(0));
      process.kill(t.info.keeper as number, 'SIGUSR1');
      expect((await t.nextLine((l) => 'reaped' in l)).reaped).toBe(t.pid);
      expect(read(host)).toBe('ESRCH');
      expect(read(ours)).toBe('ESRCH');
    } finally {
      fs.closeSync(ours);
      fs.closeSync(host);
    }
  });

  test('after execve: an fd opened before reads 0 bytes, never the new image; a fresh open reads it', T, async () => {
    const t = await memTarget(mount());
    const probe = addr(t.info.probe);
    const fd = openMem(t.mnt);
    const fdRw = openMem(t.mnt, 'r+');
    const hostFd = openMem(t.host);
    expect(readFd(fd, probe, 64)).toEqual(Buffer.alloc(64, PROBE_BYTE));

    t.send('exec');
    const after = await t.nextLine((l) => l.secretAt === t.info.probe);
    expect(after.pid).toBe(t.pid);
    // the address now holds the new image's secret...
    expect(readPath(t.host, probe, 64)).toEqual(Buffer.alloc(64, SECRET_BYTE));
    // ...which fds opened before the exec never see
    expect(readFd(hostFd, probe, 64)).toEqual(Buffer.alloc(0));
    expect(readFd(fd, probe, 64)).toEqual(Buffer.alloc(0));
    expect(readFd(fdRw, probe, 64)).toEqual(Buffer.alloc(0));
    expect(writeFd(fdRw, probe, Buffer.from('x'))).toBe(0);
    expect(readPath(t.host, probe, 64)).toEqual(Buffer.alloc(64, SECRET_BYTE));
    // a fresh open through the mount is the new image
    expect(readPath(t.mnt, probe, 64)).toEqual(Buffer.alloc(64, SECRET_BYTE));
  });

  test('pid reuse: an fd on A reads 0 bytes and never B; a fresh open of the same path reads B', T, async () => {
    const m = mount();
    const t = await startTarget('pid_reuse');
    const a = t.info.pid as number;
    const at = addr(t.info.addr);
    const mntPath = `${m.dir}/${a}/mem`;
    const fd = openMem(mntPath);
    const hostFd = openMem(`/proc/${a}/mem`);
    expect(readFd(fd, at, 64)).toEqual(Buffer.alloc(64, 0x41));

    t.send('reuse');
    const r = await t.nextLine((l) => 'reused' in l || 'error' in l);
    expect(r.error).toBeUndefined();
    expect(r.reused).toBe(a);
    expect(readPath(`/proc/${a}/mem`, at, 64)).toEqual(Buffer.alloc(64, 0x42)); // the pid now names B
    expect(readFd(hostFd, at, 64)).toEqual(Buffer.alloc(0));
    expect(readFd(fd, at, 64)).toEqual(Buffer.alloc(0));
    expect(readFd(fd, at, 64)).toEqual(Buffer.alloc(0)); // and stays so
    // A new lookup names the new process: its memory, on both sides.
    expect(readPath(mntPath, at, 64)).toEqual(Buffer.alloc(64, 0x42));
    expect(readFd(fd, at, 64)).toEqual(Buffer.alloc(0));
  });
});

describe.skipIf(!canMount())('mem through the mount: callers (SPEC-3/8/13/30)', () => {
  const mount = useMount();

  test("uid 65534 without caps: EACCES on root's process as on the host; its own /proc/self/mem reads", T, async () => {
    const m = mount();
    const t = await memTarget(m);
    const heap = hex(addr(t.info.heap));
    const { host, mnt } = cliBoth(t.host, t.mnt, [`pread:${heap}:16`], ['--drop', String(NOBODY)]);
    expect(host).toEqual([{ open: 'EACCES' }]);
    expect(mnt).toEqual(host);

    const own = pattern(8192, (i) => i * 7 + 11);
    for (const path of ['/proc/self/mem', `${m.dir}/self/mem`]) {
      const lines = runCli(['--drop', String(NOBODY), path, 'pread:P:8192', 'pread:P+ff0:32']);
      expect(lines[0]!.uid, path).toBe(NOBODY);
      expect(lines.slice(1), path).toEqual([
        { open: 'ok' },
        { op: 'pread', n: 8192, hex: own.toString('hex') },
        { op: 'pread', n: 32, hex: own.subarray(0xff0, 0xff0 + 32).toString('hex') },
      ]);
    }
  });

  test('an fd opened by root and passed over SCM_RIGHTS to uid 65534 still reads (checked at open only)', T, async () => {
    const t = await memTarget(mount());
    const heap = addr(t.info.heap);
    const sides = { host: t.host, mnt: t.mnt };
    for (const [side, path] of Object.entries(sides)) {
      const lines = runCli(['--pass-to', String(NOBODY), path, `pread:${hex(heap)}:64`, `reopen:${path}`]);
      expect(lines[0]!.uid, side).toBe(NOBODY);
      expect(lines.slice(1), side).toEqual([
        { open: 'ok' },
        { op: 'pread', n: 64, hex: pattern(64, MEM_TARGET_FILL.heap).toString('hex') },
        // the receiver itself may not open it
        { op: 'reopen', result: 'EACCES' },
      ]);
    }
  });

  test('/proc/self/mem and /proc/thread-self/mem read by a non-leader thread', T, async () => {
    const m = mount();
    const own = pattern(8192, (i) => i * 7 + 11).toString('hex');
    for (const path of ['/proc/self/mem', `${m.dir}/self/mem`, '/proc/thread-self/mem', `${m.dir}/thread-self/mem`]) {
      const lines = runCli(['--thread', path, 'pread:P:8192', 'seek:SET:P+10', 'read:16']);
      expect(lines[0]!.tid, path).not.toBe(lines[0]!.pid);
      expect(lines.slice(1), path).toEqual([
        { open: 'ok' },
        { op: 'pread', n: 8192, hex: own },
        { op: 'seek', ret: `0x${hex(addr(lines[0]!.pattern) + 0x10n)}` },
        { op: 'read', n: 16, hex: own.slice(0x20, 0x40) },
      ]);
    }
  });

  test("/proc/<pid>/task/<tid>/mem: each thread's stack buffer, through the leader's and the thread's file", T, async () => {
    const m = mount();
    const t = await memTarget(m, ['--threads', '3']);
    const threads = t.info.threads as Array<{ tid: number; buf: string; len: number }>;
    expect(threads).toHaveLength(3);
    const fd = openMem(t.mnt);
    for (const [k, th] of threads.entries()) {
      expect(th.tid).not.toBe(t.pid);
      const expected = pattern(th.len, (i) => i * 3 + k + 1);
      const at = addr(th.buf);
      expect(readFd(fd, at, th.len)).toEqual(expected);
      const hostTask = `/proc/${t.pid}/task/${th.tid}/mem`;
      const mntTask = `${m.dir}/${t.pid}/task/${th.tid}/mem`;
      expect(readPath(hostTask, at, th.len)).toEqual(expected);
      expect(readPath(mntTask, at, th.len)).toEqual(expected);
      // and the leader's heap through the thread's file
      expect(readPath(mntTask, addr(t.info.heap), 64)).toEqual(readPath(hostTask, addr(t.info.heap), 64));
    }
  });
});

describe.skipIf(!canMount())('mem through the mount: writes (SPEC-22)', () => {
  const mount = useMount();

  test('an O_RDWR fd patches the read-only text page; the target then runs the new code', T, async () => {
    const t = await memTarget(mount());
    const text = addr(t.info.text);
    const line = fs
      .readFileSync(`/proc/${t.pid}/maps`, 'utf8')
      .split('\n')
      .find((l) => {
        const [lo, hi] = l.split(' ')[0]!.split('-').map((x) => BigInt(`0x${x}`));
        return lo! <= text && text < hi!;
      });
    expect(line?.split(/\s+/)[1]).toBe('r-xp');
    t.send('write-check');
    expect((await t.nextLine((l) => 'magic' in l)).magic).toBe('0x11223344');

    const fd = openMem(t.mnt, 'r+');
    const code = readFd(fd, text, 16) as Buffer;
    const off = code.indexOf(Buffer.from([0x44, 0x33, 0x22, 0x11]));
    expect(off).toBeGreaterThan(0);
    const at = text + BigInt(off);
    expect(writeFd(fd, at, Buffer.from([0x55, 0x66, 0x77, 0x88]))).toBe(4);
    expect(readPath(t.host, at, 4)).toEqual(Buffer.from([0x55, 0x66, 0x77, 0x88]));
    t.send('write-check');
    expect((await t.nextLine((l) => 'magic' in l)).magic).toBe('0x88776655');

    // a data page, as the target itself sees it
    const heap = addr(t.info.heap);
    expect(writeFd(fd, heap, Buffer.from('hello'))).toBe(5);
    t.send(`peek ${hex(heap)} 5`);
    expect((await t.nextLine((l) => 'peek' in l)).peek).toBe(Buffer.from('hello').toString('hex'));

    // lseek+write through the C reader, both sides
    const { host, mnt } = cliBoth(t.host, t.mnt, [`seek:SET:${hex(heap + 8n)}`, 'write:6162', `pwrite:${hex(heap + 10n)}:63`], ['--rw']);
    expect(mnt).toEqual(host);
    expect(mnt.slice(2)).toEqual([
      { op: 'write', n: 2 },
      { op: 'pwrite', n: 1 },
    ]);
    expect(readPath(t.host, heap, 11)).toEqual(
      Buffer.concat([Buffer.from('hello'), pattern(8, MEM_TARGET_FILL.heap).subarray(5), Buffer.from('abc')]),
    );

    // into a hole: EIO; running into it: short, as on the host
    const hole = addr(t.info.hole);
    const page = BigInt(t.info.page as number);
    const hostFd = openMem(t.host, 'r+');
    expect(writeFd(hostFd, hole + page, Buffer.alloc(8))).toBe('EIO');
    expect(writeFd(fd, hole + page, Buffer.alloc(8))).toBe('EIO');
    expect(writeFd(hostFd, hole + page - 8n, Buffer.alloc(16, 1))).toBe(8);
    expect(writeFd(fd, hole + page - 4n, Buffer.alloc(16, 2))).toBe(4);
    expect(readPath(t.host, hole + page - 8n, 8)).toEqual(Buffer.from([1, 1, 1, 1, 2, 2, 2, 2]));
  });

  test('an O_RDONLY fd cannot write: EBADF, as on the host', T, async () => {
    const t = await memTarget(mount());
    const heap = addr(t.info.heap);
    const hostFd = openMem(t.host);
    const fd = openMem(t.mnt);
    expect(writeFd(hostFd, heap, Buffer.from('x'))).toBe('EBADF');
    expect(writeFd(fd, heap, Buffer.from('x'))).toBe('EBADF');
    expect(readFd(fd, heap, 1)).toEqual(Buffer.from([7]));
  });
});

describe.skipIf(!canMount())('mem through the mount: where FUSE differs from the kernel (SPEC-84..86)', () => {
  const mount = useMount();
  // Each test asserts the host's measured answer AND the mount's, so a change on
  // either side shows up; docs/known-differences.md has the table.

  test('lseek to >= 2^63: the host stores it and reads there give EIO; the mount refuses with EINVAL', T, async () => {
    const t = await memTarget(mount());
    const heap = hex(addr(t.info.heap));
    const ops = [`seek:SET:${heap}`, 'seek:SET:8000000000000000', 'read:16', 'seek:SET:ffffffffff600000', 'read:16', 'seek:CUR:0'];
    const { host, mnt } = cliBoth(t.host, t.mnt, ops);
    expect(host).toEqual([
      { open: 'ok' },
      { op: 'seek', ret: `0x${heap}` },
      { op: 'seek', ret: '0x8000000000000000' },
      { op: 'read', error: 'EIO' }, // non-canonical address
      { op: 'seek', ret: '0xffffffffff600000' },
      { op: 'read', error: 'EIO' }, // [vsyscall], xonly
      { op: 'seek', ret: '0xffffffffff600000' },
    ]);
    expect(mnt).toEqual([
      { open: 'ok' },
      { op: 'seek', ret: `0x${heap}` },
      { op: 'seek', error: 'EINVAL' }, // vfs_setpos: beyond s_maxbytes / negative
      { op: 'read', n: 16, hex: pattern(16, MEM_TARGET_FILL.heap).toString('hex') }, // f_pos unchanged
      { op: 'seek', error: 'EINVAL' },
      { op: 'read', n: 16, hex: pattern(32, MEM_TARGET_FILL.heap).subarray(16).toString('hex') },
      { op: 'seek', ret: `0x${hex(addr(t.info.heap) + 32n)}` },
    ]);
  });

  test('a read whose end passes 2^63: EIO on the host (unsigned offsets), EINVAL on the mount', T, async () => {
    const t = await memTarget(mount());
    const ops = ['pread:7ffffffffffffff0:8', 'pread:7ffffffffffffff0:16', 'seek:SET:7fffffffffffffff', 'read:1', 'read:16'];
    const { host, mnt } = cliBoth(t.host, t.mnt, ops);
    expect(host).toEqual([
      { open: 'ok' },
      { op: 'pread', error: 'EIO' },
      { op: 'pread', error: 'EIO' },
      { op: 'seek', ret: '0x7fffffffffffffff' },
      { op: 'read', error: 'EIO' },
      { op: 'read', error: 'EIO' },
    ]);
    expect(mnt).toEqual([
      { open: 'ok' },
      { op: 'pread', error: 'EIO' }, // ends below 2^63: reaches the daemon
      { op: 'pread', error: 'EINVAL' }, // rw_verify_area: pos + count overflows loff_t
      { op: 'seek', ret: '0x7fffffffffffffff' },
      { op: 'read', error: 'EINVAL' },
      { op: 'read', error: 'EINVAL' },
    ]);
  });

  test('pread at >= 2^63 is EINVAL on both sides (SPEC-26)', T, async () => {
    const t = await memTarget(mount());
    const { host, mnt } = cliBoth(t.host, t.mnt, ['pread:8000000000000000:16', 'pread:ffffffffff600000:16']);
    expect(mnt).toEqual(host);
    expect(host.slice(1)).toEqual([
      { op: 'pread', error: 'EINVAL' },
      { op: 'pread', error: 'EINVAL' },
    ]);
  });

  test('a negative SEEK_CUR result: stored by the host, EINVAL on the mount', T, async () => {
    const t = await memTarget(mount());
    const ops = ['seek:SET:10', 'seek:CUR:-10000', 'read:16', 'seek:CUR:-c8', 'seek:CUR:0'];
    const { host, mnt } = cliBoth(t.host, t.mnt, ops);
    expect(host).toEqual([
      { open: 'ok' },
      { op: 'seek', ret: '0x10' },
      { op: 'seek', ret: '0xffffffffffff0010' },
      { op: 'read', error: 'EIO' },
      { op: 'seek', ret: '0xfffffffffffeff48' },
      { op: 'seek', ret: '0xfffffffffffeff48' },
    ]);
    expect(mnt).toEqual([
      { open: 'ok' },
      { op: 'seek', ret: '0x10' },
      { op: 'seek', error: 'EINVAL' },
      { op: 'read', error: 'EIO' }, // at 0x10, unmapped
      { op: 'seek', error: 'EINVAL' },
      { op: 'seek', ret: '0x10' },
    ]);
  });

  test('SEEK_END: EINVAL on the host, st_size (0) + off on the mount; SEEK_DATA/SEEK_HOLE: EINVAL on both', T, async () => {
    const t = await memTarget(mount());
    const ops = ['seek:END:0', 'seek:END:64', 'seek:END:-40', 'seek:DATA:0', 'seek:HOLE:0'];
    const { host, mnt } = cliBoth(t.host, t.mnt, ops);
    expect(host).toEqual([
      { open: 'ok' },
      { op: 'seek', error: 'EINVAL' },
      { op: 'seek', error: 'EINVAL' },
      { op: 'seek', error: 'EINVAL' },
      { op: 'seek', error: 'EINVAL' },
      { op: 'seek', error: 'EINVAL' },
    ]);
    expect(mnt).toEqual([
      { open: 'ok' },
      { op: 'seek', ret: '0x0' },
      { op: 'seek', ret: '0x64' },
      { op: 'seek', error: 'EINVAL' }, // negative result
      { op: 'seek', error: 'EINVAL' },
      { op: 'seek', error: 'EINVAL' },
    ]);
    expect(fs.statSync(t.host).size).toBe(0);
    expect(fs.statSync(t.mnt).size).toBe(0);
  });

  test('a destination buffer that faults part-way: EFAULT on the host, the bytes that fit on the mount', T, async () => {
    // mem_rw discards the partial count when copy_to_user fails (SPEC-18);
    // fuse_direct_io pins the caller's pages before each request and returns
    // what the requests before the unpinnable page transferred.
    const t = await memTarget(mount());
    const big = hex(addr(t.info.big));
    const ops = [`preadfault:${big}:8192:4096`, `preadfault:${big}:${4 << 20}:${2 << 20}`, `preadfault:${big}:4096:0`];
    const { host, mnt } = cliBoth(t.host, t.mnt, ops);
    expect(host).toEqual([
      { open: 'ok' },
      { op: 'preadfault', error: 'EFAULT' },
      { op: 'preadfault', error: 'EFAULT' },
      { op: 'preadfault', error: 'EFAULT' },
    ]);
    const bytes = readPath(t.host, addr(t.info.big), 2 << 20) as Buffer;
    expect(mnt).toEqual([
      { open: 'ok' },
      { op: 'preadfault', n: 4096, hex: bytes.subarray(0, 4096).toString('hex') },
      { op: 'preadfault', n: 2 << 20, hex: bytes.toString('hex') },
      { op: 'preadfault', error: 'EFAULT' }, // nothing fits: EFAULT on both
    ]);
  });

  test('O_APPEND: the host writes at the given position; the mount writes at st_size (0) and gets EIO', T, async () => {
    // mem_write uses *ppos as is; FUSE's generic_write_checks moves an
    // O_APPEND write to i_size, so FUSE_WRITE arrives for offset 0.
    const t = await memTarget(mount());
    const heap = addr(t.info.heap);
    const ops = [`pwrite:${hex(heap)}:41`, `seek:SET:${hex(heap + 1n)}`, 'write:42', 'seek:CUR:0'];
    const host = runCli(['--rw', '--append', t.host, ...ops]).slice(1);
    expect(host).toEqual([
      { open: 'ok' },
      { op: 'pwrite', n: 1 },
      { op: 'seek', ret: `0x${hex(heap + 1n)}` },
      { op: 'write', n: 1 },
      { op: 'seek', ret: `0x${hex(heap + 2n)}` },
    ]);
    expect(readPath(t.host, heap, 3)).toEqual(Buffer.from([0x41, 0x42, 2 * 31 + 7]));
    const mnt = runCli(['--rw', '--append', t.mnt, ...ops]).slice(1);
    expect(mnt).toEqual([
      { open: 'ok' },
      { op: 'pwrite', error: 'EIO' },
      { op: 'seek', ret: `0x${hex(heap + 1n)}` },
      { op: 'write', error: 'EIO' },
      { op: 'seek', ret: `0x${hex(heap + 1n)}` },
    ]);
  });

  test('mmap: ENODEV on the host; on the mount MAP_PRIVATE succeeds and faults SIGBUS, MAP_SHARED is ENODEV', T, async () => {
    const t = await memTarget(mount());
    for (const opts of [[], ['--rw']]) {
      const { host, mnt } = cliBoth(t.host, t.mnt, ['mmap:private', 'mmap:shared'], opts);
      expect(host, opts.join()).toEqual([
        { open: 'ok' },
        { op: 'mmap', error: 'ENODEV' },
        { op: 'mmap', error: 'ENODEV' },
      ]);
      expect(mnt, opts.join()).toEqual([
        { open: 'ok' },
        { op: 'mmap', touch: 'SIGBUS' }, // generic_file_mmap on a 0-byte file
        { op: 'mmap', error: 'ENODEV' }, // FOPEN_DIRECT_IO without direct_io_allow_mmap
      ]);
    }
  });
});
