/**
 * Issue 5 through the FUSE mount, side by side with the host's /proc:
 *  - maps, task/<tid>/maps and smaps of a parked target with every kind of
 *    mapping, byte for byte, also when read 7 bytes at a time;
 *  - a chrooted reader gets the paths the kernel gives that reader (maps, smaps,
 *    exe/cwd/root);
 *  - an unprivileged reader gets the kernel's errnos, step by step;
 *  - fd/, fdinfo/ and ns/ of a child with files, a pipe, a socket and an eventfd.
 * Needs root (mount, chroot, setpriv) and /dev/fuse.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { buildCProgram, killAllTargets, startTarget, type Target as JsonTarget } from '../helpers/c-programs';
import { probe, unprivileged, type ProbeOp } from '../helpers/fs-probe';
import { makeJail, removeTree } from '../helpers/jail';
import { startReadyTarget, stopReadyTarget, type ReadyTarget } from '../helpers/ready-target';
import { canMount, startMount, type Mount } from '../helpers/with-mount';

const NOBODY = 65534;

/** Reads a file `chunk` bytes per read(2) until EOF. */
function readChunked(p: string, chunk: number): Buffer {
  const fd = fs.openSync(p, 'r');
  try {
    const parts: Buffer[] = [];
    const b = Buffer.alloc(chunk);
    for (;;) {
      const n = fs.readSync(fd, b, 0, chunk, null);
      if (n === 0) break;
      expect(n).toBeLessThanOrEqual(chunk);
      parts.push(Buffer.from(b.subarray(0, n)));
    }
    return Buffer.concat(parts);
  } finally {
    fs.closeSync(fd);
  }
}

const MAPS_LINE = /^[0-9a-f]+-[0-9a-f]+ [-r][-w][-x][ps] /;

/**
 * smaps with the values taken out: each VMA's header line exactly, then the key
 * of each "Key: value" line. Rss, Pss, Referenced... move between two reads;
 * which VMAs there are, their names, and which keys the kernel prints do not.
 */
function smapsShape(bytes: Buffer): string[] {
  const lines = bytes.toString('latin1').split('\n');
  return lines.map((l) => (MAPS_LINE.test(l) || l === '' ? l : (/^([A-Za-z_]+):/.exec(l)?.[1] ?? `?${l}`)));
}

function tidsOf(pid: number): number[] {
  return fs.readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b);
}

