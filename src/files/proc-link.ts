/**
 * /proc/<pid>/exe, cwd, root and fd/<n>. Linux: fs/proc/base.c
 * proc_pid_readlink / proc_fd_access_allowed (PTRACE_MODE_READ_FSCREDS at
 * readlink), fs/proc/fd.c proc_fd_link.
 *
 * The kernel's are magic links that reach the file itself; over FUSE they can
 * only be text, resolved in the caller's mount namespace
 * (docs/known-differences.md). The text is the path as the reader would see it
 * from its own root (d_path), like maps names.
 */
import { S_IFLNK, type Attr, type Node } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import type { FileAccessRule } from '../policy/file-modes';
import { processAttr } from '../proc/attrs';
import type { ProcessRef } from '../proc/process-ref';
import { readReaderRoot, viewPath } from '../view/root-path';
import { checkFileAccess } from './access-check';

export class ProcLink implements Node {
  constructor(
    private readonly ref: ProcessRef,
    /** path below the task's directory: 'exe', 'cwd', 'root', ['fd', '3'] */
    private readonly parts: string[],
    private readonly access: FileAccessRule,
  ) {}

  get key(): string {
    return this.parts.join('/');
  }

  getattr(): Attr {
    return processAttr(this.ref, this.parts, S_IFLNK | 0o777);
  }

  readlink(ctx: RequestContext): string {
    checkFileAccess(this.access, ctx, this.ref);
    const raw = this.ref.readChecked(() => this.ref.host.readlink(...this.ref.hostPath(...this.parts)));
    if (raw[0] !== 0x2f) return raw.toString('latin1'); // pipe:[N], anon_inode:..., user:[N]
    const root = readReaderRoot(ctx);
    return viewPath(raw, root).toString('latin1');
  }
}
