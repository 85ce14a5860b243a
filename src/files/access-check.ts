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
import createDebug from 'debug';

import { audit } from '../audit/audit-log';
import { FsError, hasCode, type ErrnoName } from '../fuse/errno';
import type { RequestContext } from '../fuse/request';
import { readAccessEnv } from '../host/access-env';
import { readCallerCredentials, readCredentials } from '../host/credentials';
import { mayAccess, type AccessEnv } from '../policy/access';
import type { Credentials } from '../policy/credentials';
import { mayAccessFile, type FileAccessRule } from '../policy/file-modes';
import { PTRACE_MODE_ATTACH, PTRACE_MODE_NOAUDIT, PTRACE_MODE_READ_FSCREDS } from '../policy/ptrace-mode';
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
 * Whether the caller is of the node's own thread group (both numbered in the
 * node's view): the kernel's identity exceptions (same_thread_group,
 * mm == current->mm) hold, and no reader-pool thread can stand in for it.
 */
export function callerIsTargetGroup(ctx: RequestContext, ref: ProcessRef): boolean {
  if (ctx.view !== ref.view) return false;
  const tgid = ctx.callerInView().tgid;
  return tgid !== 0 && tgid === ref.tgid;
}

/** The policy's answer for one rule, as an explanation (never thrown). */
export interface PolicyVerdict {
  allow: boolean;
  errno?: 'EACCES' | 'EPERM';
  /** the rule that decided (src/policy/access.ts AllowRule/DenyRule) */
  rule: string;
  reason?: string;
  /** the caller lives in the daemon's user namespace (its ids and capabilities are ours to compare) */
  callerInOurUserNs: boolean;
  /**
   * Yama (scope >= 1) judges this ATTACH-mode open by the opener's ancestry,
   * which a reader-pool thread does not share (yama_ptrace_access_check)
   */
  yamaByAncestry?: boolean;
}

/**
 * checkFileAccess's decision without throwing for a denial: what the policy
 * says, for the audit and debug logs beside the kernel's own verdict. Still
 * throws ESRCH when the node's task is gone or replaced.
 */
export function explainFileAccess(rule: FileAccessRule, ctx: RequestContext, ref: ProcessRef): PolicyVerdict {
  if (rule.mode === null || rule.errno === null) return { allow: true, rule: 'no-check', callerInOurUserNs: true };
  const target = readCredentials(ref.host, ref.tid);
  if (target.startTime !== ref.startTime) throw new FsError('ESRCH', `process ${ref.tid} was replaced`);
  if (ctx.caller.pid <= 0) {
    return { allow: false, errno: rule.errno, rule: 'caller-invisible', callerInOurUserNs: false };
  }
  const { who, env } = callerSide(ctx, ref, target);
  const callerInOurUserNs = who.userNs.length === 1;
  const yamaByAncestry = (rule.mode & PTRACE_MODE_ATTACH) !== 0 && (env.yamaScope ?? 0) >= 1;
  if (rule.viaMmAccess && !target.hasMm) return { allow: true, rule: 'no-mm', callerInOurUserNs, yamaByAncestry };
  const d = mayAccessFile(rule, who, target, env);
  if (d.allow) return { allow: true, rule: d.decision?.rule ?? 'no-check', callerInOurUserNs, yamaByAncestry };
  return {
    allow: false,
    errno: d.errno,
    rule: d.decision.allow ? 'denied' : d.decision.rule,
    reason: d.decision.allow ? undefined : d.decision.reason,
    callerInOurUserNs,
    yamaByAncestry,
  };
}

const log = createDebug('procfuse:access');
/** Policy/kernel disagreements already reported on stderr (one line per kind). */
const reported = new Set<string>();

