/**
 * Which rules select an open, and what they become (pure). A `mem` open gets
 * its selected rules as address ranges for the native reader (mapping names
 * resolved against the target's maps AT OPEN, as an unwinder's view of the
 * address space is also the one it read at start); a `maps` read gets its
 * selected rules applied to the rendered text.
 */
import type { NativeFaultEntry } from '../native';
import { FAULT_ACTION } from '../native';
import { parseMaps, type Vma } from '../host/parse-maps';
import { renderMaps } from '../files/maps';
import { PAGE_SIZE, type FaultRule, type MapsRule, type MemRule, type ProcessSelector } from './rules';

/** Who opens what: facts read lazily, since most rules need few of them. */
export interface OpenFacts {
  /** pid and tgid in the daemon's namespace; viewTgid in the view's (undefined: not in it) */
  caller: { pid: number; uid: number; tgid(): number | undefined; viewTgid(): number | undefined; comm(): string | undefined };
  target: { tgid: number; tid: number; comm(): string | undefined; uid(): number | undefined };
}

function matchesSelector(sel: ProcessSelector, pid: () => number[], comm: () => string | undefined, uid: () => number | undefined): boolean {
  if (sel.pid !== undefined && !pid().includes(sel.pid)) return false;
  if (sel.comm !== undefined && comm() !== sel.comm) return false;
  if (sel.uid !== undefined && uid() !== sel.uid) return false;
  return true;
}

/** The rule's target and caller selectors against one open. */
export function selects(rule: FaultRule, f: OpenFacts): boolean {
  if (rule.target === 'self') {
    const tgid = f.caller.viewTgid();
    if (tgid === undefined || tgid !== f.target.tgid) return false;
  } else if (rule.target) {
    if (!matchesSelector(rule.target, () => [f.target.tgid, f.target.tid], f.target.comm, f.target.uid)) return false;
  }
  if (rule.caller) {
    // A caller invisible to us (pid 0) matches no caller selector.
    if (f.caller.pid === 0) return false;
    const tgid = f.caller.tgid();
    const pids = (): number[] => (tgid === undefined ? [f.caller.pid] : [tgid, f.caller.pid]);
    if (!matchesSelector(rule.caller, pids, f.caller.comm, () => f.caller.uid)) return false;
  }
  return true;
}

const nameOf = (v: Vma): string => v.name.toString('latin1');

/**
 * "[stack]" and the like match the name exactly; "elf-header" is every file
 * mapping at file offset 0 (where an ELF object's header is, the first page);
 * a path with a slash matches exactly, a bare name matches the basename.
 */
export function mappingMatches(mapping: string, v: Vma): boolean {
  const name = nameOf(v);
  if (mapping === 'elf-header') return v.inode !== 0n && v.offset === 0n;
  if (mapping.startsWith('[') || mapping.includes('/')) return name === mapping;
  return name.slice(name.lastIndexOf('/') + 1) === mapping;
}

/** The address ranges of a rule's mapping selector, after "pages" and "elf-header". */
function mappingRanges(rule: FaultRule, vmas: readonly Vma[]): Array<{ start: bigint; end: bigint }> {
  const out: Array<{ start: bigint; end: bigint }> = [];
  for (const v of vmas) {
    if (!mappingMatches(rule.mapping!, v)) continue;
    let { start, end } = v;
    if (rule.mapping === 'elf-header') end = start + PAGE_SIZE < end ? start + PAGE_SIZE : end;
    if (rule.pages && 'first' in rule.pages) {
      const e = start + BigInt(rule.pages.first) * PAGE_SIZE;
      if (e < end) end = e;
    } else if (rule.pages && 'last' in rule.pages) {
      const s = end - BigInt(rule.pages.last) * PAGE_SIZE;
      if (s > start) start = s;
    }
    out.push({ start, end });
  }
  return out;
}

const ALL = { start: 0n, end: (1n << 64n) - 1n };

/** The native entries for the mem rules that select this open, in rule order. */
export function compileMemRules(rules: readonly FaultRule[], f: OpenFacts, readMaps: () => Vma[]): NativeFaultEntry[] {
  const out: NativeFaultEntry[] = [];
  let vmas: Vma[] | undefined;
  for (const r of rules) {
    if (r.file !== 'mem' || !selects(r, f)) continue;
    let ranges = [r.range ?? ALL];
    if (r.mapping) {
      vmas ??= readMaps();
      const fromMaps = mappingRanges(r, vmas);
      ranges = fromMaps
        .map((m) => ({ start: m.start > ranges[0]!.start ? m.start : ranges[0]!.start, end: m.end < ranges[0]!.end ? m.end : ranges[0]!.end }))
        .filter((m) => m.start < m.end);
    }
    for (const { start, end } of ranges) out.push(toNative(r, start, end));
  }
  return out;
}

function toNative(r: MemRule, start: bigint, end: bigint): NativeFaultEntry {
  return {
    start,
    end,
    action: FAULT_ACTION[r.action],
    arg: r.arg,
    nth: r.nth,
    after: r.after,
    probability: r.probability,
    seed: r.seed,
    rule: r.index,
  };
}

/**
 * The maps rules that select this read, applied in file order to the text the
 * reader would otherwise get. Returns the text and the indices of the rules
 * that changed something (their hits).
 */
export function applyMapsRules(rules: readonly FaultRule[], f: OpenFacts, text: Buffer): { text: Buffer; hits: number[] } {
  const hits: number[] = [];
  let out = text;
  for (const r of rules) {
    if (r.file !== 'maps' || !selects(r, f)) continue;
    const next = applyMapsRule(r, out);
    if (!next.equals(out)) hits.push(r.index);
    out = next;
  }
  return { text: out, hits };
}

function applyMapsRule(r: MapsRule, text: Buffer): Buffer {
  switch (r.action) {
    case 'hide':
      return renderMaps(parseMaps(text).filter((v) => !mappingMatches(r.mapping!, v)));
    case 'truncate':
      if (r.bytes !== undefined) return text.subarray(0, r.bytes);
      return renderMaps(parseMaps(text).slice(0, r.lines));
    case 'torn': {
      // seq_file resumes a later read() at the end address of the last VMA it
      // showed (m_start: vma_find from last_addr), in the address space as it
      // is THEN. Lines up to the tear come from before a racing munmap of the
      // selected mappings, the rest from after it.
      const vmas = parseMaps(text);
      const before = vmas.slice(0, r.lines);
      const lastEnd = before.length > 0 ? before[before.length - 1]!.end : 0n;
      const after = vmas.slice(r.lines).filter((v) => v.end > lastEnd && !mappingMatches(r.mapping!, v));
      return renderMaps([...before, ...after]);
    }
  }
}
