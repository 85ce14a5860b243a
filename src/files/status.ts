/**
 * /proc/<pid>/status as its reader sees it. Linux: fs/proc/array.c
 * proc_pid_status. The pid lines (Tgid, Pid, PPid, TracerPid, NSpid, ...) are
 * already the view's (its procfs instance renders them); what depends on the
 * reader is done here: a task reading itself is running (src/files/self-state.ts).
 */
import type { RequestContext } from '../fuse/request';
import type { ProcessRef } from '../proc/process-ref';
import { readsItself, statusAsRunning } from './self-state';

export function renderStatusForReader(bytes: Buffer, ctx: RequestContext, ref: ProcessRef): Buffer {
  return readsItself(ctx, ref) ? statusAsRunning(bytes) : bytes;
}
