/**
 * `-o a,b,c` mount options (pure), with the kernel procfs option names
 * (fs/proc/root.c proc_fs_parameters): pidns=, hidepid=, gid=, subset=pid;
 * plus procfuse's pidns=caller and cgroup=PATH (the cgroup, relative to each
 * hierarchy's root, whose resources meminfo, cpuinfo, stat, uptime and
 * loadavg show). Options that mount(8) and fstab pass to every
 * FUSE helper (rw, nosuid, nodev, noexec, relatime, defaults, auto, nofail, ...)
 * are accepted and change nothing: a procfuse mount is always nosuid/nodev.
 */
import type { HidePid } from '../view/view';
import type { PidNsSpec } from '../view/views';

export interface ProcMountOptions {
  pidns: PidNsSpec;
  hidepid: HidePid;
  gid?: number;
  subsetPid: boolean;
  cgroup?: string;
}

export const DEFAULT_MOUNT_OPTIONS: ProcMountOptions = { pidns: { kind: 'default' }, hidepid: 'off', subsetPid: false };

// proc_parse_param: hidepid takes 0/1/2/4 or the names (since v5.8).
const HIDEPID: Record<string, HidePid> = {
  '0': 'off',
  off: 'off',
  '1': 'noaccess',
  noaccess: 'noaccess',
  '2': 'invisible',
  invisible: 'invisible',
  '4': 'ptraceable',
  ptraceable: 'ptraceable',
};

const IGNORED = new Set([
  'rw', 'defaults', 'auto', 'noauto', 'user', 'nouser', 'nofail', 'nosuid', 'nodev', 'noexec', 'suid', 'dev', 'exec',
  'relatime', 'noatime', 'strictatime', 'atime', '_netdev', 'allow_other', 'default_permissions',
]);

/** Parses one or more -o values into `into` (later values win); throws a message naming the bad option. */
export function parseProcOptions(values: string[], into: ProcMountOptions = { ...DEFAULT_MOUNT_OPTIONS }): ProcMountOptions {
  const out = { ...into };
  for (const value of values) {
    for (const opt of value.split(',')) {
      if (opt === '') continue;
      const eq = opt.indexOf('=');
      const key = eq < 0 ? opt : opt.slice(0, eq);
      const v = eq < 0 ? undefined : opt.slice(eq + 1);
      const need = (): string => {
        if (v === undefined || v === '') throw new Error(`-o ${key} needs a value (${key}=...)`);
        return v;
      };
      switch (key) {
        case 'pidns': {
          const ns = need();
          out.pidns = ns === 'caller' ? { kind: 'caller' } : { kind: 'fixed', ns };
          break;
        }
        case 'hidepid': {
          const h = HIDEPID[need()];
          if (!h) throw new Error(`-o hidepid=${v}: must be 0, 1, 2, 4, off, noaccess, invisible or ptraceable`);
          out.hidepid = h;
          break;
        }
        case 'gid': {
          const g = need();
          if (!/^[0-9]+$/.test(g) || Number(g) > 0xfffffffe) throw new Error(`-o gid=${g}: must be a numeric group id`);
          out.gid = Number(g);
          break;
        }
        case 'subset':
          // The kernel knows only subset=pid (proc_parse_subset).
          if (need() !== 'pid') throw new Error(`-o subset=${v}: only subset=pid exists`);
          out.subsetPid = true;
          break;
        case 'cgroup': {
          const p = need();
          if (!p.startsWith('/') || p.split('/').includes('..') || p.includes(',')) throw new Error(`-o cgroup=${p}: must be an absolute cgroup path without '..'`);
          out.cgroup = p;
          break;
        }
        case 'ro':
          break; // always read-only where it matters: writes through the mount are refused
        default:
          if (IGNORED.has(key) || key === 'fsname' || key === 'subtype') break;
          throw new Error(`unknown mount option '${opt}' (known: pidns=, hidepid=, gid=, subset=pid, cgroup=)`);
      }
    }
  }
  return out;
}

/** The -o value that gives back `o` (for the daemon child's command line). */
export function formatProcOptions(o: ProcMountOptions): string {
  const parts: string[] = [];
  if (o.pidns.kind === 'caller') parts.push('pidns=caller');
  if (o.pidns.kind === 'fixed') parts.push(`pidns=${o.pidns.ns}`);
  if (o.hidepid !== 'off') parts.push(`hidepid=${o.hidepid}`);
  if (o.gid !== undefined) parts.push(`gid=${o.gid}`);
  if (o.subsetPid) parts.push('subset=pid');
  if (o.cgroup !== undefined) parts.push(`cgroup=${o.cgroup}`);
  return parts.join(',');
}
