/**
 * The ptrace check a protected per-process file makes (table in
 * src/policy/file-modes.ts), for the FUSE caller against the node's task.
 * Nodes call this and never decide on their own.
 */
import type { Caller } from '../fuse/caller';
import { FsError, hasCode } from '../fuse/errno';
import { readAccessEnv } from '../host/access-env';
import { readCallerCredentials, readCredentials } from '../host/credentials';
import { mayAccess, type AccessEnv } from '../policy/access';
import type { Credentials } from '../policy/credentials';
import { FILE_ACCESS, mayAccessFile, type ProcPidFileName } from '../policy/file-modes';
import { PTRACE_MODE_NOAUDIT, PTRACE_MODE_READ_FSCREDS } from '../policy/ptrace-mode';
import type { ProcessRef } from '../tree/process-ref';

const MEM_OPEN_FILES = new Set<ProcPidFileName>(['mem', 'environ', 'auxv']);

/**
 * Throws the file's errno (EACCES or EPERM) when the caller may not use it,
 * ESRCH when the node's task is gone (or its pid now names another task), and
 * for __mem_open users ESRCH when the task has no mm (zombie, kernel thread;
 * Linux >= 6.15, SPEC-10), which the kernel answers before any ptrace check. Returns the target's credentials as read.
 */
export function checkFileAccess(file: ProcPidFileName, caller: Caller, ref: ProcessRef): Credentials | undefined {
  const rule = FILE_ACCESS[file];
  if (rule.mode === null || rule.errno === null) return undefined;
  const target = readCredentials(ref.host, ref.tid);
  if (target.startTime !== ref.startTime) throw new FsError('ESRCH', `process ${ref.tid} was replaced`);
  if (rule.viaMmAccess && !target.hasMm) {
    // mm_access returns NULL without a ptrace check for a task without an mm.
    // __mem_open users (mem, environ, auxv) turn that into ESRCH (Linux >= 6.15);
    // proc_maps_open users open and read nothing (verified on 6.18).
    if (MEM_OPEN_FILES.has(file)) throw new FsError('ESRCH', `process ${ref.tid} has no mm`);
    return target;
  }
  // A caller outside our pid namespace (pid 0) cannot be identified: deny.
  if (caller.pid <= 0) throw new FsError(rule.errno, 'caller not visible in our pid namespace');
  const { who, env } = callerSide(caller, ref, target);
  const d = mayAccessFile(file, who, target, env);
  if (!d.allow) throw new FsError(d.errno, d.decision.allow ? d.errno : d.decision.reason);
  return target;
}

/**
 * ptrace_may_access(task, PTRACE_MODE_READ_FSCREDS | PTRACE_MODE_NOAUDIT) for the
 * caller: what do_task_stat and friends use to decide how much to show. A caller
 * or target we cannot read counts as "may not".
 */
export function callerMayRead(caller: Caller, ref: ProcessRef): boolean {
  if (caller.pid <= 0) return false;
  try {
    const target = readCredentials(ref.host, ref.tid);
    if (target.startTime !== ref.startTime) return false;
    const { who, env } = callerSide(caller, ref, target);
    return mayAccess(who, target, PTRACE_MODE_READ_FSCREDS | PTRACE_MODE_NOAUDIT, env).allow;
  } catch (e) {
    // Gone, or credentials we may not read (pid 1 here: its user namespace link
    // is EACCES even for root): the narrower answer, as the kernel gives it.
    if (e instanceof FsError || hasCode(e, 'EACCES', 'EPERM', 'ENOENT', 'ESRCH')) return false;
    throw e;
  }
}

/** The caller's credentials and what the decision needs besides (Yama, user namespaces). */
function callerSide(caller: Caller, ref: ProcessRef, target: Credentials): { who: Credentials; env: AccessEnv } {
  const who = readCallerCredentials(ref.host, caller.pid);
  return { who, env: readAccessEnv(ref.host, who, target, ref.ctx.access) };
}
