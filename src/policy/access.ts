/**
 * "May caller C access task T in ptrace mode M": kernel/ptrace.c
 * __ptrace_may_access with the commoncap and Yama LSMs, as pure functions of
 * the two tasks' credentials (SPEC-57..61). ptrace(2), "Ptrace access mode
 * checking", describes the same steps:
 *
 *   1. If the calling thread and the target thread are in the same thread
 *      group, access is always allowed.
 *   2-3. If the caller's fs (FSCREDS) or real (REALCREDS) uid and gid match the
 *      target's real, effective and saved ids, or the caller has CAP_SYS_PTRACE
 *      in the target's user namespace, go on; otherwise deny.
 *   4. Deny if the target's dumpable attribute is not SUID_DUMP_USER and the
 *      caller lacks CAP_SYS_PTRACE in the target mm's user namespace.
 *   5. The LSMs: commoncap (permitted-set subset or CAP_SYS_PTRACE) and Yama.
 *
 * Every check is one small function returning a result; `mayAccess` chains
 * them and logs the decision under debug('procfuse:access').
 *
 * Other LSMs (SELinux, AppArmor, Smack: SPEC-64) are not modelled.
 */
import createDebug from 'debug';

import { CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_PTRACE, hasCap, type Credentials, type UserNsLevel } from './credentials';
import {
  formatPtraceMode,
  PTRACE_MODE_ATTACH,
  PTRACE_MODE_FSCREDS,
  PTRACE_MODE_REALCREDS,
} from './ptrace-mode';

const log = createDebug('procfuse:access');

export type YamaScope = 0 | 1 | 2 | 3;

/** What the decision needs beyond the two tasks' credentials. */
export interface AccessEnv {
  /** /proc/sys/kernel/yama/ptrace_scope; null when Yama is not loaded */
  yamaScope: YamaScope | null;
  /**
   * The caller's thread group is the target's or one of its ancestors
   * (yama_lsm.c task_is_descendant, computed by the host layer from the PPid
   * chain: see src/host/ancestry.ts). Only Yama scope 1 reads it.
   */
  callerIsAncestor?: boolean;
  /**
   * The caller shares the target's mm without being in its thread group
   * (a CLONE_VM sibling). /proc does not show this, so the host layer leaves it
   * false; only mayAccessMm reads it.
   */
  sameMm?: boolean;
}

export type AllowRule = 'same-thread-group' | 'same-mm' | 'uid-gid-match' | 'cap-sys-ptrace' | 'perfmon-capable';
export type DenyRule =
  | 'invalid-mode'
  | 'caller-not-visible'
  | 'uid-gid-mismatch'
  | 'not-dumpable'
  | 'commoncap-not-subset'
  | 'yama-scope-1'
  | 'yama-scope-2'
  | 'yama-scope-3';

export type Decision =
  | { allow: true; rule: AllowRule }
  | { allow: false; errno: 'EACCES'; rule: DenyRule; reason: string };

/** One check's answer: pass (noting whether CAP_SYS_PTRACE was what let it pass) or deny. */
type Check = { pass: true; byCap: boolean } | { pass: false; rule: DenyRule; reason: string };

const PASS: Check = { pass: true, byCap: false };
const PASS_BY_CAP: Check = { pass: true, byCap: true };

/**
 * security/commoncap.c cap_capable: does `caller` have `cap` in the namespace
 * whose chain (itself first, ancestors after) is `ns`?
 *
 * Walk from the namespace upward: in the caller's own namespace its effective
 * set decides; a namespace whose parent is the caller's and whose owner is the
 * caller's euid grants everything; once the walk is no deeper than the
 * caller's namespace, the caller is in a sibling or child namespace and has
 * nothing (so full caps inside a child namespace never reach its parent).
 */
export function nsCapable(caller: Credentials, ns: readonly UserNsLevel[], cap: number): boolean {
  const own = caller.userNs;
  if (own.length === 0 || ns.length === 0) return false;
  // Both chains end at the daemon's namespace; levels are counted from there.
  if (own[own.length - 1]!.ino !== ns[ns.length - 1]!.ino) return false;
  const callerLevel = own.length - 1;
  for (let i = 0; i < ns.length; i++) {
    const level = ns.length - 1 - i;
    if (ns[i]!.ino === own[0]!.ino) return hasCap(caller.capEffective, cap);
    if (level <= callerLevel) return false;
    if (ns[i + 1]?.ino === own[0]!.ino && ns[i]!.ownerUid === caller.uid.effective) return true;
  }
  return false;
}

/**
 * kernel/ptrace.c ptrace_has_cap: CAP_SYS_PTRACE in `ns`, always from the
 * caller's current (effective) creds, whatever FSCREDS/REALCREDS says.
 */
function hasPtraceCap(caller: Credentials, ns: readonly UserNsLevel[]): boolean {
  return nsCapable(caller, ns, CAP_SYS_PTRACE);
}

