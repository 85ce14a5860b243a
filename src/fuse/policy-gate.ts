/**
 * Where the operator's --policy meets the request path: it keeps each live node
 * id's path as rules see it (src/policy/policy-file.ts policyPath; the root's
 * is []) and refuses what a rule hides or denies, before any node is asked.
 */
import createDebug from 'debug';

import { decidePath, EMPTY_POLICY, policyPath, type PathDecision, type Policy } from '../policy/policy-file';
import { FsError } from './errno';
import { ROOT_ID } from './inode-table';
import type { DirEntry } from './node';
import type { RequestContext } from './request';

const log = createDebug('procfuse:access');

export class PolicyGate {
  /** The operator's policy; replaced on reload. */
  policy: Policy = EMPTY_POLICY;
  private readonly paths = new Map<number, string[]>([[ROOT_ID, []]]);

  private decide(path: string[] | undefined, ctx: RequestContext): PathDecision | undefined {
    if (!path || this.policy.rules.length === 0) return undefined;
    return decidePath(this.policy, path, { uid: ctx.caller.uid, pidns: ctx.view.pidNs?.toString() ?? 'own' });
  }

  /** `hide` answers as if absent, `deny` refuses. */
  private refuse(d: PathDecision, path: string[], ctx: RequestContext, op: string): never {
    log('policy rule %d (line %d): %s %s by pid %d uid %d: %s', d.rule.index, d.rule.line, op, path.join('/'), ctx.caller.pid, ctx.caller.uid, d.action);
    throw new FsError(d.action === 'hide' ? 'ENOENT' : 'EACCES', `policy rule ${d.rule.index}: ${d.action}`);
  }

  /** Before a lookup of `name` in `parent`: a denied directory cannot be walked, a hidden entry is not there. */
  lookup(parent: number, name: string, ctx: RequestContext): string[] | undefined {
    const parentPath = this.paths.get(parent);
    if (!parentPath) return undefined;
    const up = this.decide(parentPath, ctx);
    if (up?.action === 'deny') this.refuse(up, parentPath, ctx, 'lookup in');
    const path = policyPath(parentPath, name);
    const own = this.decide(path, ctx);
    if (own?.action === 'hide') this.refuse(own, path, ctx, 'lookup');
    return path;
  }

  /** After a successful lookup: the id's path. */
  remember(ino: number, path: string[] | undefined): void {
    if (path) this.paths.set(ino, path);
  }

  forget(ino: number): void {
    if (ino !== ROOT_ID) this.paths.delete(ino);
  }

  /** open, opendir, readlink: refused by any rule for the node's path. */
  check(ino: number, ctx: RequestContext, op: string): void {
    const path = this.paths.get(ino);
    const d = this.decide(path, ctx);
    if (d) this.refuse(d, path!, ctx, op);
  }

  /** readdir: hidden entries are not listed. */
  filter(ino: number, entries: DirEntry[], ctx: RequestContext): DirEntry[] {
    const dir = this.paths.get(ino);
    if (!dir || this.policy.rules.length === 0) return entries;
    return entries.filter((e) => e.name === '.' || e.name === '..' || this.decide(policyPath(dir, e.name), ctx)?.action !== 'hide');
  }
}
