/**
 * Process start times on the container's clock. /proc/<pid>/stat field 22 is
 * in clock ticks since the host booted (do_task_stat: nsec_to_clock_t of
 * start_boottime); a container's uptime and btime start at its init, so ps,
 * which computes a process's elapsed time as uptime - starttime and its %CPU
 * from that, would see processes starting in the future and print 0 % (the
 * lxcfs#444 bug). Shifting field 22 by the init's start keeps
 * btime + starttime (the wall-clock start) and uptime - starttime (the age)
 * what they are on the host.
 */
import type { RequestContext } from '../fuse/request';
import { containerOf } from './container';

const STARTTIME = 22;

/** The stat line with field 22 moved back by `ticks` (never below 0). Pure. */
export function shiftStartTime(text: string, ticks: bigint): string {
  if (ticks === 0n) return text;
  const close = text.lastIndexOf(')');
  if (close < 0) return text;
  const nl = text.endsWith('\n') ? '\n' : '';
  const rest = text.slice(close + 2, text.length - nl.length).split(' ');
  const i = STARTTIME - 3; // field 3 (state) is the first after ")"
  const v = rest[i];
  if (v === undefined || !/^[0-9]+$/.test(v)) return text;
  const shifted = BigInt(v) - ticks;
  rest[i] = String(shifted < 0n ? 0n : shifted);
  return `${text.slice(0, close + 1)} ${rest.join(' ')}${nl}`;
}

/** For a reader whose view is a container's: its stat with the container's start times. */
export function statOnContainerClock(bytes: Buffer, ctx: RequestContext): Buffer {
  if (!containerOf(ctx.view)) return bytes;
  let initStart: bigint;
  try {
    initStart = ctx.view.proc.stat(1).startTime;
  } catch {
    return bytes;
  }
  return Buffer.from(shiftStartTime(bytes.toString('latin1'), initStart), 'latin1');
}
