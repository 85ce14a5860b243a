/**
 * A per-process file whose bytes are the host's own file, read once at open into
 * a native buffer handle (seq_file single_open style); reads slice it on the FUSE
 * thread. Opened with direct_io since procfs reports st_size 0 (SPEC-87).
 *
 * `access` names the file's row in src/policy/file-modes.ts: its ptrace check
 * runs at open, before anything is read. `render` turns the host's bytes into
 * what this caller sees (maps paths relative to the reader's root, ...).
 * See docs/per-pid-files.md for the per-file decision.
 */
import type { Caller } from '../fuse/caller';
import { S_IFREG, type Attr, type Node, type OpenResult } from '../fuse/node';
import { native } from '../native';
import type { ProcPidFileName } from '../policy/file-modes';
import { processAttr } from '../tree/attrs';
import type { ProcessRef } from '../tree/process-ref';
import { checkFileAccess } from './access-check';

export interface SnapshotOptions {
  mode?: number;
  access?: ProcPidFileName;
  render?: (bytes: Buffer, caller: Caller, ref: ProcessRef) => Buffer;
  /**
   * Generate the text at each read from offset 0, as seq_file does, instead of
   * once at open: for files whose content a reader may change between open and
   * read (maps, smaps: pmap attaches a segment after opening its own maps).
   * Costs one more trip to JavaScript per read from the start.
   */
  atRead?: boolean;
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

  open(caller: Caller, _flags: number): OpenResult {
    if (this.opts.access) checkFileAccess(this.opts.access, caller, this.ref);
    if (this.opts.atRead) {
      this.ref.ensureAlive();
      return { fh: native.bufferHandle(null, true), directIo: true, render: (reader) => this.text(reader) };
    }
    return { fh: native.bufferHandle(this.text(caller)), directIo: true };
  }

  /** The file's bytes for `caller` now; ESRCH once the process has been reaped. */
  private text(caller: Caller): Buffer {
    const data = this.ref.readChecked(() => this.ref.host.readBytes(...this.ref.hostPath(this.key)));
    return this.opts.render ? this.opts.render(data, caller, this.ref) : data;
  }
}
