/**
 * A view: which pid namespace a request sees, as a kernel procfs instance
 * belongs to one (fs/proc/root.c proc_fill_super: fs_info->pid_ns), plus the
 * mount's procfs options (hidepid=, gid=, subset=pid; proc_parse_param).
 *
 * Each view reads a private kernel procfs instance of its namespace
 * (native.procfsInstance), so the kernel itself lists that namespace's tasks
 * under their numbers there and renders every pid field (status NSpid/PPid/
 * TracerPid, stat's pid/ppid/pgrp/session/tpgid, task/, pidfd fdinfo) for it.
 * Callers always come from the daemon's own namespace (FUSE request pids,
 * fs/fuse/dev.c), so the mount keeps one instance of that namespace as `own`.
 */
import type { FaultHooks } from '../faults/fault-rules-file';
import type { AccessEnvOptions } from '../host/access-env';
import type { HostProc } from '../host/host-proc';

/** proc_parse_param "hidepid": enum proc_hidepid (include/linux/proc_fs.h). */
export type HidePid = 'off' | 'noaccess' | 'invisible' | 'ptraceable';

export interface ProcOptions {
  hidepid: HidePid;
  /** gid= : members of this group are exempt from hidepid (has_pid_permissions) */
  gid?: number;
  /** subset=pid: only process directories, self and thread-self (proc_root_readdir) */
  subsetPid: boolean;
  /** cgroup=PATH: the container whose resources the resource files show (src/resources/) */
  cgroup?: string;
}

export const DEFAULT_PROC_OPTIONS: ProcOptions = { hidepid: 'off', subsetPid: false };

/** What every view of one mount shares. */
export interface MountContext {
  /** procfs of the daemon's own pid namespace: where callers are read */
  readonly own: HostProc;
  readonly access: AccessEnvOptions;
  readonly options: ProcOptions;
  /** --faults: rules compiled into mem handles at open, applied to maps at read */
  readonly faults?: FaultHooks;
  /** --replay: a snapshot's proc/ directory, the procfs of the only view */
  readonly replay?: HostProc;
}

export class View {
  constructor(
    /** distinguishes nodes of different views in one mount (per-caller views) */
    readonly id: string,
    /** the view's procfs: targets are named and read here */
    readonly proc: HostProc,
    readonly mount: MountContext,
    /**
     * The view's pid namespace inode; null for the daemon's own namespace, in
     * which every FUSE caller is visible under its request pid.
     */
    readonly pidNs: bigint | null,
  ) {}

  get isOwn(): boolean {
    return this.pidNs === null;
  }
}
