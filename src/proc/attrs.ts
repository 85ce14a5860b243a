import { FsError } from '../fuse/errno';
import type { Attr } from '../fuse/node';
import type { ProcessRef } from './process-ref';

/**
 * Attributes of a per-process entry, mirrored from the host's procfs entry at the
 * same path: its mode, the owner the kernel computes with task_dump_owner()
 * (the euid/egid, or root when the process is not dumpable), and its
 * size, which is 0 except for fd/ (the number of open fds, proc_fd_getattr) and
 * fd/<n> (64, set by proc_fd_instantiate; `ls -l` shows it). When the task
 * is gone (an inode still held open), the kernel shows root, as we do.
 */
export function processAttr(ref: ProcessRef, parts: Array<string | number>, mode: number, nlink = 1): Attr {
  try {
    const st = ref.readChecked(() => ref.host.lstat(...ref.hostPath(...parts)));
    return { mode: (mode & 0o170000) | (st.mode & 0o7777), nlink, uid: st.uid, gid: st.gid, size: st.size, time: st.mtimeMs / 1000 };
  } catch (e) {
    if (!(e instanceof FsError)) throw e;
    return { mode, nlink, uid: 0, gid: 0, size: 0, time: Date.now() / 1000 };
  }
}
