/**
 * The credentials the ptrace access rules look at, for one task (a thread: creds
 * are per thread, kernel/cred.c). Produced by src/host/credentials.ts; the
 * policy only reads them.
 *
 * Ids are as seen from the daemon's user namespace (what /proc shows it). In
 * the initial user namespace every kuid is mapped, so equal numbers mean equal
 * kuids. A daemon inside a user namespace sees unmapped ids as the overflow
 * uid (65534) and could take two different kuids for equal: run it in the
 * initial namespace.
 */
export interface IdSet {
  real: number;
  effective: number;
  saved: number;
  fs: number;
}

/** One user namespace, from NS_GET_OWNER_UID / NS_GET_PARENT (native/ns_info.cc). */
export interface UserNsLevel {
  /** nsfs inode: the N of "user:[N]" */
  ino: bigint;
  /** euid of the namespace's creator, seen from the daemon's namespace */
  ownerUid: number;
}

export interface Credentials {
  /** the task id these creds were read from */
  tid: number;
  /** thread group id (status Tgid) */
  tgid: number;
  /** parent's tgid (status PPid); 0 for init and kernel threads' parent */
  ppid: number;
  /** tgid of the tracer (status TracerPid), 0 if not traced */
  tracerPid: number;
  uid: IdSet;
  gid: IdSet;
  groups: number[];
  /** CapPrm */
  capPermitted: bigint;
  /** CapEff */
  capEffective: bigint;
  /**
   * The task's user namespace first, then its ancestors up to and including the
   * daemon's own namespace (the last entry).
   */
  userNs: UserNsLevel[];
  /** false for kernel threads and zombies/exiting tasks (no mm_struct) */
  hasMm: boolean;
  /**
   * get_dumpable(mm) == SUID_DUMP_USER, resolved to false when it cannot be
   * told apart (see src/host/credentials.ts readDumpable).
   */
  dumpable: boolean;
  /**
   * Index into `userNs` of mm->user_ns (the namespace whose CAP_SYS_PTRACE a
   * non-dumpable target requires, kernel/ptrace.c). When not exactly known, the
   * outermost candidate: needing the capability higher up is never wider.
   */
  mmUserNsIndex: number;
  /** stat field 22, clock ticks after boot: with tid, the task's identity */
  startTime: bigint;
}

/** include/uapi/linux/capability.h */
export const CAP_SYS_PTRACE = 19;
export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;

export function hasCap(set: bigint, cap: number): boolean {
  return ((set >> BigInt(cap)) & 1n) === 1n;
}
