/**
 * /proc/<pid>/fd, /proc/<pid>/fdinfo and /proc/<pid>/ns.
 * Linux: fs/proc/fd.c (proc_readfd, proc_fd_link, proc_fdinfo_permission),
 * fs/proc/namespaces.c (proc_ns_get_link).
 *
 * fd/ is dr-x------ owned by the task (DAC, applied by the kernel through
 * default_permissions); each fd/<n> link checks READ_FSCREDS at readlink.
 * fdinfo/ checks READ_FSCREDS on the directory itself (since v6.10).
 */
import { FsError } from '../fuse/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { checkFileAccess } from '../files/access-check';
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

  getattr(): Attr {
    return processAttr(this.ref, [this.key], S_IFDIR | (this.key === 'fd' ? 0o500 : 0o555), 2);
  }

  private check(ctx: RequestContext): void {
    if (this.key === 'fdinfo') checkFileAccess(FILE_ACCESS.fdinfo, ctx, this.ref);
  }

  /** fdinfo/ refuses at opendir already (proc_fdinfo_permission, v6.10+). */
  opendir(ctx: RequestContext): void {
    this.check(ctx);
  }

  lookup(name: string, ctx: RequestContext): Node {
    this.check(ctx);
    // The kernel resolves a link's relative target (socket:[N]) in this directory.
    if (this.key === 'fd' && isObjectLinkName(name)) return LinkTarget.lookup(this.ref, 'fd', name, FILE_ACCESS['fd/N'], ctx);
    const fd = parsePidName(name);
    if (fd === undefined || !listHost(this.ref, this.key).includes(name)) throw new FsError('ENOENT');
    return this.key === 'fd'
      ? new ProcLink(this.ref, ['fd', String(fd)], FILE_ACCESS['fd/N'])
      : new HostSnapshotFile(this.ref, `fdinfo/${fd}`);
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
