/**
 * mount(8) for real: `mount -t fuse.procfuse` and an fstab line (mount -T FILE)
 * reach procfuse through mount/mount.fuse.procfuse, with the -o options arriving
 * as the daemon's view; umount(8) ends the daemon.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';

import { abortConnection, fuseConnectionAt } from '../../src/cli/mounts';
import { canMount, CLI } from '../helpers/with-mount';

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'mount/mount.fuse.procfuse');
/** where libmount looks for `-t fuse.procfuse` helpers (its FS_SEARCH_PATH, /sbin first) */
const INSTALLED = '/sbin/mount.fuse.procfuse';

const env = { ...process.env, PROCFUSE_CLI: CLI };
const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 20_000 });
const mounted = (dir: string): string | undefined =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === dir);

/** The daemon's pid, from its log line "serving DIR (pid N, ...)" */
function daemonPidOf(dir: string): number | undefined {
  const log = `/run/procfuse/${dir.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_')}.log`;
  try {
    const m = [...fs.readFileSync(log, 'utf8').matchAll(/serving \S+ \(pid (\d+),/g)].at(-1);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
const alive = (pid: number): boolean => {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
async function eventually(check: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe.skipIf(!canMount())('mount -t fuse.procfuse and fstab (mount/mount.fuse.procfuse)', () => {
  let installed = false;
  let base: string;
  let dir: string;
  beforeAll(() => {
    // Another checkout's helper is as good: PROCFUSE_CLI names our procfuse.
    if (!fs.existsSync(INSTALLED)) {
      fs.symlinkSync(HELPER, INSTALLED);
      installed = true;
    }
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-helper-'));
  });
  afterEach(() => {
    if (dir && mounted(dir)) {
      const id = fuseConnectionAt(dir);
      sh('umount', [dir]);
      if (mounted(dir)) {
        if (id !== undefined) abortConnection(id);
        sh('umount', ['-l', dir]);
      }
    }
  });
  afterAll(() => {
    if (installed && fs.readlinkSync(INSTALLED) === HELPER) fs.unlinkSync(INSTALLED);
    fs.rmSync(base, { recursive: true, force: true });
  });

  const newDir = (): string => {
    dir = fs.mkdtempSync(path.join(base, 'mnt-'));
    return dir;
  };

  /** In a new pid namespace the per-caller view shows self as 1; the host view would not. */
  const selfInNewPidns = (d: string): string => sh('unshare', ['--pid', '--fork', 'sh', '-c', `cd -P ${d}/self && pwd`]).stdout.trim();

  test('mount -t fuse.procfuse procfuse DIR -o pidns=caller,nosuid,nodev: mounted, the option is the view; umount ends the daemon', { timeout: 30_000 }, async () => {
    const d = newDir();
    const r = sh('mount', ['-t', 'fuse.procfuse', 'procfuse', d, '-o', 'pidns=caller,nosuid,nodev']);
    expect(r.stderr).toContain(`procfuse: mounted at ${d}`);
    expect(r.status).toBe(0);
    expect(mounted(d)).toMatch(/ - fuse\.procfuse procfuse /);
    expect(selfInNewPidns(d)).toBe(`${d}/1`);
    const pid = daemonPidOf(d);
    expect(pid).toBeGreaterThan(0);
    expect(sh('umount', [d]).status).toBe(0);
    expect(await eventually(() => !alive(pid!))).toBe(true);
    expect(mounted(d)).toBeUndefined();
  });

  test('an /etc/fstab line (mount -T FILE DIR): fstab-only options are dropped, the rest reach procfuse', { timeout: 30_000 }, async () => {
    const d = newDir();
    const fstab = path.join(base, 'fstab');
    fs.writeFileSync(fstab, `# procfuse, one view per caller\nprocfuse ${d} fuse.procfuse pidns=caller,noauto,nofail,x-systemd.requires=local-fs.target 0 0\n`);
    const r = sh('mount', ['-T', fstab, d]);
    expect(r.status).toBe(0);
    expect(mounted(d)).toMatch(/ - fuse\.procfuse procfuse /);
    expect(selfInNewPidns(d)).toBe(`${d}/1`);
    expect(sh('umount', [d]).status).toBe(0);
    expect(await eventually(() => mounted(d) === undefined)).toBe(true);
  });

  test('without pidns= the view is the mounter\'s: a new pid namespace sees host pids', { timeout: 30_000 }, () => {
    const d = newDir();
    expect(sh('mount', ['-t', 'fuse.procfuse', 'procfuse', d]).status).toBe(0);
    expect(selfInNewPidns(d)).not.toBe(`${d}/1`);
  });

  test('a bad option fails the mount with procfuse\'s message and mounts nothing', { timeout: 30_000 }, () => {
    const d = newDir();
    const r = sh('mount', ['-t', 'fuse.procfuse', 'procfuse', d, '-o', 'hidepid=sometimes']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('hidepid=sometimes');
    expect(mounted(d)).toBeUndefined();
  });
});
