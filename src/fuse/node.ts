/**
 * Node capabilities, in the go-fuse style: a node implements the operations it
 * supports, and the dispatcher checks for the method. A missing capability gets
 * the errno Linux gives (ENOTDIR for lookup/readdir on a file, EINVAL for
 * readlink on a non-link, EISDIR for opening a directory for writing).
 */
import type { NativeAttr } from '../native';
import type { Caller } from './caller';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
/** open(2) flags: the access mode bits (O_RDONLY 0, O_WRONLY 1, O_RDWR 2). */
export const O_ACCMODE = 3;

/** What getattr answers; ino is filled in by the inode table. */
export type Attr = Omit<NativeAttr, 'ino'>;

export interface DirEntry {
  name: string;
  /** S_IFDIR / S_IFREG / S_IFLNK */
  type: number;
  /** d_off cookie of this entry (stable across calls, ascending) */
  pos: number;
}

export interface OpenResult {
  /** a native handle id (native.bufferHandle or native.memOpen) */
  fh: number;
  directIo: boolean;
  /**
   * For a render-at-read handle: makes the file's text for the caller of a read
   * at offset 0 (seq_file generates at read time, not at open).
   */
  render?: (caller: Caller) => Buffer;
  /** For a render-at-read handle: frees what `render` holds, at the handle's release. */
  release?: () => void;
}

export interface Node {
  /**
   * Identity within the parent: two lookups of one name that return nodes with the
   * same key get the same inode. A PidDir's key includes the process start time,
   * so a recycled pid is a new inode and never aliases the old one.
   */
  readonly key: string;
  getattr(caller: Caller): Attr;
  lookup?(name: string, caller: Caller): Node;
  readdir?(caller: Caller): DirEntry[];
  /** A check at opendir (the kernel's .permission on the directory); throws to refuse. */
  opendir?(caller: Caller): void;
  readlink?(caller: Caller): string;
  open?(caller: Caller, flags: number): OpenResult;
}
