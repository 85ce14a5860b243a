/**
 * One task as a node sees it: its number in its view and its start time,
 * captured at lookup. The kernel's proc inodes hold a struct pid, so an old inode
 * never names a newer process that got the same number. We hold (number, start
 * time): every operation re-reads the start time and, if it differs, the node's
 * process is gone. Files that keep an fd (mem, maps, ...) are bound to the task
 * by the fd itself.
 *
 * Below both src/tree and src/files: nodes of either kind hold one.
 */
import { FsError } from '../fuse/errno';
import type { HostProc } from '../host/host-proc';
import type { View } from '../view/view';

export class ProcessRef {
  private constructor(
    readonly view: View,
    /** thread group id, in the view's namespace */
    readonly tgid: number,
    /** the task this ref names: the number in /proc/<n> or task/<tid> */
    readonly tid: number,
    /** true for /proc/<tgid>/task/<tid>: no task/ below it (tid_base_stuff) */
    readonly isThread: boolean,
    readonly startTime: bigint,
  ) {}

  /** /proc/<n>: any task id resolves, leader or not (proc_pid_lookup). */
  static lookup(view: View, n: number): ProcessRef | undefined {
    const host = view.proc;
    try {
      const st = host.stat(n);
      const tgid = host.tgidOf(n);
      return new ProcessRef(view, tgid, n, false, st.startTime);
    } catch (e) {
      if (e instanceof FsError) return undefined;
      throw e;
    }
  }

  /** /proc/<tgid>/task/<tid>: only tasks of the same thread group. */
  static lookupThread(view: View, tgid: number, tid: number): ProcessRef | undefined {
    const host = view.proc;
    try {
      // The host resolves task/<tid> only within tgid's group (proc_task_lookup).
      const st = host.stat(tgid, tid);
      return new ProcessRef(view, tgid, tid, true, st.startTime);
    } catch (e) {
      if (e instanceof FsError) return undefined;
      throw e;
    }
  }

  /** The view's procfs, where this task is read. */
  get host(): HostProc {
    return this.view.proc;
  }

  /** Path parts of this task's directory in the view's procfs. */
  hostPath(...rest: Array<string | number>): Array<string | number> {
    return this.isThread ? [this.tgid, 'task', this.tid, ...rest] : [this.tid, ...rest];
  }

  /** Key for the inode table: the same task is the same inode. */
  get key(): string {
    return `${this.view.id}:${this.tid}@${this.startTime}`;
  }

  /** The task's directory in the view's procfs, as a path (native.memOpen). */
  get dirPath(): string {
    return this.host.path(...this.hostPath());
  }

  alive(): boolean {
    try {
      const st = this.isThread ? this.host.stat(this.tgid, this.tid) : this.host.stat(this.tid);
      return st.startTime === this.startTime;
    } catch (e) {
      if (e instanceof FsError) return false;
      throw e;
    }
  }

  /** Throws ESRCH when the process this node named has exited (or its number was reused). */
  ensureAlive(): void {
    if (!this.alive()) throw new FsError('ESRCH', `process ${this.tid} is gone`);
  }

  /**
   * Runs `read` (host I/O about this task) and proves afterwards that the task
   * was still the one we named, so the result cannot belong to a recycled pid.
   */
  readChecked<T>(read: () => T): T {
    let value: T;
    try {
      value = read();
    } catch (e) {
      if (e instanceof FsError && !this.alive()) throw new FsError('ESRCH');
      throw e;
    }
    this.ensureAlive();
    return value;
  }
}
