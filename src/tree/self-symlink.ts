/**
 * /proc/self and /proc/thread-self. Linux: fs/proc/self.c proc_self_get_link(),
 * fs/proc/thread_self.c proc_thread_self_get_link().
 *
 * The target is computed for the calling task on every readlink (SPEC-53); FUSE
 * gives us the caller's thread id, and self names its thread group id (SPEC-51).
 * A caller that is not visible in our pid namespace arrives as pid 0: ENOENT.
 */
import type { Caller } from '../fuse/caller';
import { FsError } from '../fuse/errno';
import { S_IFLNK, type Attr, type Node } from '../fuse/node';
import type { HostProc } from '../host/host-proc';

abstract class CallerSymlink implements Node {
  abstract readonly key: string;
  constructor(protected readonly host: HostProc) {}

  getattr(): Attr {
    // Owned by root, lrwxrwxrwx (fs/proc/self.c proc_setup_self).
    return { mode: S_IFLNK | 0o777, nlink: 1, uid: 0, gid: 0, size: 0, time: bootTime(this.host) };
  }

  protected callerTgid(caller: Caller): number {
    if (caller.pid <= 0) throw new FsError('ENOENT', 'caller not visible in this pid namespace');
    return this.host.tgidOf(caller.pid);
  }

  abstract readlink(caller: Caller): string;
}

export class SelfSymlink extends CallerSymlink {
  readonly key = 'self';
  readlink(caller: Caller): string {
    return String(this.callerTgid(caller));
  }
}

export class ThreadSelfSymlink extends CallerSymlink {
  readonly key = 'thread-self';
  readlink(caller: Caller): string {
    return `${this.callerTgid(caller)}/task/${caller.pid}`;
  }
}

const bootTimes = new WeakMap<HostProc, number>();
/** Time of the host procfs root inode: procfs entries that never change show it. */
export function bootTime(host: HostProc): number {
  let t = bootTimes.get(host);
  if (t === undefined) bootTimes.set(host, (t = host.lstat().mtimeMs / 1000));
  return t;
}
