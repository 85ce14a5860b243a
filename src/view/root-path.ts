/**
 * Mapping paths as the READER of /proc/[pid]/maps sees them.
 *
 * Linux prints a file VMA's name with seq_file_path() -> d_path(), which walks
 * from the file's dentry up towards `current->fs->root`: the root of the task
 * that reads (fs/d_path.c d_path/prepend_path). Hence:
 *   - a file under the reader's root is printed relative to that root
 *     ("/tmp/jail/usr/lib/x.so" is "/usr/lib/x.so" for a reader chrooted at
 *     /tmp/jail);
 *   - a file NOT under the reader's root is printed as its full path from the
 *     absolute root of its mount namespace: d_path ignores prepend_path()'s
 *     "reached the global root" result (unlike getcwd, which prints
 *     "(unreachable)"). Verified on this machine: test/integration/maps-host.test.ts;
 *   - " (deleted)" is appended by d_path after the walk, so it survives;
 *   - names that are not paths ([heap], [anon:x], anon_inode:[...]) are untouched,
 *     and so are files of internal mounts (memfd, SysV shm, shared anonymous
 *     "/dev/zero (deleted)"), whose walk ends at their own mount's root and never
 *     meets the reader's root.
 *
 * The daemon reads the host's maps at root "/", so its text is the view of a
 * reader at "/"; `readerRoot` is readlink(/proc/<reader>/root) as the daemon sees
 * it. The walk compares (mount, dentry) pairs; comparing path strings is the same
 * thing except in two corner cases, both documented in docs/per-pid-files.md: a
 * file reached through a different mount of the same directory, and a root
 * whose own path was deleted.
 */
import type { HostProc } from '../host/host-proc';
import type { RequestContext } from '../fuse/request';
import { isDeletedName, type Vma } from '../host/parse-maps';

const BACKSLASH = 0x5c;
const SLASH = 0x2f;

/**
 * seq_path(m, path, "\n") escaping, fs/seq_file.c mangle_path(): each byte in
 * `esc` becomes '\' and three octal digits. Only "\n" is escaped for maps, and a
 * backslash is NOT escaped, so the kernel's output is ambiguous by design.
 */
export function escapeSeqPath(raw: Buffer, esc: string = '\n'): Buffer {
  const escBytes = new Set(Buffer.from(esc, 'latin1'));
  if (!raw.some((b) => escBytes.has(b))) return raw;
  const parts: number[] = [];
  for (const b of raw) {
    if (escBytes.has(b)) parts.push(BACKSLASH, 0x30 + (b >> 6), 0x30 + ((b >> 3) & 7), 0x30 + (b & 7));
    else parts.push(b);
  }
  return Buffer.from(parts);
}

/**
 * Shared anonymous memory is a file named "dev/zero" (one dentry whose name
 * contains a slash) on the internal shm mount: mm/shmem.c shmem_zero_setup().
 * It looks like a path with two components but is not under any root.
 */
function isShmemZero(v: Vma): boolean {
  return v.devMajor === 0 && v.name.toString('latin1') === '/dev/zero (deleted)';
}

/** Normalises a root link to bytes without a trailing slash ("/" stays "/"). */
function rootBytes(readerRoot: Buffer | string): Buffer {
  let r = typeof readerRoot === 'string' ? Buffer.from(readerRoot, 'latin1') : readerRoot;
  while (r.length > 1 && r[r.length - 1] === SLASH) r = r.subarray(0, r.length - 1);
  return r;
}

/** True if `root` is the absolute root, i.e. views need no rewriting. */
export function isAbsoluteRoot(readerRoot: Buffer | string): boolean {
  const r = rootBytes(readerRoot);
  return r.length === 1 && r[0] === SLASH;
}

/**
 * The name a reader with `readerRoot` sees for one VMA, given the name printed
 * for a reader at "/". Escaping: `name` is already seq_path-escaped, so the root
 * is escaped the same way before comparing (readlink of /proc/pid/root is raw).
 */
export function viewMapsName(v: Vma, readerRoot: Buffer | string): Buffer {
  const root = rootBytes(readerRoot);
  if (isAbsoluteRoot(root)) return v.name;
  if (v.name.length === 0 || v.name[0] !== SLASH || isShmemZero(v)) return v.name;
  const prefix = escapeSeqPath(root);
  // Under the root: the name continues with '/' right after the root's bytes.
  if (v.name.length > prefix.length && v.name[prefix.length] === SLASH && v.name.subarray(0, prefix.length).equals(prefix)) {
    return v.name.subarray(prefix.length);
  }
  return v.name; // outside the root: d_path prints the absolute path
}

/**
 * A raw path (readlink of exe, cwd, root, fd/N) as a reader with `readerRoot`
 * sees it: the same d_path rule, without seq_path escaping. Non-paths
 * ("socket:[12]", "anon_inode:[eventfd]") are returned unchanged.
 */
export function viewPath(raw: Buffer, readerRoot: Buffer | string): Buffer {
  const root = rootBytes(readerRoot);
  if (isAbsoluteRoot(root) || raw.length === 0 || raw[0] !== SLASH) return raw;
  // The reader's root itself (readlink of /proc/<pid>/root or cwd there) is "/".
  if (raw.equals(root)) return Buffer.from('/');
  if (raw.length > root.length && raw[root.length] === SLASH && raw.subarray(0, root.length).equals(root)) {
    return raw.subarray(root.length);
  }
  return raw;
}

/** The maps of a process as a reader whose root is `readerRoot` sees them. Pure. */
export function viewMaps(vmas: readonly Vma[], readerRoot: Buffer | string): Vma[] {
  if (isAbsoluteRoot(readerRoot)) return vmas.slice();
  return vmas.map((v) => {
    const name = viewMapsName(v, readerRoot);
    return name === v.name ? v : { ...v, name, deleted: isDeletedName(name) };
  });
}

/**
 * The reader's root as the daemon sees it: readlink(/proc/<tid>/root), raw bytes.
 * `tid` is the reading thread (the FUSE caller): d_path uses current->fs->root,
 * which a thread that unshared CLONE_FS has of its own. Throws FsError('ENOENT')
 * if the thread is gone; EACCES if the daemon may not look (it runs as root, so
 * normally never).
 */
/** The reading thread's root (d_path: current->fs->root), read where callers live. */
export function readReaderRoot(ctx: RequestContext): Buffer {
  return readTaskRoot(ctx.view.mount.own, ctx.caller.pid);
}

export function readTaskRoot(host: HostProc, tid: number): Buffer {
  return host.readlink(tid, 'root');
}

