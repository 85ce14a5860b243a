/**
 * /proc/meminfo of a memory cgroup (pure): the host's lines in the host's
 * order (fs/proc/meminfo.c meminfo_proc_show), with the memory lines taken
 * from the cgroup and every other size capped at its total.
 */
import type { CgMemory } from './cgroup-values';

const KB = 1024;

/** Lines that are not amounts of memory or swap, kept as the host has them. */
const KEEP = new Set(['VmallocTotal', 'VmallocUsed', 'VmallocChunk', 'Hugepagesize', 'HugePages_Total', 'HugePages_Free', 'HugePages_Rsvd', 'HugePages_Surp', 'Hugetlb']);
/** Sizes bounded by SwapTotal rather than MemTotal. */
const SWAP = new Set(['SwapCached', 'Zswap', 'Zswapped']);

export function parseMeminfo(text: string): Array<{ key: string; kb: number; unit: boolean }> {
  const out: Array<{ key: string; kb: number; unit: boolean }> = [];
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+([0-9]+)( kB)?$/.exec(line);
    if (m) out.push({ key: m[1]!, kb: Number(m[2]), unit: m[3] !== undefined });
  }
  return out;
}

export function renderMeminfo(hostText: string, cg: CgMemory): string {
  const host = parseMeminfo(hostText);
  const hostKb = (k: string) => host.find((l) => l.key === k)?.kb ?? 0;
  const kb = (bytes: number) => Math.floor(bytes / KB);
  const s = cg.stat;
  // The host's if unlimited or larger than the host (mem_cgroup_get_max caps at totalram too).
  const total = Math.min(hostKb('MemTotal'), cg.limit === undefined ? Infinity : kb(cg.limit));
  const used = Math.min(total, kb(cg.usage));
  const free = total - used;
  const cap = (v: number) => Math.max(0, Math.min(total, v));
  const cached = cap(kb(s.file));
  const { totalKb: swapTotal, usedKb: swapUsed } = containerSwap(hostKb('SwapTotal'), cg);
  const swapFree = swapTotal - swapUsed;
  const ours: Record<string, number> = {
    MemTotal: total,
    MemFree: free,
    // What could be had without swapping: free plus the reclaimable page cache and slab
    // (si_mem_available's estimate, without the watermarks a cgroup does not have).
    MemAvailable: cap(free + kb(s.inactiveFile + s.activeFile + s.slabReclaimable)),
    Buffers: 0,
    Cached: cached,
    SwapCached: 0,
    Active: cap(kb(s.activeAnon + s.activeFile)),
    Inactive: cap(kb(s.inactiveAnon + s.inactiveFile)),
    'Active(anon)': cap(kb(s.activeAnon)),
    'Inactive(anon)': cap(kb(s.inactiveAnon)),
    'Active(file)': cap(kb(s.activeFile)),
    'Inactive(file)': cap(kb(s.inactiveFile)),
    Unevictable: cap(kb(s.unevictable)),
    Mlocked: 0,
    SwapTotal: swapTotal,
    SwapFree: swapFree,
    Dirty: cap(kb(s.dirty)),
    Writeback: cap(kb(s.writeback)),
    AnonPages: cap(kb(s.anon)),
    Mapped: cap(kb(s.mapped)),
    Shmem: cap(kb(s.shmem)),
    KReclaimable: cap(kb(s.slabReclaimable)),
    Slab: cap(kb(s.slabReclaimable + s.slabUnreclaimable)),
    SReclaimable: cap(kb(s.slabReclaimable)),
    SUnreclaim: cap(kb(s.slabUnreclaimable)),
    KernelStack: cap(kb(s.kernelStack)),
    PageTables: cap(kb(s.pageTables)),
    // What the cgroup may commit: its memory and its swap (the kernel's CommitLimit
    // is RAM * overcommit_ratio + swap, a host-wide figure).
    CommitLimit: total + swapTotal,
  };
  const lines: string[] = [];
  for (const l of host) {
    let v = ours[l.key];
    if (v === undefined) {
      if (KEEP.has(l.key)) v = l.kb;
      else if (SWAP.has(l.key)) v = Math.min(l.kb, swapTotal);
      else v = cap(l.kb);
    }
    // show_val_kb: the key padded to 16 columns, the value to 8 (seq_put_decimal_ull_width).
    lines.push(`${`${l.key}:`.padEnd(16)}${String(v).padStart(8)}${l.unit ? ' kB' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The container's swap in kB: its limit capped at the host's swap, its use capped at that. */
export function containerSwap(hostSwapTotalKb: number, cg: Pick<CgMemory, 'swapLimit' | 'swapUsage'>): { totalKb: number; usedKb: number } {
  const totalKb = Math.min(hostSwapTotalKb, cg.swapLimit === undefined ? hostSwapTotalKb : Math.floor(cg.swapLimit / KB));
  return { totalKb, usedKb: Math.min(totalKb, Math.floor(cg.swapUsage / KB)) };
}
