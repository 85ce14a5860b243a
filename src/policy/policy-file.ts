/**
 * An operator's policy on top of the kernel's rules (`--policy FILE`): hide or
 * deny chosen entries of the tree, for everybody or for some uids, in every
 * view or in one pid namespace's. It can only narrow what the kernel allows.
 * Pure: parsing, validation and decisions; src/cli/mount.ts loads the file and
 * reloads it on SIGHUP.
 *
 * Format (JSON):
 *   { "rules": [
 *       { "path": "kallsyms", "action": "hide" },
 *       { "path": "<pid>/environ", "action": "deny", "uid": [1000, 1001] },
 *       { "path": "sys/**", "action": "deny", "pidns": "4026532210" } ] }
 *
 * A path is relative to the mount's root, one pattern per segment: a name,
 * `*` (any one segment), `**` (any number of segments, also none), `<pid>` (a
 * process directory at the root) and `<tid>` (a thread under <pid>/task/).
 * `hide`: absent (ENOENT at lookup, not listed); `deny`: listed, but open,
 * opendir, readlink and any walk below it give EACCES. The first rule that
 * matches the path and the request decides; no rule, no change.
 */
export type PolicyAction = 'hide' | 'deny';

export interface PolicyRule {
  /** 1-based index in "rules", and the line its object starts on */
  index: number;
  line: number;
  path: string[];
  action: PolicyAction;
  /** fsuids the rule applies to; all when absent */
  uids?: number[];
  /** pid namespace inode of the views it applies to ("own": the daemon's); all when absent */
  pidns?: string;
}

export interface Policy {
  rules: PolicyRule[];
}

export const EMPTY_POLICY: Policy = { rules: [] };

export class PolicyError extends Error {}

/** The line each element of the top-level "rules" array starts on (JSON.parse keeps no positions). */
function ruleLines(text: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let inRules = false;
  let lastKey = '';
  let key = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      else key += c;
      continue;
    }
    if (c === '"') {
      inString = true;
      key = '';
    } else if (c === ':') lastKey = key;
    else if (c === '[' || c === '{') {
      if (c === '[' && depth === 1 && lastKey === 'rules') inRules = true;
      else if (c === '{' && inRules && depth === 2) lines.push(line);
      depth++;
    } else if (c === ']' || c === '}') {
      depth--;
      if (depth === 1) inRules = false;
    }
  }
  return lines;
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/** Parses and validates a policy file's text; errors name the rule and its line. */
export function parsePolicy(text: string, file = 'policy'): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new PolicyError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || !Array.isArray((doc as { rules?: unknown }).rules)) {
    throw new PolicyError(`${file}: expected an object with a "rules" array`);
  }
  const lines = ruleLines(text);
  const rules = (doc as { rules: unknown[] }).rules.map((r, i): PolicyRule => {
    const where = `${file}: rule ${i + 1} (line ${lines[i] ?? '?'})`;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw new PolicyError(`${where}: expected an object`);
    const o = r as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['path', 'action', 'uid', 'pidns'].includes(k)) throw new PolicyError(`${where}: unknown field "${k}" (path, action, uid, pidns)`);
    }
    if (typeof o.path !== 'string' || splitPath(o.path).length === 0) throw new PolicyError(`${where}: "path" must be a non-empty path below the mount`);
    const path = splitPath(o.path);
    if (path.includes('..')) throw new PolicyError(`${where}: "path" may not contain ..`);
    if (o.action !== 'hide' && o.action !== 'deny') throw new PolicyError(`${where}: "action" must be "hide" or "deny", not ${JSON.stringify(o.action)}`);
    let uids: number[] | undefined;
    if (o.uid !== undefined) {
      const list = Array.isArray(o.uid) ? o.uid : [o.uid];
      if (list.length === 0 || !list.every((u) => Number.isInteger(u) && (u as number) >= 0 && (u as number) <= 0xfffffffe)) {
        throw new PolicyError(`${where}: "uid" must be a uid or a non-empty list of uids`);
      }
      uids = list as number[];
    }
    let pidns: string | undefined;
    if (o.pidns !== undefined) {
      if (typeof o.pidns !== 'string' || !/^(own|[0-9]+)$/.test(o.pidns)) throw new PolicyError(`${where}: "pidns" must be "own" or a namespace inode number as a string`);
      pidns = o.pidns;
    }
    return { index: i + 1, line: lines[i] ?? 0, path, action: o.action, uids, pidns };
  });
  return { rules };
}

/**
 * The path of `name` below `parent` as rules see it: a number at the root is
 * `<pid>`, a number right below `<pid>/task` is `<tid>`. Pure.
 */
export function policyPath(parent: readonly string[], name: string): string[] {
  const numeric = /^[0-9]+$/.test(name);
  if (numeric && parent.length === 0) return ['<pid>'];
  if (numeric && parent.length === 2 && parent[0] === '<pid>' && parent[1] === 'task') return [...parent, '<tid>'];
  return [...parent, name];
}

function matches(pattern: readonly string[], path: readonly string[]): boolean {
  if (pattern.length === 0) return path.length === 0;
  const [head, ...rest] = pattern;
  if (head === '**') {
    for (let k = 0; k <= path.length; k++) if (matches(rest, path.slice(k))) return true;
    return false;
  }
  if (path.length === 0) return false;
  return (head === '*' || head === path[0]) && matches(rest, path.slice(1));
}

export interface PolicyRequest {
  uid: number;
  /** the view's pid namespace inode, or "own" */
  pidns: string;
}

/** The first rule that matches `path` for this request, or undefined. Pure. */
export function matchRule(policy: Policy, path: readonly string[], req: PolicyRequest): PolicyRule | undefined {
  return policy.rules.find(
    (r) => (r.uids === undefined || r.uids.includes(req.uid)) && (r.pidns === undefined || r.pidns === req.pidns) && matches(r.path, path),
  );
}

/**
 * What the policy does to `path`: 'hide' or 'deny' for the entry itself,
 * 'deny' also when an ancestor is denied (the walk below it is refused).
 */
export interface PathDecision {
  action: PolicyAction;
  rule: PolicyRule;
}

export function decidePath(policy: Policy, path: readonly string[], req: PolicyRequest): PathDecision | undefined {
  const own = matchRule(policy, path, req);
  if (own) return { action: own.action, rule: own };
  for (let k = path.length - 1; k >= 1; k--) {
    const r = matchRule(policy, path.slice(0, k), req);
    if (r) return { action: r.action === 'hide' ? 'hide' : 'deny', rule: r };
  }
  return undefined;
}
