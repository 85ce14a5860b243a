/**
 * /proc/keys as the reader's own open shows it. Linux: security/keys/proc.c
 * proc_keys_show, security/keys/permission.c key_task_permission.
 *
 * The file is opened and read as the reader (native readAsReader), so the
 * kernel applies the reader's fsuid, fsgid and groups; but "possession" comes
 * from the reading thread's keyrings, and the reader pool's thread possesses
 * the daemon's session keyring and root's user keyrings (its real uid stays 0,
 * see native/reader_creds.cc). So we keep only the lines the reader may view
 * WITHOUT possession; keys that the reader sees only because it possesses
 * them are dropped (narrower than the kernel, never wider:
 * docs/known-differences.md).
 */

/** security/keys: KEY_{POS,USR,GRP,OTH}_VIEW are bit 0 of each byte of perm. */
const KEY_VIEW = 0x01;
const KEY_GRP_ALL = 0x3f00;
/** What from_kuid_munged/from_kgid_munged print for an unmapped or invalid id. */
const OVERFLOW_ID = 65534;

export interface KeyViewer {
  fsuid: number;
  fsgid: number;
  groups: readonly number[];
}

/**
 * key_task_permission(KEY_NEED_VIEW) for a non-possessed key, from the line's
 * perm, uid and gid fields ("%08x %c%c%c%c%c%c%c %5d %4s %08x %5d %5d ...").
 * A gid shown as 65534 may be INVALID_GID (no group bits apply): we never grant
 * group view through it.
 */
export function mayViewKeyLine(line: string, who: KeyViewer): boolean {
  const f = line.trim().split(/\s+/);
  if (f.length < 7) return false;
  const perm = Number.parseInt(f[4]!, 16);
  const uid = Number(f[5]);
  const gid = Number(f[6]);
  if (!Number.isFinite(perm) || !Number.isInteger(uid) || !Number.isInteger(gid)) return false;
  let kperm: number;
  if (uid === who.fsuid) kperm = perm >>> 16;
  else if (gid !== OVERFLOW_ID && perm & KEY_GRP_ALL && (gid === who.fsgid || who.groups.includes(gid))) kperm = perm >>> 8;
  else kperm = perm;
  return (kperm & KEY_VIEW) !== 0;
}

export function filterKeys(text: string, who: KeyViewer): string {
  const lines = text.split('\n');
  const last = lines.pop(); // '' after the final newline
  const kept = lines.filter((l) => mayViewKeyLine(l, who));
  return kept.map((l) => `${l}\n`).join('') + (last ?? '');
}
