/** Mount table look-ups and stale-mount recovery (host side, no FUSE access). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export interface MountEntry {
  /** minor of the device (field 3); for a FUSE mount, its connection id */
  devMinor: number;
  mountpoint: string;
  fstype: string;
  source: string;
}

/** Decodes the octal escapes of /proc/self/mountinfo ("\040" is a space). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    out.push({
      devMinor: Number((left[2] ?? '').split(':')[1]),
      mountpoint: unescapeMountField(left[4] ?? ''), fstype: right[0] ?? '',
      source: right[1] ?? '',
    });
  }
  return out;
}

export function mountsAt(path: string): MountEntry[] {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountpoint === path);
}

export function isFuseMount(m: MountEntry): boolean {
  return m.fstype === 'fuse' || m.fstype.startsWith('fuse.');
}

/**
 * The connection id (/sys/fs/fuse/connections/<id>) of the FUSE mount at `path`,
 * if there is one; of the top one if mounts are stacked there (the last listed),
 * as native/fuse_session.cc FindConnectionId picks.
 */
export function fuseConnectionAt(path: string): number | undefined {
  return mountsAt(path).filter(isFuseMount).at(-1)?.devMinor;
}

/** Ends a wedged connection; needs fusectl at /sys/fs/fuse/connections (the daemon mounts it). */
export function abortConnection(id: number): void {
  try {
    fs.writeFileSync(`/sys/fs/fuse/connections/${id}/abort`, '1');
  } catch {
    // already gone, or no fusectl
  }
}

/** Detaches whatever is mounted at `path` (lazy: never blocks on a dead daemon). */
export function detach(path: string): { ok: boolean; message: string } {
  for (const [cmd, args] of [
    ['fusermount3', ['-u', '-z', path]],
    ['umount', ['-l', path]],
  ] as const) {
    const r = spawnSync(cmd, [...args], { encoding: 'utf8' });
    if (r.status === 0) return { ok: true, message: '' };
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue;
    if (cmd === 'umount') return { ok: false, message: (r.stderr || r.stdout || '').trim() };
  }
  return { ok: false, message: 'neither fusermount3 nor umount is available' };
}

