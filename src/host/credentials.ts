/**
 * Reads one task's credentials from the host /proc for the access policy
 * (src/policy/access.ts). Creds are per thread, so this works for any task id,
 * including the thread id a FUSE request carries.
 *
 * Consistency: the task may change its creds, exec or exit while we read
 * several files. We read stat, status, the user namespace chain and the dump
 * owner, then status and stat again; a different start time (pid reused) or
 * different credential lines in status mean the answer could be a mix, and we
 * throw FsError('ESRCH') as for a task that went away.
 */
import { FsError, hasCode } from '../fuse/errno';
import { native } from '../native';
import { type Credentials, type IdSet, type UserNsLevel } from '../policy/credentials';
import { type HostProc } from './host-proc';
import { parseStat } from './parse-stat';
import { parseIdList, parseStatus } from './parse-status';

export type { Credentials, IdSet, UserNsLevel } from '../policy/credentials';

/** include/linux/sched.h: set on kernel threads (stat field 9, flags). */
const PF_KTHREAD = 0x00200000;

/** Where the facts /proc files do not hold come from; tests replace them. */
export interface CredentialSources {
  /** ioctl(NS_GET_PARENT/NS_GET_OWNER_UID) chain: native.nsChain */
  userNsChain(pid: number): UserNsLevel[];
  /** owner uid of /proc/<pid>/stat (fs/proc/base.c task_dump_owner) */
  dumpOwnerUid(pid: number): number;
  /**
   * uid (in our namespace) that uid 0 of the task's own user namespace maps to,
   * from /proc/<pid>/uid_map; null if 0 is unmapped.
   */
  nsRootUid(pid: number): number | null;
}

export function hostCredentialSources(host: HostProc): CredentialSources {
  return {
    userNsChain: (pid) => native.nsChain(host.path(pid, 'ns', 'user'), true),
    dumpOwnerUid: (pid) => host.lstat(pid, 'stat').uid,
    nsRootUid: (pid) => rootOfUidMap(host.readText(pid, 'uid_map')),
  };
}

/** Credentials of task `pid` (a tgid or any tid); FsError('ESRCH') if it is gone or changed meanwhile. */
export function readCredentials(host: HostProc, pid: number, sources = hostCredentialSources(host)): Credentials {
  if (!Number.isInteger(pid) || pid <= 0) throw new FsError('ESRCH', `no task ${pid}`);
  try {
    const stat1 = parseStat(host.readTaskText(pid, 'stat'));
    const status1 = host.readTaskText(pid, 'status');
    const userNs = sources.userNsChain(pid);
    const owner = sources.dumpOwnerUid(pid);
    // Only a task one level below us can have its ambiguity lifted by its own map.
    const nsRoot = userNs.length === 2 ? sources.nsRootUid(pid) : null;
    const status2 = host.readTaskText(pid, 'status');
    const stat2 = parseStat(host.readTaskText(pid, 'stat'));
    if (stat1.startTime !== stat2.startTime) throw new FsError('ESRCH', `task ${pid} was replaced while reading`);
    if (credLines(status1) !== credLines(status2)) throw new FsError('ESRCH', `task ${pid} changed credentials while reading`);
    return buildCredentials(pid, parseStatus(status2), stat2.fields, stat2.startTime, userNs, owner, nsRoot);
  } catch (e) {
    if (e instanceof FsError && e.code === 'ESRCH') throw e;
    if (hasCode(e, 'ENOENT', 'ESRCH')) throw new FsError('ESRCH', `task ${pid} is gone`);
    throw e;
  }
}

/**
 * The credentials of the thread that made a FUSE request: `tid` is the
 * request's pid, a thread id in our pid namespace (fs/fuse/dev.c). /proc/<tid>
 * resolves for any thread though readdir lists only leaders (SPEC-66), and
 * each thread has its own creds. A tid of 0 (caller invisible to us) cannot be
 * read: FsError('EACCES'), the answer the policy gives such callers.
 */
export function readCallerCredentials(host: HostProc, tid: number, sources = hostCredentialSources(host)): Credentials {
  if (tid === 0) throw new FsError('EACCES', 'caller is outside our pid namespace');
  return readCredentials(host, tid, sources);
}

/** The status lines that make up the credentials (their change means a mixed read). */
function credLines(status: string): string {
  return status
    .split('\n')
    .filter((l) => /^(Tgid|Uid|Gid|Groups|CapPrm|CapEff|NSpid):/.test(l))
    .join('\n');
}

