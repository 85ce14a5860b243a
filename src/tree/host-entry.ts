/**
 * Everything in the root that is not a process: uptime, meminfo, stat, loadavg,
 * cpuinfo, sys/, mounts (a link to self/mounts), ... passed through from the
 * host's /proc, read-only, so that ps, top and friends work on the mount.
 * Writes (sysctl knobs in sys/) are refused: a sandbox must not reach the
 * host's kernel settings through us.
 */
import { FsError } from '../fuse/errno';
import { O_ACCMODE, S_IFDIR, S_IFLNK, S_IFREG, type Attr, type DirEntry, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import type { HostProc } from '../host/host-proc';

function typeOf(mode: number): number {
  return mode & 0o170000;
}

export function hostEntry(host: HostProc, rel: string[]): Node | undefined {
  let st;
  try {
    st = host.lstat(...rel);
  } catch (e) {
    if (e instanceof FsError) return undefined;
    throw e;
  }
  switch (typeOf(st.mode)) {
    case S_IFDIR:
      return new HostDir(host, rel);
    case S_IFLNK:
      return new HostLink(host, rel);
    case S_IFREG:
      return new HostFile(host, rel);
    default:
      return undefined;
  }
}

abstract class HostNode implements Node {
  constructor(
    protected readonly host: HostProc,
    protected readonly rel: string[],
  ) {}

  get key(): string {
    return `host:${this.rel[this.rel.length - 1]}`;
  }

  getattr(): Attr {
    const st = this.host.lstat(...this.rel);
    return { mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, size: 0, time: st.mtimeMs / 1000 };
  }
}

export class HostDir extends HostNode {
  lookup(name: string): Node {
    const n = hostEntry(this.host, [...this.rel, name]);
    if (!n) throw new FsError('ENOENT');
    return n;
  }

  readdir(): DirEntry[] {
    const out: DirEntry[] = [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
    ];
    this.host.readdir(...this.rel).forEach((name, i) => {
      let type = S_IFREG;
      try {
        type = typeOf(this.host.lstat(...this.rel, name).mode);
      } catch {
        // vanished meanwhile
      }
      out.push({ name, type, pos: 2 + i });
    });
    return out;
  }
}

export class HostFile extends HostNode {
  open(_ctx: RequestContext, flags: number): OpenIntent {
    if ((flags & O_ACCMODE) !== 0) throw new FsError('EACCES', 'host /proc entries are read-only here');
    return { kind: 'bytes', data: this.host.readBytes(...this.rel) };
  }
}

export class HostLink extends HostNode {
  readlink(): string {
    return this.host.readlink(...this.rel).toString('latin1');
  }
}
