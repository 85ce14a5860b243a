/**
 * /proc/<pid>/status as its reader sees it. Linux: fs/proc/array.c
 * proc_pid_status. The pid lines (Tgid, Pid, PPid, TracerPid, NSpid, ...) are
 * already the view's (its procfs instance renders them); what depends on the
 * reader is done here: a task reading itself is running (src/files/self-state.ts),
 * and ids are printed for the reader's user namespace (src/view/user-ns.ts).
 */
import type { RequestContext } from '../fuse/request';
import type { ProcessRef } from '../proc/process-ref';
import { mapLoginUid, mapStatusIds, readerIdMaps } from '../view/user-ns';
import { readsItself, statusAsRunning } from './self-state';

export function renderStatusForReader(bytes: Buffer, ctx: RequestContext, ref: ProcessRef): Buffer {
  const out = readsItself(ctx, ref) ? statusAsRunning(bytes) : bytes;
  const maps = readerIdMaps(ctx);
  return maps ? Buffer.from(mapStatusIds(out.toString('latin1'), maps), 'latin1') : out;
}

/** /proc/<pid>/loginuid (proc_loginuid_read): from_kuid for the opener's user namespace. */
export function renderLoginUidForReader(bytes: Buffer, ctx: RequestContext): Buffer {
  const maps = readerIdMaps(ctx);
  return maps ? Buffer.from(mapLoginUid(bytes.toString('latin1'), maps.uid), 'latin1') : bytes;
}
