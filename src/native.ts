/**
 * The C++ addon (native/), loaded from build/Release (or build/Debug).
 * Each member names the syscall or libfuse call behind it.
 */
import path from 'node:path';

export interface NativeRequest {
  id: number;
  op: 'lookup' | 'getattr' | 'setattr' | 'readlink' | 'open' | 'opendir' | 'readdir' | 'read' | 'write' | 'forget' | 'release';
  ino: number;
  /** the name looked up; for 'write', the bytes written */
  name?: Buffer;
  fh: number;
  flags: number;
  off: number;
  size: number;
  pid: number;
  uid: number;
  gid: number;
  umask: number;
}

export interface NativeAttr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch, used for atime, mtime and ctime */
  time: number;
}

export interface NativeEntry {
  ino: number;
  generation: number;
  attr: NativeAttr;
  entryTimeout: number;
  attrTimeout: number;
}

export interface NativeDirent {
  name: string;
  ino: number;
  mode: number;
  /** d_off cookie of this entry; the next one starts at pos + 1 */
  pos: number;
}

export interface NativeOpenFlags {
  directIo: boolean;
  keepCache: boolean;
  nonseekable: boolean;
}

export interface NativeFuseSession {
  /** fuse_session_new + fuse_session_mount + fuse_session_loop_mt on worker threads */
  mount(): void;
  /** fuse_session_exit + umount2(MNT_DETACH), abort the connection if still busy */
  close(): void;
  replyErr(id: number, errno: number): void;
  replyEntry(id: number, entry: NativeEntry): void;
  replyAttr(id: number, attr: NativeAttr, timeout: number): void;
  replyOpen(id: number, fh: number, flags: NativeOpenFlags): void;
  replyReadlink(id: number, target: string | Buffer): void;
  replyDir(id: number, entries: NativeDirent[], off: number, size: number): void;
  replyBuf(id: number, data: Buffer): void;
  /** fuse_reply_write */
  replyWrite(id: number, count: number): void;
  /** the N of /sys/fs/fuse/connections/N, or -1 */
  connectionId(): number;
}

export interface NativeSessionOptions {
  allowOther: boolean;
  debug: boolean;
  threads: number;
  fsname: string;
  /** FUSE max_read in bytes; 0 = libfuse's default (1 MiB here) */
  maxRead?: number;
  /** how long the JS thread polls for the next request before sleeping (native/js_queue.h) */
  spinUs?: number;
}

export interface NativeTaskCreds {
  /** real, effective, saved, fs */
  uid: number[];
  gid: number[];
  groups: number[];
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  /** the task's /proc/<tid>/ns/user, or null when it is the daemon's own */
  userNs: string | null;
}

/** native/mem_reader.h FaultAction */
export const FAULT_ACTION = { eio: 1, short: 2, zeros: 3, eof: 4, delay: 5 } as const;

/** One address range of a compiled rule (native/mem_reader.h FaultEntry). */
export interface NativeFaultEntry {
  start: bigint;
  /** exclusive */
  end: bigint;
  action: (typeof FAULT_ACTION)[keyof typeof FAULT_ACTION];
  /** short: bytes (0 = to the next page boundary); delay: milliseconds */
  arg: number;
  /** 1-based; 0 = every read */
  nth: number;
  after: number;
  probability: number;
  seed: number;
  /** rule index: hit counter and precedence (lower wins) */
  rule: number;
}

export interface NativeFaultPlan {
  /** id from faultCounters */
  counters: number;
  entries: NativeFaultEntry[];
}
/** Who a host operation is done as: a FUSE request's caller (tid, fsuid, fsgid). */
export interface NativeCaller {
  pid: number;
  uid: number;
  gid: number;
}

/** What openAsReader gives back (native/reader_ops.cc OpenKind). */
export const OpenAsReaderKind = {
  /** a handle whose FUSE reads are preads as the reader of each read */
  Handle: 0,
  /** the fd itself; the caller closes it */
  Fd: 1,
  /** nothing: only whether the kernel lets this reader open it */
  Probe: 2,
  /** a handle whose FUSE reads are plain preads: the kernel decided everything at open */
  OpenerHandle: 3,
} as const;
export type OpenAsReaderKind = (typeof OpenAsReaderKind)[keyof typeof OpenAsReaderKind];

