/**
 * The cgroup values the resource files are rendered from, normalized over v1
 * and v2 (pure parsers of the controllers' files).
 */

/** What meminfo needs of a memory cgroup, in bytes. */
export interface CgMemory {
  /** memory.max / memory.limit_in_bytes; undefined when unlimited */
  limit?: number;
  usage: number;
  /** swap the cgroup may use (memory.swap.max, or memsw limit minus the memory limit); undefined when unlimited */
  swapLimit?: number;
  swapUsage: number;
  stat: MemStat;
}

export interface MemStat {
  anon: number;
  /** page cache including shmem (v1 cache, v2 file) */
  file: number;
  shmem: number;
  activeAnon: number;
  inactiveAnon: number;
  activeFile: number;
  inactiveFile: number;
  unevictable: number;
  mapped: number;
  dirty: number;
  writeback: number;
  slabReclaimable: number;
  slabUnreclaimable: number;
  kernelStack: number;
  pageTables: number;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat). */
export function parseKeyed(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?[0-9]+$/.test(v)) m.set(k, Number(v));
  }
  return m;
}

/** A limit file: "max" (v2) or a v1 value at or above the page-rounded LONG_MAX means unlimited. */
export function parseLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max' || t === '') return undefined;
  const n = Number(t);
  // v1 reports PAGE_COUNTER_MAX pages as 0x7ffffffffffff000 (mem_cgroup_read_u64).
  if (!Number.isFinite(n) || n < 0 || n >= 2 ** 62) return undefined;
  return n;
}

/** memory.stat of v1 (total_* are hierarchical: mem_cgroup_stat_show) or v2 (memory_stat_format). */
export function memStatOf(stat: Map<string, number>, v2: boolean): MemStat {
  const g = (v1: string, v2name: string) => (v2 ? stat.get(v2name) : (stat.get(`total_${v1}`) ?? stat.get(v1))) ?? 0;
  const slab = g('slab', 'slab');
  const slabR = v2 ? (stat.get('slab_reclaimable') ?? 0) : 0;
  return {
    anon: g('rss', 'anon'),
    file: g('cache', 'file'),
    shmem: g('shmem', 'shmem'),
    activeAnon: g('active_anon', 'active_anon'),
    inactiveAnon: g('inactive_anon', 'inactive_anon'),
    activeFile: g('active_file', 'active_file'),
    inactiveFile: g('inactive_file', 'inactive_file'),
    unevictable: g('unevictable', 'unevictable'),
    mapped: g('mapped_file', 'file_mapped'),
    dirty: g('dirty', 'file_dirty'),
    writeback: g('writeback', 'file_writeback'),
    slabReclaimable: slabR,
    slabUnreclaimable: v2 ? (stat.get('slab_unreclaimable') ?? Math.max(0, slab - slabR)) : 0,
    kernelStack: v2 ? (stat.get('kernel_stack') ?? 0) : 0,
    pageTables: v2 ? (stat.get('pagetables') ?? 0) : 0,
  };
}

/** A cpu list "0-3,8,10-11" (bitmap_parselist) as sorted numbers. */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(part);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b && c - a < 65536; c++) out.add(c);
  }
  return [...out].sort((x, y) => x - y);
}

/**
 * The number of CPUs a bandwidth quota amounts to, rounded up (quota/period
 * of cpu.max, or cfs_quota_us/cfs_period_us); undefined without a quota.
 */
export function quotaCpus(quota: number | undefined, period: number | undefined): number | undefined {
  if (quota === undefined || period === undefined || quota <= 0 || period <= 0) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

/** cpu.max: "max 100000" or "50000 100000". */
export function parseCpuMax(text: string): { quota?: number; period: number } {
  const [q, p] = text.trim().split(/\s+/);
  const period = Number(p ?? '100000');
  return q === 'max' || q === undefined ? { period } : { quota: Number(q), period };
}

/**
 * The CPUs a container shows: its cpuset's that are online, and with a quota
 * only as many as the quota amounts to (the lowest-numbered ones).
 */
export function visibleCpus(online: number[], cpuset: number[] | undefined, quota: number | undefined): number[] {
  let cpus = cpuset ? online.filter((c) => cpuset.includes(c)) : online;
  if (cpus.length === 0) cpus = online;
  if (quota !== undefined && quota < cpus.length) cpus = cpus.slice(0, quota);
  return cpus;
}
