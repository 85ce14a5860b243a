/**
 * The fault rules file of `procfuse mount --faults FILE` (pure: text in, rules
 * or an error naming the rule out). Format and the kernel situation behind each
 * action: docs/faults.md.
 *
 *   { "version": 1, "rules": [ { "name": "...", "file": "mem", "action": "eio",
 *       "target": "self" | { "pid": 1, "comm": "x" }, "caller": { "pid", "comm", "uid" },
 *       "mapping": "[stack]" | "[vdso]" | "/usr/lib/x/libc.so.6" | "libc.so.6" | "elf-header",
 *       "pages": { "first": 1 } | { "last": 2 }, "range": { "start": "0x..", "end": "0x.." },
 *       "nth": 3, "after": 2, "probability": 0.5, "seed": 7,
 *       "bytes": 16, "ms": 100, "lines": 5 } ] }
 */

export const FAULTS_FORMAT_VERSION = 1;

export const MEM_ACTIONS = ['eio', 'short', 'zeros', 'eof', 'delay'] as const;
export const MAPS_ACTIONS = ['hide', 'truncate', 'torn'] as const;
export type MemAction = (typeof MEM_ACTIONS)[number];
export type MapsAction = (typeof MAPS_ACTIONS)[number];

export interface ProcessSelector {
  pid?: number;
  comm?: string;
  uid?: number;
}

interface RuleBase {
  /** position in the file, 0-based: hit counter index and precedence */
  index: number;
  name: string;
  /** 'self': the caller reads its own process; undefined: any target */
  target?: 'self' | ProcessSelector;
  caller?: ProcessSelector;
  mapping?: string;
  pages?: { first: number } | { last: number };
}

export interface MemRule extends RuleBase {
  file: 'mem';
  action: MemAction;
  range?: { start: bigint; end: bigint };
  /** short: bytes, 0 = up to the next page boundary; delay: milliseconds */
  arg: number;
  nth: number;
  after: number;
  probability: number;
  seed: number;
}

export interface MapsRule extends RuleBase {
  file: 'maps';
  action: MapsAction;
  lines?: number;
  bytes?: number;
}

export type FaultRule = MemRule | MapsRule;

export class FaultRulesError extends Error {}

export const PAGE_SIZE = 4096n;

const COMMON_KEYS = ['name', 'file', 'action', 'target', 'caller', 'mapping', 'pages'];
const MEM_KEYS = [...COMMON_KEYS, 'range', 'nth', 'after', 'probability', 'seed', 'bytes', 'ms'];
const MAPS_KEYS = [...COMMON_KEYS, 'lines', 'bytes'];

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseFaultRules(text: string): FaultRule[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FaultRulesError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new FaultRulesError('the top level must be an object { "version": 1, "rules": [...] }');
  for (const k of Object.keys(doc)) {
    if (k !== 'version' && k !== 'rules') throw new FaultRulesError(`unknown top-level key '${k}'`);
  }
  if (doc.version !== FAULTS_FORMAT_VERSION) {
    throw new FaultRulesError(`"version" must be ${FAULTS_FORMAT_VERSION}, not ${JSON.stringify(doc.version)}`);
  }
  if (!Array.isArray(doc.rules)) throw new FaultRulesError('"rules" must be an array');
  const names = new Set<string>();
  return doc.rules.map((r: unknown, i: number) => {
    const label = isObject(r) && typeof r.name === 'string' ? `rule ${i + 1} "${r.name}"` : `rule ${i + 1}`;
    try {
      const rule = parseRule(r, i);
      if (names.has(rule.name)) throw new FaultRulesError(`the name is used by an earlier rule`);
      names.add(rule.name);
      return rule;
    } catch (e) {
      if (e instanceof FaultRulesError) throw new FaultRulesError(`${label}: ${e.message}`);
      throw e;
    }
  });
}

function parseRule(r: unknown, index: number): FaultRule {
  if (!isObject(r)) throw new FaultRulesError('must be an object');
  const file = r.file ?? 'mem';
  if (file !== 'mem' && file !== 'maps') throw new FaultRulesError(`"file" must be "mem" or "maps", not ${JSON.stringify(file)}`);
  const allowed = file === 'mem' ? MEM_KEYS : MAPS_KEYS;
  for (const k of Object.keys(r)) {
    if (!allowed.includes(k)) throw new FaultRulesError(`unknown key '${k}' for a ${file} rule (allowed: ${allowed.join(', ')})`);
  }
  const name = r.name === undefined ? `rule-${index + 1}` : r.name;
  if (typeof name !== 'string' || name === '') throw new FaultRulesError('"name" must be a non-empty string');
  const base = {
    index,
    name,
    target: parseTarget(r.target),
    caller: r.caller === undefined ? undefined : parseSelector(r.caller, 'caller'),
    mapping: r.mapping === undefined ? undefined : str(r.mapping, 'mapping'),
    pages: r.pages === undefined ? undefined : parsePages(r.pages),
  };
  if (base.pages && !base.mapping) throw new FaultRulesError('"pages" needs a "mapping"');
  return file === 'mem' ? parseMemRule(r, base) : parseMapsRule(r, base);
}

