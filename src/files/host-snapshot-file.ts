/**
 * A per-process file whose bytes are the host's own file, read once at open into
 * a native buffer handle (seq_file single_open style); reads slice it on the FUSE
 * thread. Opened with direct_io since procfs reports st_size 0 (SPEC-87).
 *
 * Used for files with no access check and nothing to translate yet (status, stat,
 * statm, cmdline, comm, ...). See docs/per-pid-files.md for the per-file decision.
 */
import type { Caller } from '../fuse/caller';
import { S_IFREG, type Attr, type Node, type OpenResult } from '../fuse/node';
import { native } from '../native';
import { processAttr } from '../tree/attrs';
import type { ProcessRef } from '../tree/process-ref';

export class HostSnapshotFile implements Node {
  constructor(
    protected readonly ref: ProcessRef,
    readonly key: string,
    private readonly mode = 0o444,
  ) {}

  getattr(): Attr {
    return processAttr(this.ref, [this.key], S_IFREG | this.mode);
  }

  open(_caller: Caller, _flags: number): OpenResult {
    const data = this.ref.readChecked(() => this.ref.host.readBytes(...this.ref.hostPath(this.key)));
    return { fh: native.bufferHandle(data), directIo: true };
  }
}