export interface NativeBinding {
  FuseSession: new (
    mountpoint: string,
    options: NativeSessionOptions,
    onRequest: (req: NativeRequest) => void,
  ) => NativeFuseSession;
  /**
   * open(taskDir) + openat(stat) + openat(mem, O_RDONLY|O_RDWR): a handle bound to
   * the mm of the task that taskDir (<procfs>/<n> or <procfs>/<tgid>/task/<tid>) names.
   * With `faults`, its reads apply those compiled rules on the FUSE thread
   * (native/mem_reader.cc FaultTable).
   */
  memOpen(taskDir: string, writable: boolean, faults?: NativeFaultPlan): number;
  /** a block of n hit counters for one generation of fault rules; returns its id */
  faultCounters(n: number): number;
  /** the hit counts of a counters block, by rule index */
  faultHits(id: number): number[];
  /** forgets a counters block (handles opened under it keep counting into it) */
  faultCountersDrop(id: number): void;
  /** a pread of the task's stat fd succeeds: not reaped */
  memAlive(handle: number): boolean;
  /** mem_rw semantics: bytes (short at a hole, empty when the mm is gone); throws EIO */
  memRead(handle: number, addr: bigint, len: number): Buffer;
  /** mem_rw write with FOLL_FORCE; returns bytes written */
  memWrite(handle: number, addr: bigint, data: Buffer): number;
  /**
   * A handle whose FUSE reads slice `data`. With renderAtRead, a read at offset 0
   * (or a first read) is forwarded to JS as op 'read', which renders, calls
   * setHandleData and answers; release is then forwarded as op 'release'. With
   * forwardWrites, writes are forwarded as op 'write' (and release too).
   */
  /**
   * A handle whose reads slice `data`. With renderAtRead, reads from offset 0
   * go to JS (op 'read') except the first one when `data` is given; with
   * forwardWrites, writes go to JS (op 'write'); with wholeLines, a read
   * returns whole lines (seq_read's whole records).
   */
  bufferHandle(data: Buffer | null, renderAtRead?: boolean, forwardWrites?: boolean, wholeLines?: boolean): number;
  setHandleData(handle: number, data: Buffer): void;
  /** drops a handle that the kernel never saw */
  closeHandle(handle: number): void;
  /**
   * ioctl(NS_GET_PARENT, and NS_GET_OWNER_UID with withOwner) from the namespace
   * that nsPath (a /proc/<pid>/ns/{user,pid} link) names up to the daemon's own
   */
  nsChain(nsPath: string, withOwner: boolean): Array<{ ino: bigint; ownerUid: number }>;
  /**
   * fsopen("proc") + fsconfig("pidns", fd of pidnsPath) + fsmount: the mount fd of a
   * private procfs instance for that pid namespace (null: the daemon's own)
   */
  procfsInstance(pidnsPath: string | null): number;
  /**
   * fork; the child takes these ids, groups and capabilities (setgroups,
   * setresgid, setresuid, capset), then the user namespace (setns), then
   * open(path, O_WRONLY) + write(data): the kernel decides for that task
   */
  writeAs(creds: NativeTaskCreds, path: string, data: Buffer): number;
  /**
   * open(2) of a host file on a reader-pool thread wearing the caller's fsuid/fsgid,
   * ids, groups and effective capabilities (native/reader_creds.h); rejects with the
   * kernel's errno (code 'EPERM', ...).
   */
  openAsReader(path: string, caller: NativeCaller, flags: number, kind: OpenAsReaderKind): Promise<number>;
  /** open(2) and read(2) to the end (at most maxBytes) of a host file, both as the caller */
  readAsReader(path: string, caller: NativeCaller, maxBytes: number): Promise<Buffer>;
  /** readlink(2) of a host path as the caller (see openAsReader) */
  readlinkAsReader(path: string, caller: NativeCaller): Promise<Buffer>;
}

function load(): NativeBinding {
  const root = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
  const candidates = ['build/Release/procfuse_native.node', 'build/Debug/procfuse_native.node'];
  let lastError: unknown;
  for (const c of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(path.join(root, c)) as NativeBinding;
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error(`procfuse: native addon not built (run npm ci or npm run build): ${String(lastError)}`);
}

export const native: NativeBinding = load();