describe.skipIf(!canMount())('maps and smaps through the mount, byte for byte', () => {
  let m: Mount;
  let tmp: string;
  let target: ReadyTarget | undefined;
  let pid: number;

  beforeAll(async () => {
    m = await startMount();
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-mapsfuse-')));
    fs.mkdirSync(path.join(tmp, 'd'));
    fs.mkdirSync(path.join(tmp, 'o'));
    const bin = buildCProgram('maps_target');
    target = await startReadyTarget(bin, [path.join(tmp, 'd'), '--outside', path.join(tmp, 'o'), '--longpath', '--many', '4000']);
    pid = target.pid;
    // Parked on read(0) and also stopped: its layout cannot change while we compare.
    process.kill(pid, 'SIGSTOP');
  });
  afterAll(async () => {
    await stopReadyTarget(target, { sigcont: true }); // a test may have stopped it
    await m?.stop();
    removeTree(tmp);
  });

  /** The host's bytes, read twice around `ours` to prove the layout was stable. */
  function hostAround(rel: string, ours: () => Buffer): { host: Buffer; ours: Buffer } {
    const before = fs.readFileSync(`/proc/${rel}`);
    const o = ours();
    const after = fs.readFileSync(`/proc/${rel}`);
    expect(after.equals(before)).toBe(true);
    return { host: before, ours: o };
  }

  test('the target really has every kind of mapping', () => {
    const text = fs.readFileSync(`/proc/${pid}/maps`).toString('latin1');
    const lines = text.split('\n');
    expect(lines.length).toBeGreaterThan(4000);
    expect(text).toContain('/d/plain.bin\n'); // file
    expect(text).toContain(' 00:00 0 \n'); // anonymous, no name
    expect(text).toContain('/dev/zero (deleted)\n'); // shared anonymous
    expect(text).toContain('/d/deleted.bin (deleted)\n'); // deleted file
    expect(text).toContain('/d/with space\\012and newline.bin\n'); // space and newline
    expect(lines.some((l) => / ---p /.test(l))).toBe(true); // PROT_NONE guards
    expect(lines.some((l) => l.length > 4096)).toBe(true); // path longer than PATH_MAX
    expect(text).toContain('/memfd:procfuse memfd (deleted)\n');
    expect(text).toContain('[stack]\n');
  });

  test('maps equals the host byte for byte', () => {
    const { host, ours } = hostAround(`${pid}/maps`, () => fs.readFileSync(`${m.dir}/${pid}/maps`));
    expect(ours.length).toBe(host.length);
    expect(ours.toString('latin1')).toBe(host.toString('latin1'));
  });

  test('task/<tid>/maps equals the host for every thread (the same mm)', () => {
    const tids = tidsOf(pid);
    expect(tids.length).toBe(2); // main thread and the parked pthread
    expect(fs.readdirSync(`${m.dir}/${pid}/task`).map(Number).sort((a, b) => a - b)).toEqual(tids);
    for (const tid of tids) {
      const { host, ours } = hostAround(`${pid}/task/${tid}/maps`, () => fs.readFileSync(`${m.dir}/${pid}/task/${tid}/maps`));
      expect(ours.toString('latin1')).toBe(host.toString('latin1'));
    }
  });

  test('7-byte reads (fs.readSync in a loop) reassemble the same text', () => {
    const { host, ours } = hostAround(`${pid}/maps`, () => readChunked(`${m.dir}/${pid}/maps`, 7));
    expect(ours.toString('latin1')).toBe(host.toString('latin1'));
  });

  test('dd bs=7 and head -c from a child reassemble the same text', () => {
    const host = fs.readFileSync(`/proc/${pid}/maps`);
    const dd = spawnSync('dd', [`if=${m.dir}/${pid}/maps`, 'bs=7', 'status=none'], { maxBuffer: 64 << 20 });
    expect(dd.status).toBe(0);
    expect(dd.stdout.toString('latin1')).toBe(host.toString('latin1'));
    const whole = spawnSync('head', ['-c', String(host.length + 100), `${m.dir}/${pid}/maps`], { maxBuffer: 64 << 20 });
    expect(whole.stdout.toString('latin1')).toBe(host.toString('latin1'));
    for (const n of [7, 100, 4096, 65_537]) {
      const part = spawnSync('head', ['-c', String(n), `${m.dir}/${pid}/maps`]);
      expect(part.stdout.toString('latin1')).toBe(host.subarray(0, n).toString('latin1'));
    }
  });

  test('smaps: the same VMA header lines and the same keys as the host', () => {
    const host = fs.readFileSync(`/proc/${pid}/smaps`);
    const ours = fs.readFileSync(`${m.dir}/${pid}/smaps`);
    const h = smapsShape(host);
    expect(h.filter((l) => MAPS_LINE.test(l)).length).toBeGreaterThan(4000);
    expect(smapsShape(ours)).toEqual(h);
    const tid = tidsOf(pid)[1]!;
    expect(smapsShape(fs.readFileSync(`${m.dir}/${pid}/task/${tid}/smaps`))).toEqual(
      smapsShape(fs.readFileSync(`/proc/${pid}/task/${tid}/smaps`)),
    );
  });

  test('smaps read 997 bytes at a time (not line-aligned) has the same shape', () => {
    expect(smapsShape(readChunked(`${m.dir}/${pid}/smaps`, 997))).toEqual(smapsShape(fs.readFileSync(`/proc/${pid}/smaps`)));
  });
});

/**
 * A jail with cat, readlink, maps_target and libc; the mount bind-mounted at
 * jail/proc and the host's /proc at jail/hostproc. Target A runs on the host
 * (cwd inside the jail) and maps files inside the jail, outside it and through
 * a bind mount in it; target B runs chrooted. A chrooted reader then reads both
 * trees: the kernel's answer for that reader is jail/hostproc.
 */
