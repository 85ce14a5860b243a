/**
 * /proc/<pid>, /proc/<pid>/task and /proc/<pid>/task/<tid>.
 * Linux: fs/proc/base.c tgid_base_stuff / tid_base_stuff, proc_task_lookup,
 * proc_task_readdir.
 *
 * A directory is a table of children: adding a file is one line here.
 */
import { FsError } from '../fuse/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node } from '../fuse/node';
import { HostSnapshotFile } from '../files/host-snapshot-file';
import { processAttr } from './attrs';
import { parsePidName } from './pid-name';
import { ProcessRef } from './process-ref';

export interface EntrySpec {
  type: typeof S_IFDIR | typeof S_IFREG | typeof S_IFLNK;
  make: (ref: ProcessRef) => Node;
}

const file = (make: (ref: ProcessRef) => Node): EntrySpec => ({ type: S_IFREG, make });
const dir = (make: (ref: ProcessRef) => Node): EntrySpec => ({ type: S_IFDIR, make });

/** Entries shared by /proc/<pid> and /proc/<pid>/task/<tid>. */
const COMMON_ENTRIES: Record<string, EntrySpec> = {
  cmdline: file((p) => new HostSnapshotFile(p, 'cmdline')),
  comm: file((p) => new HostSnapshotFile(p, 'comm', 0o644)),
  stat: file((p) => new HostSnapshotFile(p, 'stat')),
  statm: file((p) => new HostSnapshotFile(p, 'statm')),
  status: file((p) => new HostSnapshotFile(p, 'status')),
};

/** tgid_base_stuff: what /proc/<pid> holds. */
export const PID_DIR_ENTRIES: Record<string, EntrySpec> = {
  ...COMMON_ENTRIES,
  task: dir((p) => new TaskDir(p)),
};

/** tid_base_stuff: /proc/<pid>/task/<tid> has no task/ (SPEC-54). */
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

  getattr(): Attr {
    // nlink = 2 + subdirectories (proc_pid_make_inode + pid_entry_nlink).
    return processAttr(this.ref, [], S_IFDIR | 0o555, 2 + subdirCount(this.entries));
  }

  lookup(name: string): Node {
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
    const t = ProcessRef.lookupThread(this.ref.host, this.ref.tgid, tid);
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
