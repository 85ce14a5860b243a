/**
 * /proc/<pid>, /proc/<pid>/task and /proc/<pid>/task/<tid>.
 * Linux: fs/proc/base.c tgid_base_stuff / tid_base_stuff, proc_task_lookup,
 * proc_task_readdir.
 *
 * A directory is a table of children: adding a file is one line here.
 */
import { FsError } from '../fuse/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { HostSnapshotFile, type SnapshotOptions } from '../files/host-snapshot-file';
import { renderMapsForReader, renderSmapsForReader } from '../files/maps-view';
import { MemFile } from '../files/mem';
import { ProcLink } from '../files/proc-link';
import { renderStatForReader } from '../files/stat';
import { renderLoginUidForReader, renderStatusForReader } from '../files/status';
import { IdMapFile } from '../files/id-map';
import { renderSyscallForReader, renderWchanForReader } from '../files/trace-files';
import { FILE_ACCESS } from '../policy/file-modes';
import { processAttr } from '../proc/attrs';
import { ProcessRef } from '../proc/process-ref';
import { statOnContainerClock } from '../resources/start-time';
import { checkPidAccess, checkPidVisible } from '../view/hidepid';
import { FdDir, NsDir } from './fd-dir';
import { HostDir } from './host-entry';
import { parsePidName } from './pid-name';

export interface EntrySpec {
  type: typeof S_IFDIR | typeof S_IFREG | typeof S_IFLNK;
  make: (ref: ProcessRef) => Node;
}

const file = (make: (ref: ProcessRef) => Node): EntrySpec => ({ type: S_IFREG, make });
const dir = (make: (ref: ProcessRef) => Node): EntrySpec => ({ type: S_IFDIR, make });
const link = (make: (ref: ProcessRef) => Node): EntrySpec => ({ type: S_IFLNK, make });
const host = (name: string, opts: SnapshotOptions = {}): EntrySpec =>
  file((p) => new HostSnapshotFile(p, name, opts));

/**
 * Entries shared by /proc/<pid> and /proc/<pid>/task/<tid>, in the kernel's
 * order: everything known about each entry is here — its kind, the host file,
 * its access rule (src/policy/file-modes.ts; a denial gives the rule's errno,
 * or for stat the masked text its renderer makes), its renderer, and whether it
 * renders at each read from offset 0. Decisions per file: docs/per-pid-files.md.
 */
const COMMON_ENTRIES: Record<string, EntrySpec> = {
  fd: dir((p) => new FdDir(p, 'fd')),
  fdinfo: dir((p) => new FdDir(p, 'fdinfo')),
  ns: dir((p) => new NsDir(p)),
  environ: host('environ', { mode: 0o400, access: FILE_ACCESS.environ }),
  auxv: host('auxv', { mode: 0o400, access: FILE_ACCESS.auxv }),
  status: host('status', { render: renderStatusForReader }),
  limits: host('limits'),
  cgroup: host('cgroup'),
  cmdline: host('cmdline'),
  // do_task_stat decides the masking for the task reading, at each read; start times on a
  // container's clock when its uptime is (src/resources/start-time.ts).
  stat: host('stat', { render: (b, ctx, ref) => statOnContainerClock(renderStatForReader(b, ctx, ref), ctx), atRead: true }),
  statm: host('statm'),
  maps: host('maps', { access: FILE_ACCESS.maps, render: renderMapsForReader, atRead: true, wholeLines: true }),
  mem: file((p) => new MemFile(p)),
  cwd: link((p) => new ProcLink(p, ['cwd'], FILE_ACCESS.cwd)),
  root: link((p) => new ProcLink(p, ['root'], FILE_ACCESS.root)),
  exe: link((p) => new ProcLink(p, ['exe'], FILE_ACCESS.exe)),
  smaps: host('smaps', { access: FILE_ACCESS.smaps, render: renderSmapsForReader, atRead: true }),
  smaps_rollup: host('smaps_rollup', { access: FILE_ACCESS.smaps_rollup }),
  comm: host('comm', { mode: 0o644 }),
  // Mount points relative to the TARGET's root (mounts_open_common): the host's bytes.
  mounts: host('mounts', { wholeLines: true }),
  mountinfo: host('mountinfo', { wholeLines: true }),
  oom_score: host('oom_score'),
  oom_score_adj: host('oom_score_adj', { mode: 0o644 }),
  cpuset: host('cpuset'),
  loginuid: host('loginuid', { mode: 0o644, render: renderLoginUidForReader }),
  sessionid: host('sessionid'),
  // Read for the opener's namespace; written with the writer's credentials (files/id-map.ts).
  uid_map: file((p) => new IdMapFile(p, 'uid_map')),
  gid_map: file((p) => new IdMapFile(p, 'gid_map')),
  projid_map: file((p) => new IdMapFile(p, 'projid_map')),
  setgroups: file((p) => new IdMapFile(p, 'setgroups')),
  // Both decide for the reader at read time (atRead): see files/trace-files.ts.
  wchan: host('wchan', { render: renderWchanForReader, atRead: true }),
  syscall: host('syscall', { mode: 0o400, render: renderSyscallForReader, atRead: true }),
  // The target's network namespace (proc_net); /proc/net is a link to self/net.
  net: dir((p) => new HostDir(p.host, p.hostPath('net').map(String))),
};