describe.skipIf(!canMount())('a chrooted reader sees what the kernel shows it', () => {
  let m: Mount;
  let tmp: string;
  let jail: string;
  const mounts: string[] = [];
  const targets: ReadyTarget[] = [];
  let a: ReadyTarget;
  let b: ReadyTarget;

  beforeAll(async () => {
    m = await startMount();
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-fjail-')));
    jail = path.join(tmp, 'jail');
    makeJail(jail, { maps_target: buildCProgram('maps_target'), cat: '/usr/bin/cat', readlink: '/usr/bin/readlink' }, [
      'd',
      'dB',
      'bind',
      'proc',
      'hostproc',
    ]);
    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(outside);

    // Recorded before each mount, so teardown also undoes a half-done setup.
    for (const [src, dst] of [
      [outside, 'bind'],
      [m.dir, 'proc'],
      ['/proc', 'hostproc'],
    ] as const) {
      mounts.push(path.join(jail, dst));
      execFileSync('mount', ['--bind', src, path.join(jail, dst)]);
    }

    a = await startReadyTarget(path.join(jail, 'usr/bin/maps_target'), [path.join(jail, 'd'), '--outside', path.join(jail, 'bind')], { cwd: path.join(jail, 'd') });
    targets.push(a);
    b = await startReadyTarget('chroot', [jail, '/usr/bin/maps_target', '/dB']);
    targets.push(b);
  });

  afterAll(async () => {
    for (const t of targets) await stopReadyTarget(t, { sigcont: true });
    for (const dir of mounts.reverse()) spawnSync('umount', ['-l', dir]);
    await m?.stop();
    removeTree(tmp);
  });

  function inJail(tool: string, ...args: string[]): { status: number | null; out: Buffer } {
    const r = spawnSync('chroot', [jail, `/usr/bin/${tool}`, ...args], { maxBuffer: 64 << 20 });
    return { status: r.status, out: r.stdout };
  }

  const which = { 'host target': () => a, 'jailed target': () => b } as const;

  test.each(Object.keys(which) as Array<keyof typeof which>)('%s: maps, byte for byte', (name) => {
    const pid = which[name]().pid;
    const kernel = inJail('cat', `/hostproc/${pid}/maps`);
    const ours = inJail('cat', `/proc/${pid}/maps`);
    expect(kernel.status).toBe(0);
    expect(ours.status).toBe(0);
    expect(ours.out.toString('latin1')).toBe(kernel.out.toString('latin1'));
    // Not vacuous: the jail's view differs from the host's for both targets.
    expect(kernel.out.equals(fs.readFileSync(`/proc/${pid}/maps`))).toBe(false);
    expect(kernel.out.toString('latin1')).not.toContain(jail);
  });

  test.each(Object.keys(which) as Array<keyof typeof which>)('%s: an fd opened outside the jail, read by a chrooted cat: the jail\'s view on both', (name) => {
    const pid = which[name]().pid;
    const catFd = (file: string): Buffer => {
      const fd = fs.openSync(file, 'r');
      try {
        const r = spawnSync('chroot', [jail, '/usr/bin/cat'], { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 64 << 20 });
        expect(r.status).toBe(0);
        return r.stdout;
      } finally {
        fs.closeSync(fd);
      }
    };
    const kernel = catFd(`/proc/${pid}/maps`);
    expect(catFd(`${m.dir}/${pid}/maps`).toString('latin1')).toBe(kernel.toString('latin1'));
    // Not vacuous: the reader's root, not the opener's, decides the paths.
    expect(kernel.equals(fs.readFileSync(`/proc/${pid}/maps`))).toBe(false);
  });

  test('a thread that unshared CLONE_FS and chrooted reads with its own root, not its process\'s', () => {
    const pid = a.pid;
    const r = spawnSync(
      buildCProgram('thread_chroot_reader'),
      [jail, `/hostproc/${pid}/maps`, `/proc/${pid}/maps`, `/proc/${pid}/maps`],
      { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 10_000 },
    );
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as Record<'kernel' | 'ours' | 'host', string>;
    const text = (k: 'kernel' | 'ours' | 'host'): string => Buffer.from(out[k], 'hex').toString('latin1');
    expect(text('ours')).toBe(text('kernel'));
    // Not vacuous: the thread's view differs from its process's (root "/").
    expect(text('kernel')).not.toBe(text('host'));
    expect(text('host')).toBe(fs.readFileSync(`/proc/${pid}/maps`).toString('latin1'));
  });

  test.each(Object.keys(which) as Array<keyof typeof which>)('%s: smaps headers and keys', (name) => {
    const pid = which[name]().pid;
    const kernel = inJail('cat', `/hostproc/${pid}/smaps`);
    const ours = inJail('cat', `/proc/${pid}/smaps`);
    expect(ours.status).toBe(0);
    expect(smapsShape(ours.out)).toEqual(smapsShape(kernel.out));
  });

  test.each(Object.keys(which) as Array<keyof typeof which>)('%s: readlink exe, cwd, root', (name) => {
    const pid = which[name]().pid;
    for (const l of ['exe', 'cwd', 'root']) {
      const kernel = inJail('readlink', `/hostproc/${pid}/${l}`);
      const ours = inJail('readlink', `/proc/${pid}/${l}`);
      expect(kernel.status).toBe(0);
      expect({ l, ours: ours.out.toString('latin1') }).toEqual({ l, ours: kernel.out.toString('latin1') });
    }
    // What the kernel shows: inside the jail relative to it.
    expect(inJail('readlink', `/hostproc/${pid}/exe`).out.toString()).toBe('/usr/bin/maps_target\n');
  });

  // show_mountinfo prints from the TARGET's root (mounts_open_common takes
  // task->fs root), not the reader's: the host's bytes are the answer.
  test.each(Object.keys(which) as Array<keyof typeof which>)('%s: mounts, mountinfo, cgroup, byte for byte', (name) => {
    const pid = which[name]().pid;
    for (const f of ['mounts', 'mountinfo', 'cgroup']) {
      const kernel = inJail('cat', `/hostproc/${pid}/${f}`);
      const ours = inJail('cat', `/proc/${pid}/${f}`);
      expect(kernel.status).toBe(0);
      expect({ f, ours: ours.out.toString('latin1') }).toEqual({ f, ours: kernel.out.toString('latin1') });
    }
    if (name === 'jailed target') expect(inJail('cat', `/hostproc/${pid}/mountinfo`).out.toString()).toMatch(/ \/hostproc /);
  });

  test('the jailed target seen from the host: full host paths, as the kernel shows', () => {
    expect(fs.readFileSync(`${m.dir}/${b.pid}/maps`).toString('latin1')).toBe(fs.readFileSync(`/proc/${b.pid}/maps`).toString('latin1'));
    for (const l of ['exe', 'cwd', 'root']) {
      expect(fs.readlinkSync(`${m.dir}/${b.pid}/${l}`)).toBe(fs.readlinkSync(`/proc/${b.pid}/${l}`));
    }
    expect(fs.readlinkSync(`${m.dir}/${b.pid}/root`)).toBe(jail);
  });
});

