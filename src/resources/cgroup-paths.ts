/**
 * Where a process's cgroups are (pure): /proc/<pid>/cgroup lines
 * "hierarchy-id:controllers:path" (kernel/cgroup/cgroup.c proc_cgroup_show;
 * "0::path" is the unified v2 hierarchy), and the cgroup mounts of
 * /proc/self/mounts (cgroup with its controllers as options, cgroup2).
 * Paths in /proc/<pid>/cgroup are relative to the READER's cgroup namespace
 * (cgroup_path_ns): the daemon reads them, so they match its mounts.
 */

/** The v1 controllers and v2 directory that resource files read. */
export interface CgroupPaths {
  /** v1 controller name -> path within its hierarchy */
  v1: Map<string, string>;
  /** path within the unified hierarchy, if the process has one */
  v2?: string;
}

export function parseProcCgroup(text: string): CgroupPaths {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const id = line.slice(0, a);
    const ctrls = line.slice(a + 1, b);
    const p = line.slice(b + 1);
    if (id === '0' && ctrls === '') v2 = p;
    else for (const c of ctrls.split(',')) if (c) v1.set(c, p);
  }
  return v2 === undefined ? { v1 } : { v1, v2 };
}

export interface CgroupMounts {
  /** v1 controller name -> mount point of its hierarchy */
  v1: Map<string, string>;
  v2?: string;
}

/** /proc/self/mounts: "source mountpoint fstype options 0 0" (octal escapes in the mount point). */
export function parseCgroupMounts(text: string): CgroupMounts {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 4) continue;
    const dir = unescape(f[1]!);
    if (f[2] === 'cgroup2') v2 ??= dir;
    else if (f[2] === 'cgroup') {
      for (const o of f[3]!.split(',')) {
        if (KNOWN_V1.has(o) && !v1.has(o)) v1.set(o, dir);
      }
    }
  }
  return v2 === undefined ? { v1 } : { v1, v2 };
}

const KNOWN_V1 = new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'blkio', 'pids']);

/** a below b or equal to it ("/a/b" is below "/a", "/ab" is not) */
export function isWithin(p: string, ancestor: string): boolean {
  if (ancestor === '/') return true;
  return p === ancestor || p.startsWith(ancestor.endsWith('/') ? ancestor : `${ancestor}/`);
}

/**
 * A container's cgroup in one hierarchy: below the root, and not one the daemon
 * itself runs in or below (the daemon runs with the host's resources: a
 * sandbox that merely inherited the daemon's cgroup has the host's).
 */
export function ownsCgroup(initPath: string | undefined, daemonPath: string | undefined): boolean {
  if (initPath === undefined || initPath === '/') return false;
  return daemonPath === undefined || !isWithin(daemonPath, initPath);
}
