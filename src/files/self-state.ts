/**
 * The state a task shows when it reads its own status or stat: always
 * "R (running)", because the kernel formats the file on the reading task's own
 * CPU (fs/proc/array.c task_state / do_task_stat call get_task_state() on
 * `current`, which is running). Over FUSE the reader is asleep in the request
 * while the daemon reads the host's file, so the host says "S (sleeping)" for
 * it; ps, top and `cat /proc/self/status` would show themselves sleeping.
 * Only the reading thread itself is running: another thread of its group
 * keeps the state the host reports.
 */
import type { RequestContext } from '../fuse/request';
import type { ProcessRef } from '../proc/process-ref';

const STATUS_STATE = /^State:\t.*$/m;

/** /proc/<pid>/status with its "State:" line for a task reading itself. */
export function statusAsRunning(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1');
  if (!STATUS_STATE.test(text)) return bytes;
  return Buffer.from(text.replace(STATUS_STATE, 'State:\tR (running)'), 'latin1');
}

/** /proc/<pid>/stat with field 3 (state) 'R'; comm may hold ')' and spaces: the state follows the LAST ')'. */
export function statAsRunning(bytes: Buffer): Buffer {
  const i = bytes.lastIndexOf(0x29); // ')'
  if (i < 0 || i + 2 >= bytes.length || bytes[i + 1] !== 0x20) return bytes;
  const out = Buffer.from(bytes);
  out[i + 2] = 0x52; // 'R'
  return out;
}

/** Whether the request's caller is the task whose files `ref` names (both numbered in the node's view). */
export function readsItself(ctx: RequestContext, ref: ProcessRef): boolean {
  if (ctx.view !== ref.view) return false;
  const tid = ctx.callerInView().tid;
  return tid !== 0 && tid === ref.tid;
}

