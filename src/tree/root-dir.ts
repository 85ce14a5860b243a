/**
 * The root of the mount: one directory per visible process, plus self and
 * thread-self. Linux: fs/proc/root.c proc_root_lookup, fs/proc/base.c
 * proc_pid_lookup / proc_pid_readdir.
 */
import type { Caller } from '../fuse/caller';
import { FsError } from '../fuse/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node } from '../fuse/node';
import type { ProcContext } from './context';
import { hostEntry } from './host-entry';
import { PidDir } from './pid-dir';
import { parsePidName } from './pid-name';
import { ProcessRef } from './process-ref';
import { SelfSymlink, ThreadSelfSymlink } from './self-symlink';

// proc_pid_readdir positions: FIRST_PROCESS_ENTRY = 256 is "self", 257
// "thread-self", and each tgid sits at tgid + 258 (SPEC-55, SPEC-67).
const FIRST_PROCESS_ENTRY = 256;

export class RootDir implements Node {
  readonly key = 'root';
  private readonly self: SelfSymlink;
  private readonly threadSelf: ThreadSelfSymlink;

  constructor(private readonly ctx: ProcContext) {
    this.self = new SelfSymlink(ctx.host);
    this.threadSelf = new ThreadSelfSymlink(ctx.host);
  }

  private get host() {
    return this.ctx.host;
  }

  getattr(): Attr {
    const st = this.host.lstat();
    return { mode: S_IFDIR | 0o555, nlink: st.nlink, uid: 0, gid: 0, size: 0, time: st.mtimeMs / 1000 };
  }

  lookup(name: string, _caller: Caller): Node {
    if (name === 'self') return this.self;
    if (name === 'thread-self') return this.threadSelf;
    const n = parsePidName(name);
    if (n === undefined && !/^[0-9]/.test(name)) {
      const other = hostEntry(this.host, [name]);
      if (other) return other;
    }
    // pid 0 is the idle task: never visible (find_task_by_pid_ns finds nothing).
    if (n === undefined || n === 0) throw new FsError('ENOENT');
    const ref = ProcessRef.lookup(this.ctx, n);
    if (!ref) throw new FsError('ENOENT');
    return new PidDir(ref);
  }

  readdir(): DirEntry[] {
    const out: DirEntry[] = [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
    ];
    // The non-process entries come first, as in proc_root_readdir.
    let i = 2;
    for (const name of this.host.readdir()) {
      if (/^[0-9]/.test(name) || name === 'self' || name === 'thread-self') continue;
      if (i >= FIRST_PROCESS_ENTRY) break;
      let type = S_IFREG;
      try {
        type = this.host.lstat(name).mode & 0o170000;
      } catch {
        continue;
      }
      out.push({ name, type, pos: i++ });
    }
    out.push(
      { name: 'self', type: S_IFLNK, pos: FIRST_PROCESS_ENTRY },
      { name: 'thread-self', type: S_IFLNK, pos: FIRST_PROCESS_ENTRY + 1 },
    );
    for (const pid of this.host.listPids()) {
      out.push({ name: String(pid), type: S_IFDIR, pos: pid + FIRST_PROCESS_ENTRY + 2 });
    }
    return out;
  }
}
