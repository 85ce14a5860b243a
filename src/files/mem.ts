/**
 * /proc/<pid>/mem and /proc/<pid>/task/<tid>/mem. Linux: fs/proc/base.c
 * mem_open, mem_rw, mem_lseek.
 *
 * open() pins the target's mm first (the native handle opens the task's mem in
 * the view's procfs, proc_mem_open -> mmgrab), THEN reads the target's
 * credentials and decides with PTRACE_MODE_ATTACH_FSCREDS (src/fuse/open-handles.ts
 * runs the steps). The order matters: the kernel swaps mm and credentials of an
 * exec under exec_update_lock, which our host open also takes, so the mm we
 * pinned is either the pre-exec one (whose reads then return 0 once the exec
 * completes) or the post-exec one, whose credentials we then see. Deciding on
 * credentials read before the pin could let an exec of a setuid program slip in
 * between.
 *
 * Reads, writes and release never come back here: the FUSE worker thread serves
 * them from the native handle (native/mem_reader.cc).
 */
import createDebug from 'debug';

import { O_ACCMODE, S_IFREG, type Attr, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { FILE_ACCESS } from '../policy/file-modes';
import { processAttr } from '../proc/attrs';
import type { ProcessRef } from '../proc/process-ref';
import { checkFileAccess } from './access-check';

const log = createDebug('procfuse:access');

const O_RDONLY = 0;

export class MemFile implements Node {
  readonly key = 'mem';
  constructor(private readonly ref: ProcessRef) {}

  getattr(): Attr {
    // REG("mem", S_IRUSR|S_IWUSR), owner from task_dump_owner.
    return processAttr(this.ref, ['mem'], S_IFREG | 0o600);
  }

  open(ctx: RequestContext, flags: number): OpenIntent {
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    return {
      kind: 'mem',
      taskDir: this.ref.dirPath,
      writable,
      // --faults: the rules selecting this (caller, target), compiled for the native reader.
      faults: this.ref.view.mount.faults?.memPlan(ctx, this.ref),
      check: () => {
        checkFileAccess(FILE_ACCESS.mem, ctx, this.ref);
        log('mem open: caller pid %d uid %d -> %d %s', ctx.caller.pid, ctx.caller.uid, this.ref.tid, writable ? 'rw' : 'r');
      },
    };
  }
}
