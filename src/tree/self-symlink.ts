/**
 * /proc/self and /proc/thread-self. Linux: fs/proc/self.c proc_self_get_link(),
 * fs/proc/thread_self.c proc_thread_self_get_link().
 *
 * The target is computed for the calling task on every readlink, in the numbers
 * of the request's view (task_tgid_nr_ns with the mount's pid namespace). A
 * caller that is not visible there (0) gets ENOENT, as the kernel's self does.
 */
import { FsError } from '../fuse/errno';
import { S_IFLNK, type Attr, type Node } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import type { HostProc } from '../host/host-proc';

abstract class CallerSymlink implements Node {
  abstract readonly key: string;

  getattr(ctx: RequestContext): Attr {
    // Owned by root, lrwxrwxrwx (fs/proc/self.c proc_setup_self).
    return { mode: S_IFLNK | 0o777, nlink: 1, uid: 0, gid: 0, size: 0, time: bootTime(ctx.view.mount.own) };
  }

  protected callerIds(ctx: RequestContext): { tid: number; tgid: number } {
    const ids = ctx.callerInView();
    if (ids.tgid <= 0) throw new FsError('ENOENT', 'caller not visible in this pid namespace');
    return ids;
  }

  abstract readlink(ctx: RequestContext): string;
}

export class SelfSymlink extends CallerSymlink {
  readonly key = 'self';
  readlink(ctx: RequestContext): string {
    return String(this.callerIds(ctx).tgid);
  }
}

export class ThreadSelfSymlink extends CallerSymlink {
  readonly key = 'thread-self';
  readlink(ctx: RequestContext): string {
    const { tid, tgid } = this.callerIds(ctx);
    return `${tgid}/task/${tid}`;
  }
}

const bootTimes = new WeakMap<HostProc, number>();
/** Time of the host procfs root inode: procfs entries that never change show it. */
export function bootTime(host: HostProc): number {
  let t = bootTimes.get(host);
  if (t === undefined) bootTimes.set(host, (t = host.lstat().mtimeMs / 1000));
  return t;
}
