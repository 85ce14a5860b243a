/**
 * procfs's hidepid= and gid= options for one reader. Linux: fs/proc/base.c
 * has_pid_permissions, proc_pid_permission, proc_pid_getattr, proc_pid_readdir,
 * proc_pid_lookup.
 *
 *   hidepid     listing        /proc/<pid> stat     anything below it
 *   noaccess    listed         owner shown          EPERM
 *   invisible   not listed     ENOENT               ENOENT
 *   ptraceable  not listed     ENOENT               ENOENT (gid= does not apply)
 *
 * A reader passes when it may ptrace-read the task (PTRACE_MODE_READ_FSCREDS:
 * its own tasks pass), or is in the gid= group (not for ptraceable).
 */
import { callerCredentials, callerMayRead } from '../files/access-check';
import { FsError } from '../fuse/errno';
import type { RequestContext } from '../fuse/request';
import type { ProcessRef } from '../proc/process-ref';
import type { HidePid } from './view';

const RANK: Record<HidePid, number> = { off: 0, noaccess: 1, invisible: 2, ptraceable: 4 };

/** has_pid_permissions(fs_info, task, hide_pid_min) for the request's reader. */
export function hasPidPermissions(ctx: RequestContext, ref: ProcessRef, min: 'noaccess' | 'invisible'): boolean {
  const { hidepid, gid } = ref.view.mount.options;
  if (hidepid === 'ptraceable') return callerMayRead(ctx, ref);
  if (RANK[hidepid] < RANK[min]) return true;
  if (gid !== undefined && callerInGroup(ctx, gid)) return true;
  return callerMayRead(ctx, ref);
}

/** in_group_p: the fsgid (the request's gid) or a supplementary group. */
function callerInGroup(ctx: RequestContext, gid: number): boolean {
  if (ctx.caller.gid === gid) return true;
  try {
    return callerCredentials(ctx).groups.includes(gid);
  } catch {
    return false;
  }
}

/** Whether the task's directory is listed at all (proc_pid_readdir). */
export function pidListed(ctx: RequestContext, ref: ProcessRef): boolean {
  return hasPidPermissions(ctx, ref, 'invisible');
}

/** proc_pid_getattr: a hidden task's directory does not exist for this reader. */
export function checkPidVisible(ctx: RequestContext, ref: ProcessRef): void {
  if (!hasPidPermissions(ctx, ref, 'invisible')) throw new FsError('ENOENT');
}

/** proc_pid_permission: the walk into (or listing of) a task's directory. */
export function checkPidAccess(ctx: RequestContext, ref: ProcessRef): void {
  if (hasPidPermissions(ctx, ref, 'noaccess')) return;
  const hidepid = ref.view.mount.options.hidepid;
  throw new FsError(hidepid === 'noaccess' ? 'EPERM' : 'ENOENT', `hidepid=${hidepid}`);
}
