/**
 * The ptrace check a protected per-process file makes (its entry's rule, from
 * src/policy/file-modes.ts), for the request's caller against the node's task.
 * Nodes call this and never decide on their own.
 *
 * Numbering: the target's credentials are read in its view (Tgid, PPid and
 * TracerPid in the view's pid namespace), so the caller's thread group is taken
 * in the same numbering; a caller outside the view can be neither the target's
 * thread group, nor its tracer, nor its ancestor there (the narrower answer).
 */
import { FsError, hasCode } from '../fuse/errno';
import type { RequestContext } from '../fuse/request';
import { readAccessEnv } from '../host/access-env';
import { readCallerCredentials, readCredentials } from '../host/credentials';
import { mayAccess, type AccessEnv } from '../policy/access';
import type { Credentials } from '../policy/credentials';
import { mayAccessFile, type FileAccessRule } from '../policy/file-modes';
import { PTRACE_MODE_NOAUDIT, PTRACE_MODE_READ_FSCREDS } from '../policy/ptrace-mode';
import type { ProcessRef } from '../proc/process-ref';

/**
 * Throws the rule's errno (EACCES or EPERM) when the caller may not use the
 * file, ESRCH when the node's task is gone (or its number now names another
 * task), and for __mem_open users ESRCH when the task has no mm (zombie, kernel
 * thread), which the kernel answers before any ptrace check. Returns the
 * target's credentials as read.
 */
export function checkFileAccess(rule: FileAccessRule, ctx: RequestContext, ref: ProcessRef): Credentials | undefined {
  if (rule.mode === null || rule.errno === null) return undefined;
  const target = readCredentials(ref.host, ref.tid);
  if (target.startTime !== ref.startTime) throw new FsError('ESRCH', `process ${ref.tid} was replaced`);
  if (rule.viaMmAccess && !target.hasMm) {
    // mm_access returns NULL without a ptrace check for a task without an mm.
    if (rule.noMm === 'ESRCH') throw new FsError('ESRCH', `process ${ref.tid} has no mm`);
    return target;
  }
  // A caller outside our pid namespace (pid 0) cannot be identified: deny.
  if (ctx.caller.pid <= 0) throw new FsError(rule.errno, 'caller not visible in our pid namespace');
  const { who, env } = callerSide(ctx, ref, target);
  const d = mayAccessFile(rule, who, target, env);
  if (!d.allow) throw new FsError(d.errno, d.decision.allow ? d.errno : d.decision.reason);
  return target;
}

/**
 * ptrace_may_access(task, PTRACE_MODE_READ_FSCREDS | PTRACE_MODE_NOAUDIT) for the
 * caller: what do_task_stat, hidepid and friends use to decide how much to show.
 * A caller or target we cannot read counts as "may not".
 */
export function callerMayRead(ctx: RequestContext, ref: ProcessRef): boolean {
  if (ctx.caller.pid <= 0) return false;
  try {
    const target = readCredentials(ref.host, ref.tid);
    if (target.startTime !== ref.startTime) return false;
    const { who, env } = callerSide(ctx, ref, target);
    return mayAccess(who, target, PTRACE_MODE_READ_FSCREDS | PTRACE_MODE_NOAUDIT, env).allow;
  } catch (e) {
    // Gone, or credentials we may not read (pid 1 here: its user namespace link
    // is EACCES even for root): the narrower answer, as the kernel gives it.
    if (e instanceof FsError || hasCode(e, 'EACCES', 'EPERM', 'ENOENT', 'ESRCH')) return false;
    throw e;
  }
}

/** The caller's credentials, numbered as in the target's view, and what the decision needs besides. */
export function callerCredentials(ctx: RequestContext): Credentials {
  const who = readCallerCredentials(ctx.view.mount.own, ctx.caller.pid);
  if (ctx.view.isOwn) return who;
  const { tid, tgid } = ctx.callerInView();
  // -1 matches no task: outside the view the caller is nobody's group, tracer or ancestor.
  return { ...who, tid: tid || -1, tgid: tgid || -1, ppid: -1 };
}

function callerSide(ctx: RequestContext, ref: ProcessRef, target: Credentials): { who: Credentials; env: AccessEnv } {
  const who = callerCredentials(ctx);
  return { who, env: readAccessEnv(ref.host, who, target, ref.view.mount.access) };
}
