/**
 * Which ptrace check each per-pid procfs file makes, when, and the errno a
 * denial gives (fs/proc/base.c, fd.c, task_mmu.c, namespaces.c). The entry
 * tables of src/tree hold these rules; nodes ask `mayAccessFile` and never decide.
 *
 * DAC on the file's mode (e.g. mem 0600, owner from task_dump_owner) runs in
 * the VFS before any of these checks (SPEC-3) and is not part of this table.
 */
import { isPerfmonCapable, mayAccess, mayAccessMm, type AccessEnv, type Decision } from './access';
import { type Credentials } from './credentials';
import { PTRACE_MODE_ATTACH_FSCREDS, PTRACE_MODE_READ_FSCREDS } from './ptrace-mode';

export interface FileAccessRule {
  /** ptrace mode, or null for files that make no ptrace check */
  mode: number | null;
  /** what the caller sees on denial */
  errno: 'EACCES' | 'EPERM' | null;
  /** the operation that checks */
  when: 'open' | 'readlink' | 'read' | null;
  /**
   * mm_access users (kernel/fork.c) skip the check when the target's mm is
   * the caller's own, and find no mm for a zombie or kernel thread.
   */
  viaMmAccess: boolean;
  /**
   * What an mm_access user does with a task without an mm: __mem_open users
   * (mem, environ, auxv) fail with ESRCH (Linux >= 6.15); proc_maps_open users
   * open and read nothing (verified on 6.18).
   */
  noMm?: 'ESRCH' | 'empty';
  /** the kernel function that checks */
  kernel: string;
  /** a perfmon_capable() caller passes even when the ptrace check fails (see isPerfmonCapable) */
  perfmonBypass?: boolean;
}

const MM_OPEN = (mode: number, kernel: string): FileAccessRule => ({ mode, errno: 'EACCES', when: 'open', viaMmAccess: true, noMm: 'ESRCH', kernel });
const MAPS_OPEN = (kernel: string): FileAccessRule => ({ ...MM_OPEN(PTRACE_MODE_READ_FSCREDS, kernel), noMm: 'empty', perfmonBypass: true });
const LINK = (kernel: string): FileAccessRule => ({ mode: PTRACE_MODE_READ_FSCREDS, errno: 'EACCES', when: 'readlink', viaMmAccess: false, kernel });
const LOCK_TRACE: FileAccessRule = { mode: PTRACE_MODE_ATTACH_FSCREDS, errno: 'EPERM', when: 'read', viaMmAccess: false, kernel: 'fs/proc/base.c lock_trace' };
const NONE: FileAccessRule = { mode: null, errno: null, when: null, viaMmAccess: false, kernel: 'none' };

export const FILE_ACCESS = {
  mem: MM_OPEN(PTRACE_MODE_ATTACH_FSCREDS, 'fs/proc/base.c mem_open -> proc_mem_open -> mm_access'),
  maps: MAPS_OPEN('fs/proc/task_mmu.c proc_maps_open -> proc_mem_open'),
  smaps: MAPS_OPEN('fs/proc/task_mmu.c smaps_open -> proc_mem_open'),
  smaps_rollup: MAPS_OPEN('fs/proc/task_mmu.c smaps_rollup_open -> proc_mem_open'),
  numa_maps: MAPS_OPEN('fs/proc/task_mmu.c pid_numa_maps_open -> proc_mem_open'),
  environ: MM_OPEN(PTRACE_MODE_READ_FSCREDS, 'fs/proc/base.c environ_open -> __mem_open'),
  auxv: MM_OPEN(PTRACE_MODE_READ_FSCREDS, 'fs/proc/base.c auxv_open -> __mem_open'),
  pagemap: { ...MM_OPEN(PTRACE_MODE_READ_FSCREDS, 'fs/proc/task_mmu.c pagemap_open -> proc_mem_open'), noMm: 'empty' },
  exe: LINK('fs/proc/base.c proc_exe_link via proc_fd_access_allowed'),
  cwd: LINK('fs/proc/base.c proc_cwd_link via proc_fd_access_allowed'),
  root: LINK('fs/proc/base.c proc_root_link via proc_fd_access_allowed'),
  'fd/N': LINK('fs/proc/fd.c proc_fd_link via proc_fd_access_allowed'),
  // fdinfo/ checks in the directory's .permission since v6.10 (proc_fdinfo_permission).
  fdinfo: { mode: PTRACE_MODE_READ_FSCREDS, errno: 'EACCES', when: 'open', viaMmAccess: false, kernel: 'fs/proc/fd.c proc_fdinfo_permission' },
  'ns/N': LINK('fs/proc/namespaces.c proc_ns_get_link / proc_ns_readlink'),
  syscall: LOCK_TRACE,
  // stack also needs CAP_SYS_ADMIN in init_user_ns first (proc_pid_stack), checked by its node.
  stack: LOCK_TRACE,
  personality: LOCK_TRACE,
  status: NONE,
  stat: NONE,
  statm: NONE,
  cmdline: NONE,
  comm: NONE,
  limits: NONE,
  cgroup: NONE,
} as const satisfies Record<string, FileAccessRule>;

export type ProcPidFileName = keyof typeof FILE_ACCESS;

export type FileDecision = { allow: true; decision: Decision | null } | { allow: false; errno: 'EACCES' | 'EPERM'; decision: Decision };

/** The check `file` makes, with that file's errno on denial. */
export function mayAccessFile(file: ProcPidFileName | FileAccessRule, caller: Credentials, target: Credentials, env: AccessEnv): FileDecision {
  const rule: FileAccessRule = typeof file === 'string' ? FILE_ACCESS[file] : file;
  if (rule.mode === null || rule.errno === null) return { allow: true, decision: null };
  const decision = rule.viaMmAccess ? mayAccessMm(caller, target, rule.mode, env) : mayAccess(caller, target, rule.mode, env);
  if (decision.allow) return { allow: true, decision };
  if (rule.perfmonBypass && isPerfmonCapable(caller)) return { allow: true, decision: { allow: true, rule: 'perfmon-capable' } };
  return { allow: false, errno: rule.errno, decision };
}