/**
 * fd_target holds a file read to pos 3, an O_APPEND file with a space in its
 * name, a deleted file, a directory, a pipe, a socketpair and an eventfd.
 */
describe.skipIf(!canMount())('fd/, fdinfo/ and ns/ through the mount', () => {
  let m: Mount;
  let tmp: string;
  let t: JsonTarget;
  let pid: number;
  let sleeper: ChildProcess | undefined;

  beforeAll(async () => {
    m = await startMount();
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-fd-')));
    t = await startTarget('fd_target', [tmp]);
    pid = Number(t.info.pid);
  });
  afterAll(async () => {
    sleeper?.kill('SIGKILL');
    await killAllTargets();
    await m?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const sorted = (xs: string[]): string[] => [...xs].sort((x, y) => Number(x) - Number(y) || x.localeCompare(y));

  test('fd/: the same fds, link targets, modes and sizes', () => {
    const host = sorted(fs.readdirSync(`/proc/${pid}/fd`));
    // fd_target opens fds 3..11 itself; 0-2 are the pipes to this test. More may be
    // inherited from whoever started vitest, so check these are there, not a count.
    for (let n = 0; n <= 11; n++) expect(host).toContain(String(n));
    expect(sorted(fs.readdirSync(`${m.dir}/${pid}/fd`))).toEqual(host);
    const targets = host.map((n) => fs.readlinkSync(`/proc/${pid}/fd/${n}`));
    expect(targets.some((x) => x.startsWith('pipe:['))).toBe(true);
    expect(targets.some((x) => x.startsWith('socket:['))).toBe(true);
    expect(targets).toContain('anon_inode:[eventfd]');
    expect(targets).toContain(`${tmp}/gone.bin (deleted)`);
    expect(targets).toContain(`${tmp}/append file.log`);
    for (const n of host) {
      const h = fs.lstatSync(`/proc/${pid}/fd/${n}`);
      const o = fs.lstatSync(`${m.dir}/${pid}/fd/${n}`);
      expect({ n, link: fs.readlinkSync(`${m.dir}/${pid}/fd/${n}`) }).toEqual({ n, link: fs.readlinkSync(`/proc/${pid}/fd/${n}`) });
      expect({ n, mode: o.mode.toString(8), size: o.size, uid: o.uid }).toEqual({ n, mode: h.mode.toString(8), size: h.size, uid: h.uid });
    }
    const hd = fs.statSync(`/proc/${pid}/fd`);
    const od = fs.statSync(`${m.dir}/${pid}/fd`);
    expect({ mode: od.mode.toString(8), size: od.size }).toEqual({ mode: hd.mode.toString(8), size: hd.size });
  });

  test('fdinfo/: the same names and the same contents (pos, flags, mnt_id, ino, eventfd-count)', () => {
    const host = sorted(fs.readdirSync(`/proc/${pid}/fdinfo`));
    expect(sorted(fs.readdirSync(`${m.dir}/${pid}/fdinfo`))).toEqual(host);
    for (const n of host) {
      const h = fs.readFileSync(`/proc/${pid}/fdinfo/${n}`, 'latin1');
      expect({ n, text: fs.readFileSync(`${m.dir}/${pid}/fdinfo/${n}`, 'latin1') }).toEqual({ n, text: h });
    }
    const first = host.map((n) => fs.readFileSync(`/proc/${pid}/fdinfo/${n}`, 'latin1'));
    expect(first.some((x) => x.startsWith('pos:\t3\n'))).toBe(true);
    expect(first.some((x) => x.includes('eventfd-count:'))).toBe(true);
  });

  test('ns/: the same names in the same order and the same links', () => {
    const host = fs.readdirSync(`/proc/${pid}/ns`);
    expect(host).toContain('pid_for_children');
    expect(fs.readdirSync(`${m.dir}/${pid}/ns`)).toEqual(host);
    for (const n of host) {
      expect({ n, link: fs.readlinkSync(`${m.dir}/${pid}/ns/${n}`) }).toEqual({ n, link: fs.readlinkSync(`/proc/${pid}/ns/${n}`) });
    }
  });

  test('a process of the same unprivileged user: its fd/, fdinfo/ and maps, as the host shows them', () => {
    sleeper = spawn(unprivileged(NOBODY)[0]!, [...unprivileged(NOBODY).slice(1), 'sleep', '600'], { stdio: 'ignore' });
    const sp = sleeper.pid!;
    // setpriv execs sleep: wait until the pid runs sleep as nobody.
    const deadline = Date.now() + 5_000;
    while (!/^sleep\n$/.test(fs.readFileSync(`/proc/${sp}/comm`, 'utf8')) && Date.now() < deadline) spawnSync('sleep', ['0.02']);
    const ops: ProbeOp[] = [['list', 'fd'], ['list', 'fdinfo'], ['read', 'maps'], ['read', 'environ'], ['readlink', 'exe'], ['readlink', 'fd/0']];
    const at = (root: string): ProbeOp[] => ops.map(([op, p]) => [op, `${root}/${sp}/${p}`]);
    const kernel = probe(at('/proc'), unprivileged(NOBODY));
    const ours = probe(at(m.dir), unprivileged(NOBODY));
    expect(kernel.every((r) => r.startsWith('ok:'))).toBe(true);
    expect(ours).toEqual(kernel);
  });
});

/**
 * uid 65534 without capabilities against a root process: the same errno at the
 * same step as the host's /proc.
 */
describe.skipIf(!canMount())('an unprivileged reader and another user\'s process', () => {
  let m: Mount;
  let tmp: string;
  let t: JsonTarget;
  let pid: number;
  const as = unprivileged(NOBODY);

  beforeAll(async () => {
    m = await startMount();
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-unpriv-')));
    t = await startTarget('fd_target', [tmp]); // runs as root
    pid = Number(t.info.pid);
  });
  afterAll(async () => {
    await killAllTargets();
    await m?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function both(ops: ProbeOp[]): { kernel: string[]; ours: string[] } {
    const at = (root: string): ProbeOp[] => ops.map(([op, p]) => [op, `${root}/${pid}/${p}`]);
    return { kernel: probe(at('/proc'), as), ours: probe(at(m.dir), as) };
  }

  test('maps, smaps, environ, auxv, mem: EACCES at open; status, stat, cmdline readable', () => {
    const files = ['maps', 'smaps', 'smaps_rollup', 'environ', 'auxv', 'mem', 'status', 'cmdline', 'stat', 'statm'];
    const { kernel, ours } = both(files.map((f) => ['read', f] as ProbeOp));
    const summary = (rs: string[]) => rs.map((r, i) => `${files[i]} ${r.startsWith('ok:') ? 'ok' : r}`);
    expect(summary(kernel)).toEqual([
      'maps open:EACCES',
      'smaps open:EACCES',
      'smaps_rollup open:EACCES',
      'environ open:EACCES',
      'auxv open:EACCES',
      'mem open:EACCES',
      'status ok',
      'cmdline ok',
      'stat ok',
      'statm ok',
    ]);
    expect(summary(ours)).toEqual(summary(kernel));
    // cmdline is passed through: the same bytes.
    expect(ours[7]).toBe(kernel[7]);
  });

  test('readlink of exe, cwd, root, fd/0, ns/pid: EACCES on both', () => {
    const { kernel, ours } = both([
      ['readlink', 'exe'],
      ['readlink', 'cwd'],
      ['readlink', 'root'],
      ['readlink', 'fd/0'],
      ['readlink', 'ns/pid'],
    ]);
    expect(kernel).toEqual(['readlink:EACCES', 'readlink:EACCES', 'readlink:EACCES', 'readlink:EACCES', 'readlink:EACCES']);
    expect(ours).toEqual(kernel);
  });

  test('fd/ and ns/ cannot be listed: EACCES at opendir on both', () => {
    const { kernel, ours } = both([
      ['list', 'fd'],
      ['list', 'ns'],
    ]);
    expect(kernel).toEqual(['opendir:EACCES', 'opendir:EACCES']);
    expect(ours).toEqual(kernel);
  });

  test('fdinfo/ cannot be listed: EACCES on both', () => {
    const { kernel, ours } = both([['list', 'fdinfo']]);
    expect(kernel[0]).toMatch(/:EACCES$/);
    expect(ours[0]).toMatch(/:EACCES$/);
  });

  // proc_fdinfo_permission denies the open of the directory; so does FdDir.opendir.
  test('fdinfo/: EACCES at opendir as on the host', () => {
    const { kernel, ours } = both([['list', 'fdinfo']]);
    expect(kernel).toEqual(['opendir:EACCES']);
    expect(ours).toEqual(kernel);
  });

  test('fdinfo/<n> of another user: EACCES on both', () => {
    const { kernel, ours } = both([['read', 'fdinfo/0']]);
    expect(kernel[0]).toMatch(/:EACCES$/);
    expect(ours).toEqual(kernel);
  });
});

/**
 * An fd opened before an exec: the kernel pinned the old mm at open
 * (proc_mem_open), so after the exec it reads 0 bytes and never the new image.
 * Run as uid 65534 exec'ing a setuid-root copy: had we re-read the host's file by
 * path, the reader would get the maps of a process it may no longer trace.
 */
describe.skipIf(!canMount())('a maps fd opened before an exec of a setuid program', () => {
  let m: Mount;
  let tmp: string;
  let suid: string;

  beforeAll(async () => {
    m = await startMount();
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-suid-')));
    fs.chmodSync(tmp, 0o755);
    suid = path.join(tmp, 'reread_after_exec');
    fs.copyFileSync(buildCProgram('reread_after_exec'), suid);
    fs.chownSync(suid, 0, 0);
    fs.chmodSync(suid, 0o4755);
  });
  afterAll(async () => {
    await m?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function run(file: string): { before: number; after: number; euid: number; dumpable: number } {
    const as = unprivileged(NOBODY);
    const r = spawnSync(as[0]!, [...as.slice(1), suid, file, suid], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { before: number; after: number; euid: number; dumpable: number };
  }

  test.each(['maps', 'smaps'])('%s: read whole before the exec, 0 bytes after it, as on the host', (file) => {
    const kernel = run(`/proc/self/${file}`);
    const ours = run(`${m.dir}/self/${file}`);
    // Not vacuous: the exec made the reader root and non-dumpable.
    expect({ euid: kernel.euid, dumpable: kernel.dumpable, after: kernel.after }).toEqual({ euid: 0, dumpable: 0, after: 0 });
    expect(kernel.before).toBeGreaterThan(0);
    expect(ours.before).toBeGreaterThan(0);
    expect({ euid: ours.euid, dumpable: ours.dumpable, after: ours.after }).toEqual({ euid: 0, dumpable: 0, after: 0 });
  });
});
