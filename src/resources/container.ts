/**
 * Which cgroup a view's resources come from, and reading it (I/O; the
 * renderers are pure). A view belongs to a container when its pid namespace's
 * init is in a cgroup of its own in some hierarchy (ownsCgroup), or when the
 * mount names one with -o cgroup=PATH. The host's view never does.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { View } from '../view/view';
import { ownsCgroup, parseCgroupMounts, parseProcCgroup, type CgroupMounts } from './cgroup-paths';
import { parseBlkio, parseIoStat, type DeviceIo } from './io';
import { memStatOf, parseCpuList, parseCpuMax, parseKeyed, parseLimit, quotaCpus, type CgMemory } from './cgroup-values';

export interface ResourceDir {
  dir: string;
  v2: boolean;
}

export interface Container {
  /** identifies the cgroup (for the load sampler) */
  readonly key: string;
  readonly memory?: ResourceDir;
  readonly cpuset?: ResourceDir;
  /** bandwidth quota (cpu.max, cpu.cfs_quota_us) */
  readonly cpu?: ResourceDir;
  /** usage (cpu.stat, cpuacct.usage_percpu_*) */
  readonly cpuacct?: ResourceDir;
  /** block I/O (io.stat, blkio.throttle.*) */
  readonly blkio?: ResourceDir;
  /** its unified-hierarchy directory, for the *.pressure files (PSI is v2 only) */
  readonly pressure?: string;
  /** where its tasks are listed */
  readonly tasks: ResourceDir;
}

type Resource = 'memory' | 'cpuset' | 'cpu' | 'cpuacct' | 'blkio';
/** The v2 file that says a unified cgroup has the controller enabled. */
const V2_FILE: Record<Resource, string> = { memory: 'memory.max', cpuset: 'cpuset.cpus.effective', cpu: 'cpu.max', cpuacct: 'cpu.stat', blkio: 'io.stat' };
const RESOURCES: Resource[] = ['memory', 'cpuset', 'cpu', 'cpuacct', 'blkio'];

let mounts: CgroupMounts | undefined;
function cgroupMounts(): CgroupMounts {
  // The daemon's cgroup mounts do not change while it serves.
  return (mounts ??= parseCgroupMounts(fs.readFileSync('/proc/self/mounts', 'latin1')));
}

