/**
 * A per-process file whose bytes are the host's own file, read at open into a
 * native buffer handle; reads slice it on the FUSE thread, and a later read from
 * offset 0 reads the host's file again through the fd held since open (seq_read
 * regenerates at m->index 0). Opened with direct_io since procfs reports st_size 0.
 *
 * `access` is the file's rule from src/policy/file-modes.ts: its ptrace check
 * runs at open, before anything is read. `render` turns the host's bytes into
 * what this caller sees (maps paths relative to the reader's root, ...).
 * See docs/per-pid-files.md for the per-file decision.
 *
 * Files with a ptrace rule are opened on the host AS THE READER (the reader
 * pool, native/reader_ops.h), so the host kernel's own proc_mem_open/mm_access
 * or proc_fdinfo_access_allowed decides, with what /proc cannot show us
 * (whether a uid-0 task is dumpable, CLONE_VM siblings, LSMs). The policy is
 * the explanation beside it (debug and audit logs); where the two disagree the
 * kernel's verdict stands, except where the pool thread is not exactly the
 * reader: a caller of another user namespace (the thread would hold
 * capabilities in namespaces its euid owns, cap_capable) and the daemon's
 * own process as target (same_thread_group) need both to allow.
 */
import fs from 'node:fs';

import { S_IFREG, type Attr, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import type { FileAccessRule } from '../policy/file-modes';
import { processAttr } from '../proc/attrs';
import type { ProcessRef } from '../proc/process-ref';
import { FsError } from '../fuse/errno';
import { callerIsTargetGroup, checkFileAccess, explainFileAccess, reconcileVerdicts, type PolicyVerdict } from './access-check';

/** Turns the host's bytes into what this request's reader sees. */
export type Renderer = (bytes: Buffer, ctx: RequestContext, ref: ProcessRef) => Buffer;

export interface SnapshotOptions {
  mode?: number;
  /** the ptrace check at open (src/policy/file-modes.ts FILE_ACCESS) */
  access?: FileAccessRule;
  render?: Renderer;
  /**
   * Generate the text at the FIRST read from offset 0 too, not at open: for
   * files whose content a reader may change between open and read (maps, smaps:
   * pmap attaches a segment after opening its own maps). Costs one more trip to
   * JavaScript per open. (Every later read from offset 0 regenerates anyway.)
   */
  atRead?: boolean;
  /** one seq_file record per line (maps, mounts): a read returns whole lines */
  wholeLines?: boolean;
}

export class HostSnapshotFile implements Node {
  constructor(
    protected readonly ref: ProcessRef,
    readonly key: string,
    private readonly opts: SnapshotOptions = {},
  ) {}

  getattr(): Attr {
    return processAttr(this.ref, [this.key], S_IFREG | (this.opts.mode ?? 0o444));
  }

  /**
   * Opens the host's file FIRST, then checks: the kernel's proc_mem_open pins
   * the mm at open, and so does our host fd (maps, smaps, environ, auxv), so
   * the check below sees the credentials of the image whose mm we hold, and an
   * exec after the check leaves our reads with the old, now empty mm, as the
   * kernel's (m_start, environ_read: mmget_not_zero fails). See mem.ts.
   */
  open(ctx: RequestContext, flags: number): OpenIntent | Promise<OpenIntent> {
    const judged = this.opts.access && this.opts.access.mode !== null && !callerIsTargetGroup(ctx, this.ref);
    if (judged) return this.openJudged(ctx, flags, this.opts.access!);
    const fd = this.ref.host.openFile(...this.ref.hostPath(this.key));
    return this.withFd(fd, ctx, () => {
      // The fd is bound to the task it was opened on; this proves that task is
      // the node's (had the pid been reused before our open, the start time differs).
      if (this.opts.access) checkFileAccess(this.opts.access, ctx, this.ref);
      else this.ref.ensureAlive();
    });
  }

  /** The host's file opened as the reader: the kernel decides; the policy explains. */
  private async openJudged(ctx: RequestContext, flags: number, rule: FileAccessRule): Promise<OpenIntent> {
    let fd: number | undefined;
    let kernelErr: string | undefined;
    try {
      fd = await this.ref.host.openAsReaderFd(ctx.caller, ...this.ref.hostPath(this.key));
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      if (typeof code !== 'string') throw e;
      kernelErr = code;
    }
    let policy: PolicyVerdict;
    try {
      // Also proves the task is still the node's (start time), after the pin.
      policy = explainFileAccess(rule, ctx, this.ref);
    } catch (e) {
      if (fd !== undefined) fs.closeSync(fd);
      throw e;
    }
    // A task without an mm for __mem_open users, or gone: the kernel's ESRCH.
    if (kernelErr === 'ESRCH' || kernelErr === 'ENOENT') throw new FsError('ESRCH', `${this.key}: ${kernelErr}`);
    const v = reconcileVerdicts(ctx, this.ref, this.key, flags, policy, kernelErr);
    if (!v.allow) {
      if (fd !== undefined) fs.closeSync(fd);
      throw new FsError(v.errno, policy.reason ?? `the kernel refused ${this.key} to this reader`);
    }
    if (fd !== undefined) return this.withFd(fd, ctx, () => {});
    // The reader's own task (the kernel's identity exception, which a pool
    // thread cannot claim): pin as the daemon, then decide on what is pinned.
    return this.withFd(this.ref.host.openFile(...this.ref.hostPath(this.key)), ctx, () => {
      checkFileAccess(rule, ctx, this.ref);
    });
  }

  /** Makes the handle's intent from the host fd, after `check`; the handle keeps the fd until its release. */
  private withFd(fd: number, ctx: RequestContext, check: () => void): OpenIntent {
    const host = this.ref.host;
    let keepFd = false;
    try {
      check();
      const initial = this.opts.atRead ? undefined : this.render(host.readFromStart(fd), ctx);
      keepFd = true; // until the handle's release: later reads from offset 0 read it again
      return {
        kind: 'render',
        initial,
        render: (reader) => this.render(host.readFromStart(fd), reader),
        release: () => fs.closeSync(fd),
        wholeLines: this.opts.wholeLines,
      };
    } finally {
      if (!keepFd) fs.closeSync(fd);
    }
  }

  private render(data: Buffer, ctx: RequestContext): Buffer {
    return this.opts.render ? this.opts.render(data, ctx, this.ref) : data;
  }
}