function buildCredentials(
  tid: number,
  status: Map<string, string>,
  statFields: string[],
  startTime: bigint,
  userNs: UserNsLevel[],
  dumpOwner: number,
  nsRoot: number | null,
): Credentials {
  const uid = idSet(status.get('Uid'), 'Uid');
  const gid = idSet(status.get('Gid'), 'Gid');
  const flags = Number(statFields[8] ?? '0');
  // fs/proc/task_mmu.c task_mem prints the Vm* lines only when the task has an
  // mm: kernel threads and zombies have none.
  const hasMm = status.has('VmSize') && (flags & PF_KTHREAD) === 0;
  const { dumpable, mmUserNsIndex } = resolveDumpable(uid.effective, dumpOwner, userNs, hasMm, nsRoot);
  return {
    tid,
    tgid: Number(status.get('Tgid')),
    ppid: Number(status.get('PPid') ?? '0'),
    tracerPid: Number(status.get('TracerPid') ?? '0'),
    uid,
    gid,
    groups: parseIdList(status.get('Groups')),
    capPermitted: capSet(status.get('CapPrm'), 'CapPrm'),
    capEffective: capSet(status.get('CapEff'), 'CapEff'),
    userNs,
    hasMm,
    dumpable,
    mmUserNsIndex,
    startTime,
  };
}

/**
 * Dumpability from the owner of /proc/<pid>/stat. fs/proc/base.c
 * task_dump_owner makes per-pid files (not the /proc/<pid> directory, which
 * always shows the euid) owned by the task's euid when get_dumpable(mm) ==
 * SUID_DUMP_USER, and otherwise by uid 0 of mm->user_ns (or global root when
 * that namespace does not map 0).
 *
 * - owner != euid: not dumpable. mm->user_ns is an ancestor-or-self of the
 *   task's namespace; owner 0 fits ours (the outermost), another owner fits a
 *   namespace below ours, and we take the outermost one below ours.
 * - owner == euid: dumpable, or not dumpable with an mm namespace whose root
 *   IS the euid. The ambiguous case is a target whose euid is root of a
 *   candidate namespace: euid 0 (root of ours); for a task one level below us,
 *   an euid that its own uid_map maps 0 to (`nsRoot`); for a task deeper down,
 *   any euid (we cannot read the maps of the levels between). There we answer
 *   NOT dumpable: the policy then asks for
 *   CAP_SYS_PTRACE, which is never wider than the kernel. The cost is that a
 *   caller without CAP_SYS_PTRACE is refused a dumpable root target whose
 *   uids and caps it matches (e.g. two root processes that dropped
 *   CAP_SYS_PTRACE); the kernel would allow that.
 * - no mm: not dumpable, outermost namespace (kernel/ptrace.c
 *   task_still_dumpable falls back to init_user_ns).
 */
export function resolveDumpable(
  euid: number,
  dumpOwner: number,
  userNs: readonly UserNsLevel[],
  hasMm: boolean,
  nsRoot: number | null = null,
): { dumpable: boolean; mmUserNsIndex: number } {
  const outermost = Math.max(0, userNs.length - 1);
  const belowOurs = Math.max(0, userNs.length - 2);
  if (!hasMm) return { dumpable: false, mmUserNsIndex: outermost };
  if (dumpOwner !== euid) return { dumpable: false, mmUserNsIndex: dumpOwner === 0 ? outermost : belowOurs };
  if (euid === 0) return { dumpable: false, mmUserNsIndex: outermost };
  if (userNs.length === 2 && nsRoot !== euid) return { dumpable: true, mmUserNsIndex: 0 };
  if (userNs.length > 1) return { dumpable: false, mmUserNsIndex: belowOurs };
  return { dumpable: true, mmUserNsIndex: 0 };
}

/** uid_map lines "inside outside count" (kernel/user_namespace.c uid_m_show): where inside 0 goes. */
export function rootOfUidMap(text: string): number | null {
  for (const line of text.split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (inside === undefined || outside === undefined || count === undefined || Number.isNaN(count)) continue;
    if (inside <= 0 && 0 < inside + count) return outside - inside;
  }
  return null;
}

function idSet(value: string | undefined, name: string): IdSet {
  const ids = parseIdList(value);
  if (ids.length !== 4 || ids.some((n) => !Number.isInteger(n))) throw new Error(`malformed status ${name}: ${value}`);
  return { real: ids[0]!, effective: ids[1]!, saved: ids[2]!, fs: ids[3]! };
}

function capSet(value: string | undefined, name: string): bigint {
  if (!value || !/^[0-9a-f]+$/i.test(value)) throw new Error(`malformed status ${name}: ${value}`);
  return BigInt(`0x${value}`);
}