/**
 * The decision for an operation the host kernel judged as the reader (an open
 * or readlink by the reader pool, whose error is `kernelErr`), beside the
 * policy's explanation. The kernel's verdict stands, except where the pool
 * thread is not exactly the reader: the kernel's exceptions for the reader's
 * own identity (same_thread_group in __ptrace_may_access, mm == current->mm in
 * mm_access) cannot hold for a daemon thread, so a reader opening its own
 * task's files is decided by the policy, which knows who it is; a caller of
 * another user namespace (the thread would hold every capability in
 * namespaces its euid owns: cap_capable) and the daemon's own process as
 * target (same_thread_group lets the thread pass) need both to allow.
 * Disagreements are logged; the open is audited.
 */
export function reconcileVerdicts(
  ctx: RequestContext,
  ref: ProcessRef,
  file: string,
  how: number | 'readlink',
  policy: PolicyVerdict,
  kernelErr: string | undefined,
): { allow: true } | { allow: false; errno: ErrnoName } {
  const kernelAllows = kernelErr === undefined;
  const itself = policy.allow && (policy.rule === 'same-thread-group' || policy.rule === 'same-mm');
  const daemonTarget = ref.view.isOwn && ref.tgid === process.pid;
  const kernelJudges = policy.callerInOurUserNs && !daemonTarget && !itself;
  // Under Yama the pool thread is nobody's ancestor: a refusal of it may be
  // Yama's, not the reader's; the policy, which models the reader's ancestry,
  // may then allow (never wider than the kernel for the reader).
  const yamaRefusal = !kernelAllows && policy.allow && policy.yamaByAncestry === true;
  const allow = itself || yamaRefusal || (kernelJudges ? kernelAllows : kernelAllows && policy.allow);
  const errno = ((kernelAllows ? policy.errno : kernelErr) ?? 'EACCES') as ErrnoName;
  if (kernelAllows !== policy.allow && !itself && !yamaRefusal) {
    const what = `${file}: policy ${policy.allow ? 'allows' : `denies (${policy.rule})`}, kernel ${kernelErr ?? 'allows'}`;
    log('disagreement for caller %d -> %d %s', ctx.caller.pid, ref.tid, what);
    const kind = `${file.replace(/\/\d+$/, '/N')}/${policy.rule}/${kernelErr ?? 'allow'}`;
    if (!reported.has(kind)) {
      reported.add(kind);
      console.error(`procfuse: the access policy and the kernel disagree (${kernelJudges ? "the kernel's verdict stands" : 'both must allow'}): ${what}`);
    }
  }
  audit(ctx, {
    file,
    how,
    target: { pid: ref.tid, startTime: ref.startTime },
    decision: allow ? 'allow' : 'deny',
    errno: allow ? undefined : errno,
    rule: kernelJudges ? 'kernel' : policy.rule,
    kernel: kernelErr ?? 'allow',
    policy: policy.allow ? `allow (${policy.rule})` : `${policy.errno} (${policy.rule})`,
  });
  return allow ? { allow: true } : { allow: false, errno };
}

/**
 * A check the host kernel makes for the reader: `probe` does the operation as
 * the reader on the reader pool (an open that is closed at once); its errno,
 * reconciled with the policy's explanation (reconcileVerdicts), decides.
 * Throws the denial's errno, or ESRCH when the task is gone.
 */
export async function judgeByProbe(
  rule: FileAccessRule,
  ctx: RequestContext,
  ref: ProcessRef,
  file: string,
  how: number,
  probe: () => Promise<unknown>,
): Promise<void> {
  let kernelErr: string | undefined;
  try {
    await probe();
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code !== 'string') throw e;
    kernelErr = code;
  }
  const policy = explainFileAccess(rule, ctx, ref);
  if (kernelErr === 'ENOENT' || kernelErr === 'ESRCH') throw new FsError('ESRCH', `${file}: ${kernelErr}`);
  const v = reconcileVerdicts(ctx, ref, file, how, policy, kernelErr);
  if (!v.allow) throw new FsError(v.errno, policy.reason ?? `the kernel refused ${file} to this reader`);
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
