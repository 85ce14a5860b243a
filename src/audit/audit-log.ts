/**
 * `--audit FILE`: one JSON line per open of a protected file (mem, environ,
 * auxv, the maps family, fdinfo, fd/cwd/root/exe links, and every root-level
 * file read as the reader): who (caller pid/tid/uid/gid and its view), whom
 * (target pid and start time), which file, how (open flags), the decision and
 * the rule that made it, and, where the kernel judged the open as the reader,
 * its verdict beside the policy's. For operators who must know who read whose
 * memory. SIGHUP reopens the file (src/cli/mount.ts), for logrotate.
 *
 * Writes go through a LogSink: a failing audit file costs lines (counted), not
 * the service.
 */
import type { RequestContext } from '../fuse/request';
import { LogSink } from '../cli/log-sink';

export interface AuditEvent {
  file: string;
  /** open(2) flags, or 'readlink' */
  how: number | 'readlink';
  target?: { pid: number; startTime: bigint };
  decision: 'allow' | 'deny';
  errno?: string;
  /** the policy rule (src/policy/access.ts), or 'kernel' where the host kernel decided */
  rule: string;
  /** the host kernel's own verdict, opened as the reader: 'allow' or its errno */
  kernel?: string;
  /** the TypeScript policy's verdict, where it is the explanation beside the kernel's */
  policy?: string;
}

let sink: LogSink | undefined;

/** Opens the audit file (throws the open's error); from then on opens are recorded. */
export function openAudit(path: string): LogSink {
  sink = LogSink.open(path);
  return sink;
}

export function auditEnabled(): boolean {
  return sink !== undefined;
}

export function audit(ctx: RequestContext, e: AuditEvent): void {
  if (!sink) return;
  const line = {
    time: new Date().toISOString(),
    caller: { tid: ctx.caller.pid, pid: safeTgid(ctx), uid: ctx.caller.uid, gid: ctx.caller.gid },
    view: ctx.view.id,
    ...e,
    target: e.target ? { pid: e.target.pid, startTime: e.target.startTime.toString() } : undefined,
  };
  sink.write(`${JSON.stringify(line)}\n`);
}

/** The caller's thread group in the daemon's own numbering; 0 if unknown. */
function safeTgid(ctx: RequestContext): number {
  try {
    return ctx.caller.pid > 0 ? ctx.view.mount.own.tgidOf(ctx.caller.pid) : 0;
  } catch {
    return 0;
  }
}
