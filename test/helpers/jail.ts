/**
 * A minimal chroot for the chrooted-reader tests (maps-host, maps-fuse): the
 * given executables in /usr/bin, the libc and ld.so they need, and the
 * /bin, /lib, /lib64 links of a merged-/usr Debian.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const LIB_DIR = '/usr/lib/x86_64-linux-gnu';
const LIBS = ['libc.so.6', 'ld-linux-x86-64.so.2'];

/**
 * Fills `jail` (created if missing): `executables` maps a name in /usr/bin to the
 * file copied there; `dirs` are extra empty directories (mount points, work dirs).
 */
export function makeJail(jail: string, executables: Record<string, string>, dirs: string[]): void {
  for (const d of ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'usr/lib64', ...dirs]) {
    fs.mkdirSync(path.join(jail, d), { recursive: true });
  }
  for (const [name, src] of Object.entries(executables)) {
    const dst = path.join(jail, 'usr/bin', name);
    fs.copyFileSync(src, dst);
    fs.chmodSync(dst, 0o755);
  }
  for (const lib of LIBS) fs.copyFileSync(path.join(LIB_DIR, lib), path.join(jail, 'usr/lib/x86_64-linux-gnu', lib));
  fs.chmodSync(path.join(jail, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), 0o755);
  fs.symlinkSync('../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', path.join(jail, 'usr/lib64/ld-linux-x86-64.so.2'));
  fs.symlinkSync('usr/lib', path.join(jail, 'lib'));
  fs.symlinkSync('usr/lib64', path.join(jail, 'lib64'));
  fs.symlinkSync('usr/bin', path.join(jail, 'bin'));
}

/** rm -rf: fs.rmSync fails with ENAMETOOLONG on the deeper-than-PATH_MAX tree maps_target builds. */
export function removeTree(dir: string | undefined): void {
  if (dir) spawnSync('rm', ['-rf', '--one-file-system', dir]);
}
