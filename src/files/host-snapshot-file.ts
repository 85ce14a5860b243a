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
 */
import fs from 'node:fs';

import { S_IFREG, type Attr, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import type { FileAccessRule } from '../policy/file-modes';
import { processAttr } from '../proc/attrs';
import type { ProcessRef } from '../proc/process-ref';
import { checkFileAccess } from './access-check';

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
  open(ctx: RequestContext, _flags: number): OpenIntent {
    const host = this.ref.host;
    const fd = host.openFile(...this.ref.hostPath(this.key));
    let keepFd = false;
    try {
      // The fd is bound to the task it was opened on; this proves that task is
      // the node's (had the pid been reused before our open, the start time differs).
      if (this.opts.access) checkFileAccess(this.opts.access, ctx, this.ref);
      else this.ref.ensureAlive();
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