/** kernel/ptrace.c __ptrace_may_access: exactly one of FSCREDS/REALCREDS, else WARN + EPERM. */
export function checkModeValid(mode: number): Check {
  const fs = (mode & PTRACE_MODE_FSCREDS) !== 0;
  const real = (mode & PTRACE_MODE_REALCREDS) !== 0;
  if (fs === real) return { pass: false, rule: 'invalid-mode', reason: 'mode needs exactly one of FSCREDS and REALCREDS' };
  return PASS;
}

/** A FUSE caller pid of 0 is not visible in the daemon's pid namespace (fs/fuse/dev.c): deny. */
export function checkCallerVisible(caller: Credentials): Check {
  if (caller.tid <= 0) return { pass: false, rule: 'caller-not-visible', reason: 'caller is outside our pid namespace' };
  return PASS;
}

/** kernel/ptrace.c __ptrace_may_access: same_thread_group(task, current) allows with no LSM. */
export function isSameThreadGroup(caller: Credentials, target: Credentials): boolean {
  return caller.tgid === target.tgid;
}

/**
 * kernel/ptrace.c __ptrace_may_access: the caller's fsuid/fsgid (FSCREDS) or
 * real uid/gid (REALCREDS) must equal the target's real, effective and saved
 * uid and gid, or the caller needs CAP_SYS_PTRACE in the target's user ns.
 * Supplementary groups play no part.
 */
export function checkUidGidMatch(caller: Credentials, target: Credentials, mode: number): Check {
  const fs = (mode & PTRACE_MODE_FSCREDS) !== 0;
  const uid = fs ? caller.uid.fs : caller.uid.real;
  const gid = fs ? caller.gid.fs : caller.gid.real;
  const t = target;
  if (
    uid === t.uid.real && uid === t.uid.effective && uid === t.uid.saved &&
    gid === t.gid.real && gid === t.gid.effective && gid === t.gid.saved
  ) {
    return PASS;
  }
  if (hasPtraceCap(caller, target.userNs)) return PASS_BY_CAP;
  const kind = fs ? 'fs' : 'real';
  return {
    pass: false,
    rule: 'uid-gid-mismatch',
    reason:
      `caller ${kind} uid/gid ${uid}/${gid} != target uids ${t.uid.real}/${t.uid.effective}/${t.uid.saved} ` +
      `gids ${t.gid.real}/${t.gid.effective}/${t.gid.saved}, and no CAP_SYS_PTRACE in the target's user namespace`,
  };
}

/**
 * kernel/ptrace.c __ptrace_may_access (task_still_dumpable since 6.18.31): a
 * target whose mm is not SUID_DUMP_USER needs CAP_SYS_PTRACE in mm->user_ns.
 * A task without an mm is treated the same, with the outermost namespace
 * (its saved user_dumpable is not visible; init_user_ns is the kernel's fallback).
 */
export function checkDumpable(caller: Credentials, target: Credentials): Check {
  if (target.hasMm && target.dumpable) return PASS;
  const mmNs = target.hasMm ? target.userNs.slice(target.mmUserNsIndex) : target.userNs.slice(-1);
  if (hasPtraceCap(caller, mmNs)) return PASS_BY_CAP;
  return {
    pass: false,
    rule: 'not-dumpable',
    reason: target.hasMm
      ? "target is not dumpable and caller lacks CAP_SYS_PTRACE in its mm's user namespace"
      : 'target has no mm and caller lacks CAP_SYS_PTRACE',
  };
}

/**
 * security/commoncap.c cap_ptrace_access_check: allow if caller and target
 * share a user namespace and the target's permitted set is a subset of the
 * caller's EFFECTIVE set (FSCREDS) or PERMITTED set (REALCREDS); else the
 * caller needs CAP_SYS_PTRACE in the target's user namespace.
 */
export function checkCommoncap(caller: Credentials, target: Credentials, mode: number): Check {
  const callerCaps = mode & PTRACE_MODE_FSCREDS ? caller.capEffective : caller.capPermitted;
  const sameNs = caller.userNs[0]?.ino === target.userNs[0]?.ino;
  if (sameNs && (target.capPermitted & ~callerCaps) === 0n) return PASS;
  if (hasPtraceCap(caller, target.userNs)) return PASS_BY_CAP;
  const set = mode & PTRACE_MODE_FSCREDS ? 'effective' : 'permitted';
  return {
    pass: false,
    rule: 'commoncap-not-subset',
    reason: sameNs
      ? `target permitted caps ${hex(target.capPermitted)} not within caller ${set} ${hex(callerCaps)}`
      : 'caller is in another user namespace and lacks CAP_SYS_PTRACE in the target\'s',
  };
}

