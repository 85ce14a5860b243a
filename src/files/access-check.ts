/**
 * The ptrace check a protected per-process file makes (table in
 * src/policy/file-modes.ts), for the FUSE caller against the node's task.
 * Nodes call this and never decide on their own.
 */
import type { Caller } from '../fuse/caller';
import { FsError } from '../fuse/errno';
import { readAccessEnv } from '../host/access-env';
import { readCallerCredentials, readCredentials } from '../host/credentials';
import type { Credentials } from '../policy/credentials';
import { FILE_ACCESS, mayAccessFile, type ProcPidFileName } from '../policy/file-modes';
import type { ProcessRef } from '../tree/process-ref';

const MEM_OPEN_FILES = new Set<ProcPidFileName>(['mem', 'environ', 'auxv']);

/**
 * Throws the file's errno (EACCES or EPERM) when the caller may not use it,
 * ESRCH when the node's task is gone (or its pid now names another task), and
 * for __mem_open users ESRCH when the task has no mm (zombie, kernel thread;
 * Linux >= 6.15, SPEC-10), which the kernel answers before any ptrace check. Returns the target's credentials as read.
 */
export function checkFileAccess(file: ProcPidFileName, caller: Caller, ref: ProcessRef): Credentials | undefined {
  const rule = FILE_ACCESS[file];
  if (rule.mode === null || rule.errno === null) return undefined;
  const target = readCredentials(ref.host, ref.tid);
  if (target.startTime !== ref.startTime) throw new FsError('ESRCH', `process ${ref.tid} was replaced`);
  if (rule.viaMmAccess && !target.hasMm) {
    // mm_access returns NULL without a ptrace check for a task without an mm.
    // __mem_open users (mem, environ, auxv) turn that into ESRCH (Linux >= 6.15);
    // proc_maps_open users open and read nothing (verified on 6.18).
    if (MEM_OPEN_FILES.has(file)) throw new FsError('ESRCH', `process ${ref.tid} has no mm`);
    return target;
  }
  // A caller outside our pid namespace (pid 0) cannot be identified: deny.
  if (caller.pid <= 0) throw new FsError(rule.errno, 'caller not visible in our pid namespace');
  const who = readCallerCredentials(ref.host, caller.pid);
  const env = readAccessEnv(ref.host, who, target, ref.ctx.access);
  const d = mayAccessFile(file, who, target, env);
  if (!d.allow) throw new FsError(d.errno, d.decision.allow ? d.errno : d.decision.reason);
  return target;
}
