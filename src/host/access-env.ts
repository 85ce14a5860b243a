/**
 * The host facts the access policy needs besides credentials: the Yama scope
 * and, for scope 1, whether the caller is an ancestor of the target.
 */
import { FsError, hasCode } from '../fuse/errno';
import { type AccessEnv, type YamaScope } from '../policy/access';
import { type Credentials } from '../policy/credentials';
import { type HostProc } from './host-proc';

/**
 * /proc/sys/kernel/yama/ptrace_scope, or null when Yama is not loaded (the
 * file is absent, as on this project's reference machine).
 */
export function readYamaScope(host: HostProc): YamaScope | null {
  let text: string;
  try {
    text = host.readText('sys', 'kernel', 'yama', 'ptrace_scope');
  } catch (e) {
    if ((e instanceof FsError && e.code === 'ENOENT') || hasCode(e, 'ENOENT')) return null;
    throw e;
  }
  const n = Number(text.trim());
  if (n === 0 || n === 1 || n === 2 || n === 3) return n;
  throw new Error(`unexpected yama ptrace_scope ${JSON.stringify(text)}`);
}

/**
 * security/yama/yama_lsm.c task_is_descendant: walk the target's thread group
 * leaders up through real_parent (status PPid is its tgid) until pid 0; true
 * if the caller's thread group is met. A task that disappears mid-walk ends
 * it with false (the narrower answer).
 */
export function isAncestorOf(host: HostProc, callerTgid: number, targetTgid: number): boolean {
  let walker = targetTgid;
  for (let steps = 0; walker > 0 && steps < 4096; steps++) {
    if (walker === callerTgid) return true;
    try {
      walker = Number(host.status(walker).get('PPid') ?? '0');
    } catch (e) {
      if (e instanceof FsError) return false;
      throw e;
    }
  }
  return false;
}

export interface AccessEnvOptions {
  /** overrides /proc/sys/kernel/yama/ptrace_scope (null: no Yama) */
  yamaScope?: YamaScope | null;
}

/** AccessEnv for one decision; the ancestry walk runs only when Yama scope 1 needs it. */
export function readAccessEnv(host: HostProc, caller: Credentials, target: Credentials, opts: AccessEnvOptions = {}): AccessEnv {
  const yamaScope = opts.yamaScope !== undefined ? opts.yamaScope : readYamaScope(host);
  return {
    yamaScope,
    callerIsAncestor: yamaScope === 1 ? isAncestorOf(host, caller.tgid, target.tgid) : false,
    sameMm: false,
  };
}