function parseMemRule(r: Json, base: Omit<MemRule, 'file' | 'action' | 'arg' | 'nth' | 'after' | 'probability' | 'seed'>): MemRule {
  const action = oneOf(r.action, MEM_ACTIONS);
  let arg = 0;
  if (action === 'short') arg = r.bytes === undefined ? 0 : int(r.bytes, 'bytes', 1, 1 << 30);
  else if (r.bytes !== undefined) throw new FaultRulesError('"bytes" applies to "short" only');
  if (action === 'delay') arg = int(r.ms, 'ms', 1, 60_000);
  else if (r.ms !== undefined) throw new FaultRulesError('"ms" applies to "delay" only');
  const range = r.range === undefined ? undefined : parseRange(r.range);
  if (range && action === 'eio' && (range.start % PAGE_SIZE !== 0n || range.end % PAGE_SIZE !== 0n)) {
    // The kernel fails whole pages (access_remote_vm works per page).
    throw new FaultRulesError('an "eio" range must start and end on a page boundary (4096)');
  }
  const probability = r.probability === undefined ? 1 : num(r.probability, 'probability', 0, 1);
  if (r.seed !== undefined && r.probability === undefined) throw new FaultRulesError('"seed" needs a "probability"');
  return {
    ...base,
    file: 'mem',
    action,
    range,
    arg,
    nth: r.nth === undefined ? 0 : int(r.nth, 'nth', 1, 2 ** 31),
    after: r.after === undefined ? 0 : int(r.after, 'after', 0, 2 ** 31),
    probability,
    seed: r.seed === undefined ? 0 : int(r.seed, 'seed', 0, Number.MAX_SAFE_INTEGER),
  };
}

function parseMapsRule(r: Json, base: Omit<MapsRule, 'file' | 'action'>): MapsRule {
  const action = oneOf(r.action, MAPS_ACTIONS);
  const rule: MapsRule = { ...base, file: 'maps', action };
  if (r.lines !== undefined) rule.lines = int(r.lines, 'lines', 0, 2 ** 31);
  if (r.bytes !== undefined) rule.bytes = int(r.bytes, 'bytes', 0, 2 ** 31);
  if (action === 'hide' && !rule.mapping) throw new FaultRulesError('"hide" needs a "mapping" (the entries to hide)');
  if (action === 'hide' && (rule.lines !== undefined || rule.bytes !== undefined)) {
    throw new FaultRulesError('"hide" takes no "lines" or "bytes"');
  }
  if (action === 'truncate' && (rule.lines === undefined) === (rule.bytes === undefined)) {
    throw new FaultRulesError('"truncate" needs exactly one of "lines" or "bytes"');
  }
  if (action === 'torn' && (rule.lines === undefined || !rule.mapping || rule.bytes !== undefined)) {
    throw new FaultRulesError('"torn" needs "lines" (where the tear is) and "mapping" (what is unmapped after it)');
  }
  return rule;
}

function parseTarget(v: unknown): 'self' | ProcessSelector | undefined {
  if (v === undefined) return undefined;
  if (v === 'self') return 'self';
  return parseSelector(v, 'target');
}

function parseSelector(v: unknown, key: string): ProcessSelector {
  if (!isObject(v)) throw new FaultRulesError(`"${key}" must be ${key === 'target' ? '"self" or ' : ''}an object with pid, comm or uid`);
  const out: ProcessSelector = {};
  for (const k of Object.keys(v)) {
    if (k === 'pid') out.pid = int(v.pid, `${key}.pid`, 1, 2 ** 22);
    else if (k === 'uid') out.uid = int(v.uid, `${key}.uid`, 0, 2 ** 32 - 1);
    else if (k === 'comm') {
      out.comm = str(v.comm, `${key}.comm`);
      // TASK_COMM_LEN is 16: comm never holds more than 15 bytes.
      if (Buffer.byteLength(out.comm) > 15) throw new FaultRulesError(`"${key}.comm" is longer than 15 bytes, so no task has it`);
    } else throw new FaultRulesError(`unknown key '${k}' in "${key}" (pid, comm, uid)`);
  }
  if (Object.keys(out).length === 0) throw new FaultRulesError(`"${key}" selects nothing: give pid, comm or uid`);
  return out;
}

function parsePages(v: unknown): { first: number } | { last: number } {
  if (isObject(v) && Object.keys(v).length === 1) {
    if (v.first !== undefined) return { first: int(v.first, 'pages.first', 1, 2 ** 31) };
    if (v.last !== undefined) return { last: int(v.last, 'pages.last', 1, 2 ** 31) };
  }
  throw new FaultRulesError('"pages" must be { "first": N } or { "last": N }');
}

function parseRange(v: unknown): { start: bigint; end: bigint } {
  if (!isObject(v) || Object.keys(v).some((k) => k !== 'start' && k !== 'end')) {
    throw new FaultRulesError('"range" must be { "start": "0x...", "end": "0x..." }');
  }
  const start = address(v.start, 'range.start');
  const end = address(v.end, 'range.end');
  if (end <= start) throw new FaultRulesError('"range.end" must be above "range.start"');
  return { start, end };
}

function address(v: unknown, key: string): bigint {
  if (typeof v === 'string' && /^0x[0-9a-f]{1,16}$/i.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new FaultRulesError(`"${key}" must be a hex string like "0x7ffd0000" (or a safe integer)`);
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new FaultRulesError(`"action" must be one of ${allowed.join(', ')}, not ${JSON.stringify(v)}`);
}

function int(v: unknown, key: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new FaultRulesError(`"${key}" must be a whole number from ${lo} to ${hi}, not ${JSON.stringify(v)}`);
  }
  return v;
}

function num(v: unknown, key: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw new FaultRulesError(`"${key}" must be a number from ${lo} to ${hi}`);
  return v;
}

function str(v: unknown, key: string): string {
  if (typeof v !== 'string' || v === '') throw new FaultRulesError(`"${key}" must be a non-empty string`);
  return v;
}