/** tgid_base_stuff: what /proc/<pid> holds. */
export const PID_DIR_ENTRIES: Record<string, EntrySpec> = {
  task: dir((p) => new TaskDir(p)),
  ...COMMON_ENTRIES,
};

/** tid_base_stuff: /proc/<pid>/task/<tid> has no task/. */
export const TID_DIR_ENTRIES: Record<string, EntrySpec> = { ...COMMON_ENTRIES };

function subdirCount(entries: Record<string, EntrySpec>): number {
  return Object.values(entries).filter((e) => e.type === S_IFDIR).length;
}

export class PidDir implements Node {
  constructor(readonly ref: ProcessRef) {}

  get key(): string {
    return `pid:${this.ref.key}`;
  }

  private get entries(): Record<string, EntrySpec> {
    return this.ref.isThread ? TID_DIR_ENTRIES : PID_DIR_ENTRIES;
  }

  getattr(ctx: RequestContext): Attr {
    if (!this.ref.isThread) checkPidVisible(ctx, this.ref);
    // nlink = 2 + subdirectories (proc_pid_make_inode + pid_entry_nlink).
    return processAttr(this.ref, [], S_IFDIR | 0o555, 2 + subdirCount(this.entries));
  }

  /** proc_pid_permission (hidepid) on the directory itself. */
  opendir(ctx: RequestContext): void {
    if (!this.ref.isThread) checkPidAccess(ctx, this.ref);
  }

  lookup(name: string, ctx: RequestContext): Node {
    if (!this.ref.isThread) checkPidAccess(ctx, this.ref);
    const spec = Object.hasOwn(this.entries, name) ? this.entries[name] : undefined;
    if (!spec) throw new FsError('ENOENT');
    // proc_pident_lookup: a task that is gone has no entries.
    if (!this.ref.alive()) throw new FsError('ENOENT');
    return spec.make(this.ref);
  }

  readdir(): DirEntry[] {
    if (!this.ref.alive()) throw new FsError('ENOENT');
    const out: DirEntry[] = [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
    ];
    Object.entries(this.entries).forEach(([name, spec], i) => out.push({ name, type: spec.type, pos: 2 + i }));
    return out;
  }
}

export class TaskDir implements Node {
  readonly key = 'task';
  constructor(private readonly ref: ProcessRef) {}

  private tids(): number[] {
    // Getdents on task/ of a dead process gives ENOENT (gVisor Proc.GetdentsEnoent).
    return this.ref.readChecked(() => this.ref.host.listTids(this.ref.tgid));
  }

  getattr(): Attr {
    // task/ has nlink 2 + number of threads (proc_task_getattr).
    let threads = 0;
    try {
      threads = this.tids().length;
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
    }
    return processAttr(this.ref, ['task'], S_IFDIR | 0o555, 2 + threads);
  }

  lookup(name: string): Node {
    const tid = parsePidName(name);
    if (tid === undefined || tid === 0 || !this.ref.alive()) throw new FsError('ENOENT');
    const t = ProcessRef.lookupThread(this.ref.view, this.ref.tgid, tid);
    if (!t) throw new FsError('ENOENT');
    return new PidDir(t);
  }

  readdir(): DirEntry[] {
    let tids: number[];
    try {
      tids = this.tids();
    } catch (e) {
      if (e instanceof FsError) throw new FsError('ENOENT');
      throw e;
    }
    return [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
      ...tids.map((tid) => ({ name: String(tid), type: S_IFDIR, pos: tid + 2 })),
    ];
  }
}
