/**
 * /proc/<pid>/stat as a reader sees it. Linux: fs/proc/array.c do_task_stat().
 *
 * The kernel hides a task's address-space layout from readers that fail
 * ptrace_may_access(PTRACE_MODE_READ_FSCREDS | PTRACE_MODE_NOAUDIT): start_code
 * and end_code print as 1 (0 without an mm), start_stack, kstkesp, kstkeip and
 * wchan as 0, start_data..env_end as 0 and exit_code as 0 (verified on 6.18 with
 * an unprivileged reader). The daemon always passes that check, so its copy of
 * the file must be masked for such readers, or ASLR would leak across users.
 */
import type { RequestContext } from '../fuse/request';
import type { ProcessRef } from '../proc/process-ref';
import { callerMayRead } from './access-check';
import { readsItself, statAsRunning } from './self-state';

// 1-based field numbers (proc(5)).
const START_CODE = 26;
const END_CODE = 27;
const ZEROED = [28, 29, 30, 35, 45, 46, 47, 48, 49, 50, 51, 52];

/** The stat line with the fields an unprivileged reader must not see masked. Pure. */
export function maskStat(text: string): string {
  const close = text.lastIndexOf(')');
  if (close < 0) return text;
  const head = text.slice(0, close + 1);
  const nl = text.endsWith('\n') ? '\n' : '';
  // Field 3 (state) is the first after ")"; field n is rest[n - 3].
  const rest = text.slice(close + 2, text.length - nl.length).split(' ');
  const at = (n: number) => n - 3;
  for (const n of [START_CODE, END_CODE]) {
    if (rest[at(n)] !== undefined && rest[at(n)] !== '0') rest[at(n)] = '1';
  }
  for (const n of ZEROED) if (rest[at(n)] !== undefined) rest[at(n)] = '0';
  return `${head} ${rest.join(' ')}${nl}`;
}

export function renderStatForReader(bytes: Buffer, ctx: RequestContext, ref: ProcessRef): Buffer {
  // A task reading itself passes the check, and is running (src/files/self-state.ts).
  if (readsItself(ctx, ref)) return statAsRunning(bytes);
  if (callerMayRead(ctx, ref)) return bytes;
  return Buffer.from(maskStat(bytes.toString('latin1')), 'latin1');
}