function exists(p: string): boolean {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

function build(dirs: Partial<Record<Resource, ResourceDir>>, pressure: string | undefined): Container | undefined {
  const tasks = dirs.cpuacct ?? dirs.cpu ?? dirs.cpuset ?? dirs.memory ?? dirs.blkio ?? (pressure ? { dir: pressure, v2: true } : undefined);
  if (!tasks) return undefined;
  const key = [...RESOURCES.map((r) => dirs[r]?.dir ?? ''), pressure ?? ''].join('|');
  return { key, ...dirs, ...(pressure ? { pressure } : {}), tasks };
}

/** The cgroup PATH of -o cgroup=, in every hierarchy where it exists. */
export function namedContainer(cgPath: string): Container | undefined {
  const m = cgroupMounts();
  const dirs: Partial<Record<Resource, ResourceDir>> = {};
  for (const r of RESOURCES) {
    const v1 = m.v1.get(r);
    if (v1 && exists(path.join(v1, cgPath))) dirs[r] = { dir: path.join(v1, cgPath), v2: false };
    else if (m.v2 && exists(path.join(m.v2, cgPath, V2_FILE[r]))) dirs[r] = { dir: path.join(m.v2, cgPath), v2: true };
  }
  const v2 = m.v2 && path.join(m.v2, cgPath);
  return build(dirs, v2 && exists(path.join(v2, 'cpu.pressure')) ? v2 : undefined);
}

/** How long a view's cgroup membership is taken as known (ps reads stat for every process). */
const MEMBERSHIP_MS = 1000;
const known = new WeakMap<View, { at: number; c: Container | undefined }>();

/**
 * The container a view belongs to, or undefined for the host's resources. The
 * membership is remembered for a second; the values are read at every render.
 */
export function containerOf(view: View): Container | undefined {
  const now = Date.now();
  const k = known.get(view);
  if (k && now - k.at < MEMBERSHIP_MS) return k.c;
  const c = findContainer(view);
  known.set(view, { at: now, c });
  return c;
}

function findContainer(view: View): Container | undefined {
  const named = view.mount.options.cgroup;
  if (named !== undefined) return namedContainer(named);
  if (view.isOwn) return undefined;
  let init, daemon;
  try {
    init = parseProcCgroup(view.proc.readText(1, 'cgroup'));
    daemon = parseProcCgroup(view.mount.own.readText('self', 'cgroup'));
  } catch {
    return undefined; // no init (the namespace is dying): the host's files
  }
  const m = cgroupMounts();
  const dirs: Partial<Record<Resource, ResourceDir>> = {};
  for (const r of RESOURCES) {
    const v1 = m.v1.get(r);
    const p = init.v1.get(r);
    if (v1 && p !== undefined) {
      // Mounted as v1: the controller is not on the unified hierarchy.
      if (ownsCgroup(p, daemon.v1.get(r))) dirs[r] = { dir: path.join(v1, p), v2: false };
    } else if (m.v2 && init.v2 !== undefined && ownsCgroup(init.v2, daemon.v2)) {
      const d = path.join(m.v2, init.v2);
      if (exists(path.join(d, V2_FILE[r]))) dirs[r] = { dir: d, v2: true };
    }
  }
  let pressure: string | undefined;
  if (m.v2 && init.v2 !== undefined && ownsCgroup(init.v2, daemon.v2)) {
    const d = path.join(m.v2, init.v2);
    if (exists(path.join(d, 'cpu.pressure'))) pressure = d;
  }
  return build(dirs, pressure);
}

function read(d: ResourceDir, name: string): string | undefined {
  try {
    return fs.readFileSync(path.join(d.dir, name), 'latin1');
  } catch {
    return undefined;
  }
}

export function readMemory(d: ResourceDir): CgMemory | undefined {
  const stat = read(d, 'memory.stat');
  if (d.v2) {
    const usage = read(d, 'memory.current');
    if (usage === undefined || stat === undefined) return undefined;
    const swapMax = read(d, 'memory.swap.max');
    return {
      limit: parseLimit(read(d, 'memory.max') ?? 'max'),
      usage: Number(usage.trim()),
      // No swap controller: no swap the cgroup could use is accounted; show the host's.
      swapLimit: swapMax === undefined ? undefined : parseLimit(swapMax),
      swapUsage: Number((read(d, 'memory.swap.current') ?? '0').trim()),
      stat: memStatOf(parseKeyed(stat), true),
    };
  }
  const usage = read(d, 'memory.usage_in_bytes');
  if (usage === undefined || stat === undefined) return undefined;
  const limit = parseLimit(read(d, 'memory.limit_in_bytes') ?? 'max');
  // v1 counts memory+swap together (memsw); the swap share is what exceeds memory.
  const memsw = parseLimit(read(d, 'memory.memsw.limit_in_bytes') ?? 'max');
  const memswUsage = Number((read(d, 'memory.memsw.usage_in_bytes') ?? usage).trim());
  return {
    limit,
    usage: Number(usage.trim()),
    swapLimit: memsw === undefined ? undefined : Math.max(0, memsw - (limit ?? memsw)),
    swapUsage: Math.max(0, memswUsage - Number(usage.trim())),
    stat: memStatOf(parseKeyed(stat), false),
  };
}

export function readCpuset(d: ResourceDir): number[] | undefined {
  const t = d.v2 ? read(d, 'cpuset.cpus.effective') : (read(d, 'cpuset.effective_cpus') ?? read(d, 'cpuset.cpus'));
  return t === undefined || t.trim() === '' ? undefined : parseCpuList(t);
}

export function readQuota(d: ResourceDir): number | undefined {
  if (d.v2) {
    const t = read(d, 'cpu.max');
    if (t === undefined) return undefined;
    const { quota, period } = parseCpuMax(t);
    return quotaCpus(quota, period);
  }
  const q = read(d, 'cpu.cfs_quota_us');
  const p = read(d, 'cpu.cfs_period_us');
  return quotaCpus(q === undefined ? undefined : Number(q.trim()), p === undefined ? undefined : Number(p.trim()));
}

export interface CpuUsage {
  /** per host CPU (index = CPU number), ns; undefined when only totals are known */
  perCpu?: { user: number[]; system: number[] };
  user: number;
  system: number;
}

const nums = (t: string) => t.trim().split(/\s+/).filter(Boolean).map(Number);

export function readUsage(d: ResourceDir): CpuUsage | undefined {
  if (d.v2) {
    const t = read(d, 'cpu.stat');
    if (t === undefined) return undefined;
    const s = parseKeyed(t);
    return { user: (s.get('user_usec') ?? 0) * 1000, system: (s.get('system_usec') ?? 0) * 1000 };
  }
  const all = read(d, 'cpuacct.usage_percpu');
  const u = read(d, 'cpuacct.usage_percpu_user');
  const s = read(d, 'cpuacct.usage_percpu_sys');
  if (all !== undefined) {
    // usage_percpu is the scheduler's exact runtime; the _user/_sys pair is
    // sampled at ticks (cpuacct_account_field) and runs ahead of it. The exact
    // time, split in the sampled proportion.
    const total = nums(all);
    const tu = u === undefined ? [] : nums(u);
    const ts = s === undefined ? [] : nums(s);
    const user = total.map((t, i) => {
      const a = tu[i] ?? 0;
      const b = ts[i] ?? 0;
      return a + b > 0 ? (t * a) / (a + b) : t;
    });
    const system = total.map((t, i) => t - user[i]!);
    return { perCpu: { user, system }, user: user.reduce((a, b) => a + b, 0), system: system.reduce((a, b) => a + b, 0) };
  }
  const sum = read(d, 'cpuacct.usage');
  return sum === undefined ? undefined : { user: Number(sum.trim()), system: 0 };
}

const MAX_TASKS = 4096;

/** The thread ids of the cgroup and its descendants (daemon's pid namespace), at most MAX_TASKS. */
export function readTasks(d: ResourceDir): number[] {
  const out: number[] = [];
  const walk = (dir: string, depth: number) => {
    if (out.length >= MAX_TASKS) return;
    let t: string;
    try {
      t = fs.readFileSync(path.join(dir, d.v2 ? 'cgroup.threads' : 'tasks'), 'latin1');
    } catch {
      return;
    }
    for (const n of nums(t)) if (out.length < MAX_TASKS) out.push(n);
    if (depth >= 8) return;
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) if (e.isDirectory()) walk(path.join(dir, e.name), depth + 1);
  };
  walk(d.dir, 0);
  return out;
}

/** The cgroup's block I/O per device ("MAJ:MIN"), hierarchical. */
export function readIo(d: ResourceDir): Map<string, DeviceIo> | undefined {
  if (d.v2) {
    const t = read(d, 'io.stat');
    return t === undefined ? undefined : parseIoStat(t);
  }
  const bytes = read(d, 'blkio.throttle.io_service_bytes_recursive') ?? read(d, 'blkio.throttle.io_service_bytes');
  const ios = read(d, 'blkio.throttle.io_serviced_recursive') ?? read(d, 'blkio.throttle.io_serviced');
  return bytes === undefined || ios === undefined ? undefined : parseBlkio(bytes, ios);
}

/** A v2 cgroup's `<resource>.pressure` (psi_show's format, as /proc/pressure/<resource>). */
export function readPressure(dir: string, resource: string): string | undefined {
  return read({ dir, v2: true }, `${resource}.pressure`);
}
