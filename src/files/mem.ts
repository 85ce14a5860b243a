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

import { audit } from '../audit/audit-log';
import { FsError } from '../fuse/errno';
import { O_ACCMODE, S_IFREG, type Attr, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { FILE_ACCESS } from '../policy/file-modes';
import { processAttr } from '../proc/attrs';
import type { ProcessRef } from '../proc/process-ref';
import { callerIsTargetGroup, checkFileAccess, judgeByProbe } from './access-check';

const log = createDebug('procfuse:access');

const O_RDONLY = 0;
const O_RDWR = 2;

export class MemFile implements Node {
  readonly key = 'mem';
  constructor(private readonly ref: ProcessRef) {}

  getattr(): Attr {
    // REG("mem", S_IRUSR|S_IWUSR), owner from task_dump_owner.
    return processAttr(this.ref, ['mem'], S_IFREG | 0o600);
  }

  open(ctx: RequestContext, flags: number): OpenIntent {
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    const target = { pid: this.ref.tid, startTime: this.ref.startTime };
    return {
      kind: 'mem',
      taskDir: this.ref.dirPath,
      writable,
      // --faults: the rules selecting this (caller, target), compiled for the native reader.
      faults: this.ref.view.mount.faults?.memPlan(ctx, this.ref),
      // The reader's own task: the kernel's identity exception (mm_access:
      // mm == current->mm), which no pool thread can claim; the policy decides.
      // Anyone else: the host kernel judges an open of the same mem as the
      // reader, AFTER our pin. Had the task exec'd in between, the pinned mm
      // is the old one, which reads as empty once the exec completes.
      check: () =>
        callerIsTargetGroup(ctx, this.ref)
          ? this.checkByPolicy(ctx, flags, target)
          : judgeByProbe(FILE_ACCESS.mem, ctx, this.ref, 'mem', flags, () =>
              this.ref.host.probeAsReader(ctx.caller, writable ? O_RDWR : O_RDONLY, ...this.ref.hostPath('mem')),
            ).then(() => log('mem open (kernel-judged): caller pid %d uid %d -> %d %s', ctx.caller.pid, ctx.caller.uid, this.ref.tid, writable ? 'rw' : 'r')),
    };
  }

  private checkByPolicy(ctx: RequestContext, flags: number, target: { pid: number; startTime: bigint }): void {
    try {
      checkFileAccess(FILE_ACCESS.mem, ctx, this.ref);
    } catch (e) {
      const errno = e instanceof FsError ? e.code : 'EIO';
      audit(ctx, { file: 'mem', how: flags, target, decision: 'deny', errno, rule: e instanceof Error ? e.message : String(e) });
      throw e;
    }
    audit(ctx, { file: 'mem', how: flags, target, decision: 'allow', rule: 'same-thread-group' });
    log('mem open: caller pid %d uid %d -> %d (itself)', ctx.caller.pid, ctx.caller.uid, this.ref.tid);
  }
}
