/**
 * /proc/<pid>/mem and /proc/<pid>/task/<tid>/mem. Linux: fs/proc/base.c
 * mem_open, mem_rw, mem_lseek.
 *
 * open() pins the target's mm first (the native handle opens the host's
 * /proc/<pid>/mem, proc_mem_open -> mmgrab), THEN reads the target's credentials
 * and decides with PTRACE_MODE_ATTACH_FSCREDS. The order matters: the kernel
 * swaps mm and credentials of an exec under exec_update_lock, which our host open
 * also takes, so the mm we pinned is either the pre-exec one (whose reads then
 * return 0 once the exec completes) or the post-exec one, whose credentials we
 * then see. Deciding on credentials read before the pin could let an exec of a
 * setuid program slip in between.
 *
 * Reads, writes and release never come back here: the FUSE worker thread serves
 * them from the native handle (native/mem_reader.cc).
 */
import createDebug from 'debug';

import type { Caller } from '../fuse/caller';
import { FsError, hasCode } from '../fuse/errno';
import { O_ACCMODE, S_IFREG, type Attr, type Node, type OpenResult } from '../fuse/node';
import { native } from '../native';
import { processAttr } from '../tree/attrs';
import type { ProcessRef } from '../tree/process-ref';
import { checkFileAccess } from './access-check';

const log = createDebug('procfuse:access');

const O_RDONLY = 0;

export class MemFile implements Node {
  readonly key = 'mem';
  constructor(private readonly ref: ProcessRef) {}

  getattr(): Attr {
    // REG("mem", S_IRUSR|S_IWUSR), owner from task_dump_owner (SPEC-1, SPEC-2).
    return processAttr(this.ref, ['mem'], S_IFREG | 0o600);
  }

  open(caller: Caller, flags: number): OpenResult {
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    let fh: number;
    try {
      fh = native.memOpen(this.ref.tid, writable);
    } catch (e) {
      // The host kernel's answer for a gone task or one without an mm.
      if (hasCode(e, 'ESRCH', 'ENOENT')) throw new FsError('ESRCH', `process ${this.ref.tid} is gone`);
      throw e;
    }
    try {
      checkFileAccess('mem', caller, this.ref);
      // The pidfd proves the pinned mm belongs to the task whose credentials we
      // just checked: had it been reaped (and its pid reused) in between, this fails.
      if (!native.memAlive(fh)) throw new FsError('ESRCH', `process ${this.ref.tid} exited during open`);
    } catch (e) {
      native.closeHandle(fh);
      throw e;
    }
    log('mem open: caller pid %d uid %d -> %d %s', caller.pid, caller.uid, this.ref.tid, writable ? 'rw' : 'r');
    return { fh, directIo: true };
  }
}
