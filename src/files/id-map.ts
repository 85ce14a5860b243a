/**
 * /proc/<pid>/uid_map, gid_map, projid_map and setgroups. Linux:
 * kernel/user_namespace.c proc_id_map_open, uid_m_show, map_write,
 * new_idmap_permitted, proc_setgroups_show/write.
 *
 * Reading: each extent's lower id is printed for the opener's user namespace
 * (or, when the opener is in the target's own namespace, for its parent's), as
 * from_kuid gives it: (u32)-1 when unmapped there.
 *
 * Writing is performed by a forked child that has taken the WRITER's ids,
 * groups, capabilities and user namespace (native.writeAs), so the kernel
 * itself applies map_write's and new_idmap_permitted's rules to that writer:
 * `unshare --user --map-root-user`, bwrap and rootless tools work, and nothing
 * is ever written with the daemon's privileges.
 */
import { FsError } from '../fuse/errno';
import { O_ACCMODE, S_IFREG, type Attr, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import { parseIdList } from '../host/parse-status';
import { native, type NativeTaskCreds } from '../native';
import { processAttr } from '../proc/attrs';
import type { ProcessRef } from '../proc/process-ref';
import { mapIdUp, parseIdMap } from '../view/user-ns';

export type IdMapName = 'uid_map' | 'gid_map' | 'projid_map' | 'setgroups';

/** Which of the reader's own maps numbers a file's lower ids. */
const READER_MAP: Record<IdMapName, string | null> = { uid_map: 'uid_map', gid_map: 'gid_map', projid_map: 'projid_map', setgroups: null };

/** uid_m_show: "%10u %10u %10u\n" with each lower id mapped up into the reader's namespace. Pure. */
export function renderIdMapForReader(text: string, readerMap: string): string {
  const map = parseIdMap(readerMap);
  return parseIdMap(text)
    .map((e) => {
      const lower = mapIdUp(map, e.lowerFirst) ?? 0xffffffff;
      return `${String(e.first).padStart(10)} ${String(lower).padStart(10)} ${String(e.count).padStart(10)}\n`;
    })
    .join('');
}

export class IdMapFile implements Node {
  constructor(
    private readonly ref: ProcessRef,
    readonly key: IdMapName,
  ) {}

  getattr(): Attr {
    // REG(..., S_IRUGO|S_IWUSR, proc_*_map_operations)
    return processAttr(this.ref, [this.key], S_IFREG | 0o644);
  }

  open(ctx: RequestContext, flags: number): OpenIntent {
    const data = this.ref.readChecked(() => this.render(ctx));
    if ((flags & O_ACCMODE) === 0) return { kind: 'bytes', data };
    return { kind: 'bytes', data, write: (wctx, bytes, off) => this.write(wctx, bytes, off) };
  }

  /** What the opener sees (see the module comment). */
  private render(ctx: RequestContext): Buffer {
    const host = this.ref.host;
    const text = host.readText(...this.ref.hostPath(this.key));
    const mapName = READER_MAP[this.key];
    const own = ctx.view.mount.own;
    if (!mapName || ctx.caller.pid <= 0) return Buffer.from(text, 'latin1');
    const readerNs = own.readlink(ctx.caller.pid, 'ns', 'user').toString();
    const daemonNs = own.readlink('self', 'ns', 'user').toString();
    if (readerNs === daemonNs) return Buffer.from(text, 'latin1');
    // An opener in the target's own namespace sees lower ids of its parent: ours
    // when that parent is our namespace (the common case: unshare, bwrap, runc).
    const targetNs = host.readlink(...this.ref.hostPath('ns', 'user')).toString();
    if (readerNs === targetNs) return Buffer.from(text, 'latin1');
    return Buffer.from(renderIdMapForReader(text, own.readText(ctx.caller.pid, mapName)), 'latin1');
  }

  private write(ctx: RequestContext, bytes: Buffer, off: number): number {
    // map_write: only a write at offset 0 (the whole map in one write).
    if (off !== 0) throw new FsError('EINVAL', 'id maps are written whole, at offset 0');
    const creds = writerCreds(ctx);
    return this.ref.readChecked(() => {
      try {
        return native.writeAs(creds, this.ref.host.path(...this.ref.hostPath(this.key)), bytes);
      } catch (e) {
        if (e && typeof e === 'object' && 'code' in e) throw new FsError((e as { code: 'EPERM' }).code, `${this.key}: refused for the writer`);
        throw e;
      }
    });
  }
}

/** The request caller's credentials as its status shows them to us, and its user namespace. */
function writerCreds(ctx: RequestContext): NativeTaskCreds {
  const own = ctx.view.mount.own;
  const tid = ctx.caller.pid;
  if (tid <= 0) throw new FsError('EPERM', 'writer not visible in our pid namespace');
  const status = own.status(tid);
  const caps = (k: string): bigint => BigInt(`0x${status.get(k) ?? '0'}`);
  const ns = own.readlink(tid, 'ns', 'user').toString();
  return {
    uid: parseIdList(status.get('Uid')),
    gid: parseIdList(status.get('Gid')),
    groups: parseIdList(status.get('Groups')),
    capInh: caps('CapInh'),
    capPrm: caps('CapPrm'),
    capEff: caps('CapEff'),
    userNs: ns === own.readlink('self', 'ns', 'user').toString() ? null : own.path(tid, 'ns', 'user'),
  };
}
