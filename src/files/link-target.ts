/**
 * What a non-path fd/<n> link names: `socket:[123]`, `net:[4026531840]` (an nsfs fd).
 *
 * The kernel's links are magic: stat() through /proc/<pid>/fd/<n> reaches the
 * socket's own inode (S_IFSOCK, st_ino 123), which is how lsof and psutil
 * learn which socket a process holds. Over FUSE the link is text, and the kernel resolves a
 * relative target inside the link's directory: the lookup of `socket:[123]` in
 * fd/ reaches us, and this node answers it with the host object's type, owner,
 * mode and inode number. Its st_dev is the mount's (FUSE cannot report
 * another device), so fuser, which also compares st_dev with sockfs's, still
 * finds nothing. ns/<type> is not resolved this way: see NsDir.
 *
 * Not answered (ENOENT, as before):
 * - `pipe:[N]`: a FIFO inode on the mount would be a new, empty named pipe, so
 *   `echo x >/dev/stdout` (-> /proc/self/fd/1) into a pipe would block for ever
 *   instead of failing; the kernel's FUSE never sends us the open of a FIFO.
 * - `anon_inode:[...]`: the kernel's anonymous inodes have no file type, and
 *   FUSE refuses an attribute without one (fuse_valid_type).
 */
import { FsError } from '../fuse/errno';
import { S_IFMT, S_IFREG, S_IFSOCK, type Attr, type Node } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import type { FileAccessRule } from '../policy/file-modes';
import type { ProcessRef } from '../proc/process-ref';
import { checkFileAccess } from './access-check';

/** `socket:[123]`, `net:[4026531840]`: the kernel's "<type>:[<inode>]" link text (dentry_name ops). */
const OBJECT_NAME = /^([a-z_]+):\[(\d+)\]$/;

export function isObjectLinkName(name: string): boolean {
  const m = OBJECT_NAME.exec(name);
  return m !== null && m[1] !== 'pipe';
}

export class LinkTarget implements Node {
  private constructor(
    private readonly ref: ProcessRef,
    /** the link, below the task's directory: ['fd', '4'] */
    private readonly link: string[],
    /** what the link reads, and this node's name */
    readonly key: string,
  ) {}

  /**
   * The object named `name` in the link directory `dir` ('fd') of the
   * task, found among that directory's links; ENOENT if no link reads so.
   */
  static lookup(ref: ProcessRef, dir: 'fd', name: string, access: FileAccessRule, ctx: RequestContext): LinkTarget {
    if (!isObjectLinkName(name)) throw new FsError('ENOENT');
    // Following the link needs what reading it needs (proc_fd_access_allowed).
    checkFileAccess(access, ctx, ref);
    const links = ref.readChecked(() => ref.host.readdir(...ref.hostPath(dir)));
    for (const l of links) {
      let text: string;
      try {
        text = ref.host.readlink(...ref.hostPath(dir, l)).toString('latin1');
      } catch {
        continue; // closed meanwhile
      }
      if (text === name) {
        const node = new LinkTarget(ref, [dir, l], name);
        node.getattr(); // a type FUSE cannot show: ENOENT now
        return node;
      }
    }
    throw new FsError('ENOENT');
  }

  /** The object's attributes, as stat() through the host's link gives them. */
  getattr(): Attr {
    const { st, text } = this.ref.readChecked(() => ({
      st: this.ref.host.statThrough(...this.ref.hostPath(...this.link)),
      text: this.ref.host.readlink(...this.ref.hostPath(...this.link)).toString('latin1'),
    }));
    // The fd was closed and its number reused for something else: this object is gone from here.
    if (text !== this.key) throw new FsError('ENOENT');
    const type = st.mode & S_IFMT;
    // Sockets and nsfs files only: not a FIFO (see above), nor anything untyped.
    if (type !== S_IFSOCK && type !== S_IFREG) throw new FsError('ENOENT');
    return { mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, size: st.size, time: st.mtimeMs / 1000, statIno: st.ino };
  }
}
