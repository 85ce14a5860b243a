/**
 * Differential checks of parseMaps/renderMaps/viewMaps against the host kernel:
 *  - byte-exact round trip of live /proc/<pid>/maps (maps_target, node itself,
 *    every readable process);
 *  - what a chrooted reader gets from the kernel equals viewMaps() of the
 *    host's view with the reader's root from readlink(/proc/<pid>/root).
 * Needs root (chroot, mount) and a C compiler.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { renderMaps } from '../../src/files/maps';
import { HostProc } from '../../src/host/host-proc';
import { parseMaps } from '../../src/host/parse-maps';
import { readTaskRoot, viewMaps } from '../../src/view/root-path';
import { buildCProgram } from '../helpers/c-programs';
import { makeJail, removeTree } from '../helpers/jail';
import { startReadyTarget, stopReadyTarget, type ReadyTarget } from '../helpers/ready-target';

const isRoot = process.getuid?.() === 0;
const hasCc = spawnSync('cc', ['--version']).status === 0;

function roundTrips(bytes: Buffer): boolean {
  return renderMaps(parseMaps(bytes)).equals(bytes);
}

describe.skipIf(!isRoot || !hasCc)('maps of live processes on the host', () => {
  let tmp: string;
  let bin: string;
  let target: ReadyTarget | undefined;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-maps-'));
    bin = path.join(tmp, 'maps_target');
    fs.copyFileSync(buildCProgram('maps_target'), bin);
    fs.chmodSync(bin, 0o755);
    fs.mkdirSync(path.join(tmp, 'd'));
    fs.mkdirSync(path.join(tmp, 'o'));
    target = await startReadyTarget(bin, [path.join(tmp, 'd'), '--outside', path.join(tmp, 'o'), '--longpath', '--many', '4000']);
  });
  afterAll(async () => {
    await stopReadyTarget(target);
    removeTree(tmp);
  });

  test('maps_target: every kind of mapping, 4000+ VMAs, round-trips byte for byte', () => {
    const bytes = fs.readFileSync(`/proc/${target!.pid}/maps`);
    const vmas = parseMaps(bytes);
    expect(vmas.length).toBeGreaterThan(4000);
    expect(vmas.some((v) => v.name.length > 4096)).toBe(true);
    expect(vmas.some((v) => v.name.toString('latin1').includes('\\012'))).toBe(true);
    expect(roundTrips(bytes)).toBe(true);
  });

  test('node itself (/proc/self/maps) round-trips', () => {
    const bytes = fs.readFileSync('/proc/self/maps');
    expect(parseMaps(bytes).length).toBeGreaterThan(20);
    expect(roundTrips(bytes)).toBe(true);
  });

  test('every readable process in /proc round-trips', () => {
    const host = new HostProc();
    let checked = 0;
    const failed: number[] = [];
    for (const pid of host.listPids()) {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(`/proc/${pid}/maps`);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'ENOENT' || code === 'ESRCH') continue; // denied or gone
        throw e;
      }
      checked++;
      if (!roundTrips(bytes)) failed.push(pid);
    }
    expect(failed).toEqual([]);
    expect(checked).toBeGreaterThan(5);
  });
});

/**
 * A jail with copies of cat, maps_target, libc and ld.so, a bind mount inside it
 * and its own procfs. Targets: A runs on the host and maps files inside the jail,
 * outside it, and through the bind mount; B runs chrooted in the jail.
 */
describe.skipIf(!isRoot || !hasCc)('a chrooted reader: the kernel vs viewMaps', () => {
  let tmp: string;
  let jail: string;
  const mounts: string[] = [];
  const targets: ReadyTarget[] = [];
  let a: ReadyTarget;
  let b: ReadyTarget;

  beforeAll(async () => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-jail-')));
    jail = path.join(tmp, 'jail');
    makeJail(jail, { maps_target: buildCProgram('maps_target'), cat: '/usr/bin/cat' }, ['d', 'dB', 'bind', 'proc']);
    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(outside);

    execFileSync('mount', ['--bind', outside, path.join(jail, 'bind')]);
    mounts.push(path.join(jail, 'bind'));
    execFileSync('mount', ['-t', 'proc', 'proc', path.join(jail, 'proc')]);
    mounts.push(path.join(jail, 'proc'));

    // A: on the host; files in jail/d, in jail/bind (really `outside`), and
    // /usr/lib/... (outside the jail) from its own loading.
    a = await startReadyTarget(path.join(jail, 'usr/bin/maps_target'), [path.join(jail, 'd'), '--outside', path.join(jail, 'bind')]);
    targets.push(a);
    // B: inside the jail.
    b = await startReadyTarget('chroot', [jail, '/usr/bin/maps_target', '/dB']);
    targets.push(b);
  });

  afterAll(async () => {
    for (const t of targets) await stopReadyTarget(t);
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    removeTree(tmp);
  });

  /** The kernel's answer: a chrooted cat reads the maps through an fd opened on the host. */
  function readFromJailViaFd(pid: number): Buffer {
    const fd = fs.openSync(`/proc/${pid}/maps`, 'r');
    try {
      const r = spawnSync('chroot', [jail, '/usr/bin/cat'], { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 64 << 20 });
      expect(r.status).toBe(0);
      return r.stdout;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The kernel's answer: a chrooted cat opens the jail's own procfs. */
  function readFromJailViaProc(pid: number): Buffer {
    const r = spawnSync('chroot', [jail, '/usr/bin/cat', `/proc/${pid}/maps`], { maxBuffer: 64 << 20 });
    expect(r.status).toBe(0);
    return r.stdout;
  }

  test('readlink(/proc/<jailed>/root) gives the jail, as the daemon sees it', () => {
    expect(readTaskRoot(new HostProc(), b.pid).toString()).toBe(jail);
  });

  test.each([
    ['host target, fd opened outside the jail', () => a, readFromJailViaFd],
    ['host target, opened inside the jail', () => a, readFromJailViaProc],
    ['jailed target, fd opened outside the jail', () => b, readFromJailViaFd],
    ['jailed target, opened inside the jail', () => b, readFromJailViaProc],
  ] as const)('%s', (_name, which, read) => {
    const t = which();
    const hostView = fs.readFileSync(`/proc/${t.pid}/maps`);
    const kernelView = read(t.pid);
    const root = readTaskRoot(new HostProc(), b.pid);
    const ours = renderMaps(viewMaps(parseMaps(hostView), root));
    expect(kernelView.equals(hostView)).toBe(false); // the views really differ
    expect(ours.toString('latin1')).toBe(kernelView.toString('latin1'));
  });

  test('the kernel prints absolute paths outside the root and strips the root inside it', () => {
    const kernelView = readFromJailViaProc(a.pid).toString('latin1');
    expect(kernelView).toContain(' /usr/lib/x86_64-linux-gnu/libc.so.6\n'); // outside: unchanged (host libc)
    expect(kernelView).toContain(' /d/plain.bin\n'); // inside: root stripped
    expect(kernelView).toContain(' /d/deleted.bin (deleted)\n');
    expect(kernelView).toContain(' /d/with space\\012and newline.bin\n');
    expect(kernelView).toContain(' /bind/outside.bin\n'); // through a bind mount inside the jail
    expect(kernelView).toContain(' /bind/outside-deleted.bin (deleted)\n');
    expect(kernelView).toContain(' /dev/zero (deleted)\n');
    expect(kernelView).toContain(' /usr/bin/maps_target\n'); // A's binary lives in the jail
    expect(kernelView).not.toContain(jail);
  });
});
