/**
 * Ids as a reader in another user namespace sees them. The kernel prints ids in
 * per-process files for the opener's user namespace (seq_user_ns(m), or
 * file->f_cred->user_ns): from_kuid_munged maps a kernel id up into that
 * namespace and gives the overflow id (65534) when it has no mapping there;
 * from_kuid gives (uid_t)-1. Linux: kernel/user_namespace.c map_id_up,
 * from_kuid_munged; fs/proc/array.c task_state; fs/proc/base.c proc_loginuid_read.
 *
 * The maps come from the reader's /proc/<tid>/{uid,gid}_map read by the daemon:
 * uid_m_show prints each extent's lower id for the opener's namespace, and the
 * daemon's is where our ids (the host's /proc contents) are numbered, so each
 * line reads "id-in-reader's-ns  our-id  count", at any nesting depth.
 */
import type { RequestContext } from '../fuse/request';
import type { HostProc } from '../host/host-proc';

export interface IdExtent {
  first: number;
  lowerFirst: number;
  count: number;
}

/** "first lower_first count" lines (kernel/user_namespace.c uid_m_show). Pure. */
export function parseIdMap(text: string): IdExtent[] {
  const out: IdExtent[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length === 3 && f.every(Number.isInteger)) out.push({ first: f[0]!, lowerFirst: f[1]!, count: f[2]! });
  }
  return out;
}

/** map_id_up: our id in the reader's namespace, or undefined when unmapped. Pure. */
export function mapIdUp(map: readonly IdExtent[], id: number): number | undefined {
  for (const e of map) if (id >= e.lowerFirst && id - e.lowerFirst < e.count) return e.first + (id - e.lowerFirst);
  return undefined;
}

export interface ReaderIdMaps {
  uid: IdExtent[];
  gid: IdExtent[];
  overflowUid: number;
  overflowGid: number;
}

/** status's Uid:, Gid: and Groups: lines for a reader with these maps (task_state). Pure. */
export function mapStatusIds(text: string, maps: ReaderIdMaps): string {
  const munge = (map: IdExtent[], overflow: number) => (id: string) => String(mapIdUp(map, Number(id)) ?? overflow);
  return text.replace(/^(Uid|Gid|Groups):(.*)$/gm, (line, key: string, rest: string) => {
    const [map, overflow] = key === 'Uid' ? [maps.uid, maps.overflowUid] : [maps.gid, maps.overflowGid];
    return `${key}:${rest.replace(/\d+/g, munge(map, overflow))}`;
  });
}

/** loginuid for a reader with this uid map: from_kuid, (uid_t)-1 when unmapped (proc_loginuid_read). Pure. */
export function mapLoginUid(text: string, uid: readonly IdExtent[]): string {
  const id = Number(text.trim());
  // AUDIT_UID_UNSET ((uid_t)-1) stays as it is: it is no kernel id.
  if (!Number.isInteger(id) || id === 0xffffffff) return text;
  return String(mapIdUp(uid, id) ?? 0xffffffff);
}

const ownUserNs = new WeakMap<HostProc, string>();

/**
 * The request reader's id maps, or undefined when it is in the daemon's own user
 * namespace (nothing to map). Read fresh on each call: a namespace's maps are
 * written once, but the reader's namespace is its own business.
 */
export function readerIdMaps(ctx: RequestContext): ReaderIdMaps | undefined {
  const own = ctx.view.mount.own;
  const tid = ctx.caller.pid;
  if (tid <= 0) return undefined;
  let mine = ownUserNs.get(own);
  if (mine === undefined) ownUserNs.set(own, (mine = own.readlink('self', 'ns', 'user').toString()));
  try {
    if (own.readlink(tid, 'ns', 'user').toString() === mine) return undefined;
    return {
      uid: parseIdMap(own.readText(tid, 'uid_map')),
      gid: parseIdMap(own.readText(tid, 'gid_map')),
      overflowUid: Number(own.readText('sys', 'kernel', 'overflowuid').trim()),
      overflowGid: Number(own.readText('sys', 'kernel', 'overflowgid').trim()),
    };
  } catch {
    // A reader whose namespace we cannot read sees only overflow ids.
    return { uid: [], gid: [], overflowUid: 65534, overflowGid: 65534 };
  }
}