/**
 * security/yama/yama_lsm.c yama_ptrace_access_check, ATTACH modes only:
 * 0 no restriction; 1 the caller must be an ancestor of the target, or its
 * tracer already (ptracer_exception_found), or have CAP_SYS_PTRACE in the
 * target's user ns; 2 CAP_SYS_PTRACE required; 3 never.
 *
 * Not seen: PR_SET_PTRACER exceptions (the target naming the caller or
 * PR_SET_PTRACER_ANY) live only in Yama's kernel list. Scope 1 therefore
 * denies some accesses the kernel would allow, never the reverse.
 */
export function checkYama(caller: Credentials, target: Credentials, mode: number, env: AccessEnv): Check {
  if (!(mode & PTRACE_MODE_ATTACH) || env.yamaScope === null || env.yamaScope === 0) return PASS;
  switch (env.yamaScope) {
    case 1:
      if (env.callerIsAncestor) return PASS;
      if (target.tracerPid !== 0 && target.tracerPid === caller.tgid) return PASS;
      if (hasPtraceCap(caller, target.userNs)) return PASS_BY_CAP;
      return { pass: false, rule: 'yama-scope-1', reason: 'Yama scope 1: caller is not an ancestor or tracer of the target' };
    case 2:
      if (hasPtraceCap(caller, target.userNs)) return PASS_BY_CAP;
      return { pass: false, rule: 'yama-scope-2', reason: 'Yama scope 2: CAP_SYS_PTRACE required' };
    default:
      return { pass: false, rule: 'yama-scope-3', reason: 'Yama scope 3: no attach' };
  }
}

/**
 * include/linux/capability.h perfmon_capable(): CAP_PERFMON or CAP_SYS_ADMIN
 * in the initial user namespace (here: the daemon's, the last level).
 *
 * Observed on this machine's kernel (6.18.44) and not in SPEC.md: opening
 * maps, smaps, smaps_rollup and numa_maps succeeds for such a caller even when
 * the ptrace READ check fails (other uid, non-dumpable target); mem does not.
 * The differential test (test/integration/access-kernel.test.ts) pins it.
 */
export function isPerfmonCapable(caller: Credentials): boolean {
  if (caller.userNs.length !== 1) return false;
  return hasCap(caller.capEffective, CAP_PERFMON) || hasCap(caller.capEffective, CAP_SYS_ADMIN);
}

/** __ptrace_may_access followed by security_ptrace_access_check (commoncap, then Yama). */
export function mayAccess(caller: Credentials, target: Credentials, mode: number, env: AccessEnv): Decision {
  return logged(caller, target, mode, decide(caller, target, mode, env));
}

/**
 * kernel/fork.c mm_access: the ptrace check is skipped when the target's mm is
 * the caller's own (SPEC-8), which is how /proc/self/mem always opens. Same
 * thread group implies same mm; a CLONE_VM sibling in another thread group is
 * only recognised if the host layer sets env.sameMm (it cannot see it in /proc,
 * so such a sibling goes through the full check: narrower, never wider).
 */
export function mayAccessMm(caller: Credentials, target: Credentials, mode: number, env: AccessEnv): Decision {
  const visible = checkCallerVisible(caller);
  if (visible.pass && (isSameThreadGroup(caller, target) || env.sameMm)) {
    return logged(caller, target, mode, { allow: true, rule: 'same-mm' });
  }
  return mayAccess(caller, target, mode, env);
}

function decide(caller: Credentials, target: Credentials, mode: number, env: AccessEnv): Decision {
  const first = checkModeValid(mode);
  if (!first.pass) return deny(first);
  const visible = checkCallerVisible(caller);
  if (!visible.pass) return deny(visible);
  if (isSameThreadGroup(caller, target)) return { allow: true, rule: 'same-thread-group' };
  let byCap = false;
  for (const check of [
    () => checkUidGidMatch(caller, target, mode),
    () => checkDumpable(caller, target),
    () => checkCommoncap(caller, target, mode),
    () => checkYama(caller, target, mode, env),
  ]) {
    const r = check();
    if (!r.pass) return deny(r);
    byCap ||= r.byCap;
  }
  return { allow: true, rule: byCap ? 'cap-sys-ptrace' : 'uid-gid-match' };
}

function deny(c: Check & { pass: false }): Decision {
  return { allow: false, errno: 'EACCES', rule: c.rule, reason: c.reason };
}

function logged(caller: Credentials, target: Credentials, mode: number, d: Decision): Decision {
  if (log.enabled) {
    log(
      '%s: caller %d (uid %d) -> target %d (uid %d), mode %s, rule %s%s',
      d.allow ? 'allow' : 'deny',
      caller.tid,
      caller.uid.fs,
      target.tid,
      target.uid.effective,
      formatPtraceMode(mode),
      d.rule,
      d.allow ? '' : `: ${d.reason}`,
    );
  }
  return d;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
