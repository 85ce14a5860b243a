/**
 * The snapshot format (version 1, docs/snapshots.md) and which memory a
 * snapshot records (pure).
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Vma } from '../host/parse-maps';

export const SNAPSHOT_FORMAT = 'procfuse-snapshot';
export const SNAPSHOT_VERSION = 1;

export interface Region {
  start: bigint;
  end: bigint;
  /** where its bytes start in mem.data */
  offset: bigint;
  why: RegionWhy;
}

export type RegionWhy = 'stack' | 'elf-header' | 'vdso' | 'memory';

export interface SnapshotManifest {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  pid: number;
  takenAt: string;
  kernel: string;
  /** the target's user namespace (readlink of ns/user), and whether it was the snapshotter's */
  userNs: string;
  sameUserNs: boolean;
  stoppedWith: 'SIGSTOP' | 'already stopped';
  /** per-process files recorded under proc/<pid>/ */
  files: string[];
  links: Record<string, string>;
  threads: Array<{ tid: number; sp: string | null; pc: string | null }>;
  regions: Array<{ start: string; end: string; why: RegionWhy }>;
  options: { environ: boolean; allMemory: boolean; maxBytes: number; headerBytes: number };
}

const PAGE = 4096n;
const down = (a: bigint): bigint => a - (a % PAGE);
const up = (a: bigint): bigint => down(a + PAGE - 1n);

export interface PlanOptions {
  stackPointers: bigint[];
  headerBytes: bigint;
  allMemory: boolean;
  maxBytes: bigint;
}

/**
 * What to read, page aligned, in address order, without overlaps:
 * - each thread's stack from one page below its stack pointer (the red zone and
 *   a signal frame being built) to the end of the mapping holding it;
 * - the first headerBytes of every file mapping at file offset 0 (ELF header,
 *   program headers, build-id note);
 * - the whole vDSO (an unwinder needs its CFI: it is in no file);
 * - with allMemory, every other readable mapping, until maxBytes in all.
 * [vvar] and [vsyscall] are never read (mem gives EIO/EINVAL there).
 */
export function planRegions(vmas: readonly Vma[], o: PlanOptions): Array<{ start: bigint; end: bigint; why: RegionWhy }> {
  const want: Array<{ start: bigint; end: bigint; why: RegionWhy }> = [];
  const name = (v: Vma): string => v.name.toString('latin1');
  const skip = (v: Vma): boolean => name(v).startsWith('[vvar') || name(v) === '[vsyscall]';
  for (const sp of o.stackPointers) {
    const v = vmas.find((m) => m.start <= sp && sp < m.end);
    if (!v || skip(v)) continue;
    const s = down(sp) - PAGE;
    want.push({ start: s < v.start ? v.start : s, end: v.end, why: 'stack' });
  }
  for (const v of vmas) {
    if (skip(v)) continue;
    if (v.inode !== 0n && v.offset === 0n) {
      const e = v.start + up(o.headerBytes);
      want.push({ start: v.start, end: e < v.end ? e : v.end, why: 'elf-header' });
    }
    if (name(v) === '[vdso]') want.push({ start: v.start, end: v.end, why: 'vdso' });
  }
  const merged = mergeRanges(want);
  if (!o.allMemory) return merged;
  let total = merged.reduce((n, r) => n + (r.end - r.start), 0n);
  const more: typeof want = [];
  for (const v of vmas) {
    if (skip(v) || v.perms[0] !== 'r') continue;
    for (const gap of subtract({ start: v.start, end: v.end }, merged)) {
      if (total >= o.maxBytes) break;
      const room = o.maxBytes - total;
      const end = gap.end - gap.start > room ? gap.start + down(room) : gap.end;
      if (end > gap.start) more.push({ start: gap.start, end, why: 'memory' });
      total += end - gap.start;
    }
  }
  return mergeRanges([...merged, ...more]);
}

/** Sorted, disjoint; where ranges overlap the first one's reason stays. */
function mergeRanges<T extends { start: bigint; end: bigint }>(rs: readonly T[]): T[] {
  const sorted = [...rs].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: T[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) {
      if (r.end > last.end) out.push({ ...r, start: last.end });
    } else out.push({ ...r });
  }
  return out;
}

function subtract(r: { start: bigint; end: bigint }, taken: ReadonlyArray<{ start: bigint; end: bigint }>): Array<{ start: bigint; end: bigint }> {
  const out: Array<{ start: bigint; end: bigint }> = [];
  let cur = r.start;
  for (const t of taken) {
    if (t.end <= cur || t.start >= r.end) continue;
    if (t.start > cur) out.push({ start: cur, end: t.start });
    cur = t.end > cur ? t.end : cur;
  }
  if (cur < r.end) out.push({ start: cur, end: r.end });
  return out;
}

/** Reads and checks DIR/snapshot.json; throws with the reason. */
export function readManifest(dir: string): SnapshotManifest {
  let m: Partial<SnapshotManifest>;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, 'snapshot.json'), 'utf8')) as Partial<SnapshotManifest>;
  } catch (e) {
    throw new Error(`${dir} is not a procfuse snapshot: ${(e as Error).message}`);
  }
  if (m.format !== SNAPSHOT_FORMAT) throw new Error(`${dir}/snapshot.json: "format" is not "${SNAPSHOT_FORMAT}"`);
  if (m.version !== SNAPSHOT_VERSION) throw new Error(`${dir}/snapshot.json: version ${String(m.version)}; this procfuse reads version ${SNAPSHOT_VERSION}`);
  if (typeof m.pid !== 'number' || !fs.existsSync(path.join(dir, 'proc', String(m.pid), 'stat'))) {
    throw new Error(`${dir}: no proc/<pid>/stat for the recorded pid`);
  }
  return m as SnapshotManifest;
}
