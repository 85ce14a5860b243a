/**
 * /proc/<pid>/fd, /proc/<pid>/fdinfo and /proc/<pid>/ns.
 * Linux: fs/proc/fd.c (proc_readfd, proc_fd_link, proc_fdinfo_permission),
 * fs/proc/namespaces.c (proc_ns_get_link).
 *
 * fd/ is dr-x------ owned by the task (DAC, applied by the kernel through
 * default_permissions); each fd/<n> link checks READ_FSCREDS at readlink.
 * fdinfo/ checks READ_FSCREDS on the directory itself (since v6.10), and each
 * fdinfo/<n> again at open (seq_fdinfo_open: proc_fdinfo_access_allowed), so
 * an fd reopened after the task exec'd a setuid program is refused.
 */
import { FsError } from '../fuse/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { callerIsTargetGroup, checkFileAccess, judgeByProbe } from '../files/access-check';
import { HostSnapshotFile } from '../files/host-snapshot-file';
import { isObjectLinkName, LinkTarget } from '../files/link-target';
import { ProcLink } from '../files/proc-link';
import { FILE_ACCESS } from '../policy/file-modes';
import { processAttr } from '../proc/attrs';
import type { ProcessRef } from '../proc/process-ref';
import { parsePidName } from './pid-name';

function listHost(ref: ProcessRef, dir: string): string[] {
  return ref.readChecked(() => {
    try {
      return ref.host.readdir(...ref.hostPath(dir));
    } catch (e) {
      if (e instanceof FsError) throw e;
      throw new FsError('ENOENT');
    }
  });
}

export class FdDir implements Node {
  constructor(
    private readonly ref: ProcessRef,
    readonly key: 'fd' | 'fdinfo',
  ) {}

  getattr(ctx: RequestContext): Attr {
    const attr = processAttr(this.ref, [this.key], S_IFDIR | (this.key === 'fd' ? 0o500 : 0o555), 2);
    // proc_fd_permission: after generic_permission fails, a task of the same
    // thread group may still list its own fd/ (a non-dumpable process's fd/
    // is root's). The kernel applies DAC to what getattr says (our mount's
    // default_permissions; attributes are never cached), so the task itself
    // is shown as the owner: its own stat of fd/ differs from the host's
    // (docs/known-differences.md), its access is the kernel's.
    if (this.key === 'fd' && listsItsOwnFds(ctx, this.ref)) return { ...attr, uid: ctx.caller.uid };
    return attr;
  }

  /**
   * proc_fdinfo_permission for the caller: the host kernel judges an open of
   * the host's fdinfo/ made as the reader (the reader pool); the reader's own
   * task, which no pool thread can be, is decided by the policy.
   */
  private check(ctx: RequestContext): void | Promise<void> {
    if (this.key !== 'fdinfo') return;
    if (callerIsTargetGroup(ctx, this.ref)) return void checkFileAccess(FILE_ACCESS.fdinfo, ctx, this.ref);
    return judgeByProbe(FILE_ACCESS.fdinfo, ctx, this.ref, 'fdinfo', 0, () =>
      this.ref.host.probeAsReader(ctx.caller, 0, ...this.ref.hostPath('fdinfo')),
    );
  }

  /** fdinfo/ refuses at opendir already (proc_fdinfo_permission, v6.10+). */
  opendir(ctx: RequestContext): void | Promise<void> {
    return this.check(ctx);
  }

  lookup(name: string, ctx: RequestContext): Node | Promise<Node> {
    const checked = this.check(ctx);
    if (checked instanceof Promise) return checked.then(() => this.child(name, ctx));
    return this.child(name, ctx);
  }

  private child(name: string, ctx: RequestContext): Node {
    // The kernel resolves a link's relative target (socket:[N]) in this directory.
    if (this.key === 'fd' && isObjectLinkName(name)) return LinkTarget.lookup(this.ref, 'fd', name, FILE_ACCESS['fd/N'], ctx);
    const fd = parsePidName(name);
    if (fd === undefined || !listHost(this.ref, this.key).includes(name)) throw new FsError('ENOENT');
    return this.key === 'fd'
      ? new ProcLink(this.ref, ['fd', String(fd)], FILE_ACCESS['fd/N'])
      : new HostSnapshotFile(this.ref, `fdinfo/${fd}`, { access: FILE_ACCESS.fdinfo });
  }

  // No check at getdents: proc_fdinfo_permission runs at open and lookup only.
  readdir(): DirEntry[] {
    const fds = listHost(this.ref, this.key)
      .map(Number)
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => a - b);
    const type = this.key === 'fd' ? S_IFLNK : S_IFREG;
    return [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
      ...fds.map((n) => ({ name: String(n), type, pos: n + 2 })),
    ];
  }
}

/** same_thread_group(task, current), both numbered in the node's view. */
function listsItsOwnFds(ctx: RequestContext, ref: ProcessRef): boolean {
  if (ctx.view !== ref.view) return false;
  const tgid = ctx.callerInView().tgid;
  return tgid !== 0 && tgid === ref.tgid;
}

/** /proc/<pid>/ns: dr-x--x--x, one link per namespace kind the host shows. */
export class NsDir implements Node {
  readonly key = 'ns';
  constructor(private readonly ref: ProcessRef) {}

  getattr(): Attr {
    return processAttr(this.ref, ['ns'], S_IFDIR | 0o511, 2);
  }

  // ns/<type> reads "<type>:[inode]", and that name is deliberately NOT resolved
  // (unlike fd/'s sockets): gdb stats /proc/self/ns/mnt and /proc/<pid>/ns/mnt, and
  // when their st_ino differ it reads the target's files after setns() into its
  // namespace, which fails on a FUSE file; when the stat fails it reads them
  // directly, which works. lsns, which needs the numbers, sees nothing instead.
  lookup(name: string): Node {
    if (!listHost(this.ref, 'ns').includes(name)) throw new FsError('ENOENT');
    return new ProcLink(this.ref, ['ns', name], FILE_ACCESS['ns/N']);
  }

  readdir(): DirEntry[] {
    return [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
      ...listHost(this.ref, 'ns').map((name, i) => ({ name, type: S_IFLNK, pos: 2 + i })),
    ];
  }
}
