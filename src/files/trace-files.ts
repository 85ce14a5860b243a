/**
 * /proc/<pid>/wchan and /proc/<pid>/syscall: the host's text, behind the
 * kernel's own rules, applied for the reader at read time.
 *
 * - wchan (fs/proc/base.c proc_pid_wchan, mode 0444): the symbol the task
 *   sleeps in, or "0" for a reader that fails PTRACE_MODE_READ_FSCREDS (the
 *   kernel prints 0 rather than refusing) and for a task reading its own. The
 *   daemon always could read the symbol, so the reader's check decides.
 * - syscall (proc_pid_syscall, mode 0400): needs PTRACE_MODE_ATTACH_FSCREDS at
 *   read (lock_trace), EPERM otherwise. A task reading its own file through the
 *   mount sits in that read(2) while the daemon reads the host's file, so the
 *   host shows what the kernel shows a task reading itself: the read and its
 *   arguments.
 */
import { FsError } from '../fuse/errno';
import type { RequestContext } from '../fuse/request';
import { FILE_ACCESS } from '../policy/file-modes';
import type { ProcessRef } from '../proc/process-ref';
import { callerMayRead, checkFileAccess } from './access-check';
import { readsItself } from './self-state';

export function renderWchanForReader(bytes: Buffer, ctx: RequestContext, ref: ProcessRef): Buffer {
  // A task reading its own wchan is running on the kernel (get_wchan gives 0 for
  // it); through the mount it sleeps in the FUSE request meanwhile.
  if (readsItself(ctx, ref)) return Buffer.from('0');
  return callerMayRead(ctx, ref) ? bytes : Buffer.from('0');
}

export function renderSyscallForReader(bytes: Buffer, ctx: RequestContext, ref: ProcessRef): Buffer {
  try {
    checkFileAccess(FILE_ACCESS.syscall, ctx, ref);
  } catch (e) {
    // lock_trace: -EPERM when the reader may not attach, whatever else failed.
    if (e instanceof FsError && e.code === 'EACCES') throw new FsError('EPERM', e.message);
    throw e;
  }
  return bytes;
}
