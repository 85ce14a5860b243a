/**
 * /proc/<pid>/stat (fs/proc/array.c do_task_stat). The comm field may contain
 * spaces and parentheses, so everything after the LAST ')' is split.
 */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** field 22: start time in clock ticks after boot; with pid, a process's identity */
  startTime: bigint;
  numThreads: number;
  /** all fields as text, index 0 = field 1 (pid) */
  fields: string[];
}

export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`malformed stat: ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const fields = [String(pid), `(${comm})`, ...rest];
  return {
    pid,
    comm,
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    numThreads: Number(rest[17]),
    startTime: BigInt(rest[19] ?? '0'),
    fields,
  };
}
