/**
 * The root of the mount: one directory per process visible in the request's
 * view, plus self and thread-self and the non-process entries. Linux:
 * fs/proc/root.c proc_root_lookup / proc_root_readdir, fs/proc/base.c
 * proc_pid_lookup / proc_pid_readdir.
 *
 * One root serves every view of the mount: what it lists and resolves is the
 * request's view (its procfs instance), so per-caller views share the node.
 */
import { FsError } from '../fuse/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { ProcessRef } from '../proc/process-ref';
import { resourceEntry } from '../resources/resource-file';
import { pidListed } from '../view/hidepid';
import { hostEntry } from './host-entry';
import { PidDir } from './pid-dir';
import { parsePidName } from './pid-name';
import { SelfSymlink, ThreadSelfSymlink } from './self-symlink';

// proc_pid_readdir positions: FIRST_PROCESS_ENTRY = 256 is "self", 257
// "thread-self", and each tgid sits at tgid + 258 (TGID_OFFSET).
const FIRST_PROCESS_ENTRY = 256;

export class RootDir implements Node {
  readonly key = 'root';
  private readonly self = new SelfSymlink();
  private readonly threadSelf = new ThreadSelfSymlink();

  getattr(ctx: RequestContext): Attr {
    const st = ctx.view.proc.lstat();
    return { mode: S_IFDIR | 0o555, nlink: st.nlink, uid: 0, gid: 0, size: 0, time: st.mtimeMs / 1000 };
  }

  lookup(name: string, ctx: RequestContext): Node {
    if (name === 'self') return this.self;
    if (name === 'thread-self') return this.threadSelf;
    const view = ctx.view;
    const n = parsePidName(name);
    if (n === undefined && !/^[0-9]/.test(name)) {
      // subset=pid: nothing but processes, self and thread-self (proc_root_lookup).
      // A container's own resources (meminfo, stat, ...) before the host's files.
      const other = view.mount.options.subsetPid ? undefined : (resourceEntry(name, ctx) ?? hostEntry(view.proc, [name]));
      if (other) return other;
    }
    // pid 0 is the idle task: never visible (find_task_by_pid_ns finds nothing).
    if (n === undefined || n === 0) throw new FsError('ENOENT');
    const ref = ProcessRef.lookup(view, n);
    if (!ref) throw new FsError('ENOENT');
    return new PidDir(ref);
  }

  readdir(ctx: RequestContext): DirEntry[] {
    const view = ctx.view;
    const out: DirEntry[] = [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
    ];
    // The non-process entries come first, as in proc_root_readdir.
    let i = 2;
    if (!view.mount.options.subsetPid) {
      for (const name of view.proc.readdir()) {
        if (/^[0-9]/.test(name) || name === 'self' || name === 'thread-self') continue;
        if (i >= FIRST_PROCESS_ENTRY) break;
        let type = S_IFREG;
        try {
          type = view.proc.lstat(name).mode & 0o170000;
        } catch {
          continue;
        }
        out.push({ name, type, pos: i++ });
      }
    }
    out.push(
      { name: 'self', type: S_IFLNK, pos: FIRST_PROCESS_ENTRY },
      { name: 'thread-self', type: S_IFLNK, pos: FIRST_PROCESS_ENTRY + 1 },
    );
    const filter = view.mount.options.hidepid !== 'off';
    for (const pid of view.proc.listPids()) {
      if (filter) {
        // proc_pid_readdir skips what has_pid_permissions(HIDEPID_INVISIBLE) hides.
        const ref = ProcessRef.lookup(view, pid);
        if (!ref || !pidListed(ctx, ref)) continue;
      }
      out.push({ name: String(pid), type: S_IFDIR, pos: pid + FIRST_PROCESS_ENTRY + 2 });
    }
    return out;
  }
}
