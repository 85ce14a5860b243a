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
import { FsError } from '../fuse/errno';
import { callerIsTargetGroup, checkFileAccess, explainFileAccess, reconcileVerdicts } from './access-check';

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

  /**
   * The host's link read AS THE READER (the reader pool): proc_fd_access_allowed
   * or proc_ns_get_link decides for the reader; the policy explains
   * (reconcileVerdicts).
   */
  readlink(ctx: RequestContext): string | Promise<string> {
    if (!callerIsTargetGroup(ctx, this.ref)) return this.readlinkJudged(ctx);
    // The reader's own task: the kernel's identity exception, which a pool
    // thread cannot claim; the policy knows who the reader is.
    checkFileAccess(this.access, ctx, this.ref);
    return this.render(ctx, this.ref.readChecked(() => this.ref.host.readlink(...this.ref.hostPath(...this.parts))));
  }

  private async readlinkJudged(ctx: RequestContext): Promise<string> {
    let raw: Buffer | undefined;
    let kernelErr: string | undefined;
    try {
      raw = await this.ref.host.readlinkAsReader(ctx.caller, ...this.ref.hostPath(...this.parts));
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      if (typeof code !== 'string') throw e;
      kernelErr = code;
    }
    // Also proves the node's task is still the one whose link we read.
    const policy = explainFileAccess(this.access, ctx, this.ref);
    if (kernelErr === 'ENOENT' || kernelErr === 'ESRCH') throw new FsError('ENOENT', `${this.key}: ${kernelErr}`);
    const v = reconcileVerdicts(ctx, this.ref, this.key, 'readlink', policy, kernelErr);
    if (!v.allow) throw new FsError(v.errno, policy.reason ?? `the kernel refused ${this.key} to this reader`);
    // raw is missing only for a task sharing the reader's mm (policy: same-mm), read as the daemon.
    return this.render(ctx, raw ?? this.ref.readChecked(() => this.ref.host.readlink(...this.ref.hostPath(...this.parts))));
  }

  private render(ctx: RequestContext, raw: Buffer): string {
    if (raw[0] !== 0x2f) return raw.toString('latin1'); // pipe:[N], anon_inode:..., user:[N]
    const root = readReaderRoot(ctx);
    return viewPath(raw, root).toString('latin1');
  }
}
