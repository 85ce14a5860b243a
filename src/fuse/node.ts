/**
 * Node capabilities, in the go-fuse style: a node implements the operations it
 * supports, and the dispatcher checks for the method. A missing capability gets
 * the errno Linux gives (ENOTDIR for lookup/readdir on a file, EINVAL for
 * readlink on a non-link, EISDIR for opening a directory for writing).
 */
import { constants as fsConstants } from 'node:fs';

import type { NativeAttr, NativeFaultPlan } from '../native';
import type { RequestContext } from './request';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFSOCK = 0o140000;
export const S_IFIFO = 0o010000;
export const S_IFMT = 0o170000;
/** open(2) flags: the access mode bits (O_RDONLY 0, O_WRONLY 1, O_RDWR 2). */
export const O_ACCMODE = 3;
/** open(2) O_DIRECT (x86-64, arm64 differ: from the platform's constants). */
export const O_DIRECT = fsConstants.O_DIRECT ?? 0o40000;

/**
 * What getattr answers. The node id is filled in by the inode table, and stat()
 * shows it as st_ino unless `statIno` names another object's inode number (the
 * socket behind fd/<n>: FUSE reports the attribute's ino, not the node id).
 */
export type Attr = Omit<NativeAttr, 'ino'> & { statIno?: number };

export interface DirEntry {
  name: string;
  /** S_IFDIR / S_IFREG / S_IFLNK */
  type: number;
  /** d_off cookie of this entry (stable across calls, ascending) */
  pos: number;
}

/**
 * What a node's open() asks for; the dispatcher alone turns it into a native
 * handle (src/fuse/open-handles.ts), so nodes never touch the addon.
 */
export type OpenIntent =
  /**
   * Bytes made at open; reads slice them natively. A later read from offset 0
   * makes them again, as seq_read does (m->index 0): the dispatcher opens the
   * node once more, with the opener's context, and takes its bytes. With
   * `write`, writes come back to JS and `write` performs them (for the writer);
   * such bytes are not made again.
   */
  | { kind: 'bytes'; data: Buffer; write?: FileWriter; wholeLines?: boolean }
  /**
   * Text generated at every read from offset 0, as seq_file does (seq_read with
   * m->index 0); continuation reads slice it natively. `initial`, if given, is
   * the text for the first read from 0 (made at open: no second trip to JS).
   * `release` frees what `render` holds (an fd bound to the task), at the
   * handle's release. `wholeLines`: a read returns whole lines (seq_file files
   * with one record per line: maps, mounts), as seq_read returns whole records.
   */
  | { kind: 'render'; render: (ctx: RequestContext) => Buffer; initial?: Buffer; release?: () => void; wholeLines?: boolean }
  /**
   * /proc/<pid>/mem: the native handle pins the task's mm (taskDir: its procfs
   * directory) FIRST, then `check` decides on the credentials of the image whose
   * mm is pinned, then the handle proves the task was not reaped meanwhile.
   */
  | { kind: 'mem'; taskDir: string; writable: boolean; check: () => void | Promise<void>; faults?: NativeFaultPlan }
  /**
   * A host file opened by the reader pool wearing the caller's credentials
   * (native/reader_ops.h); each FUSE read is a pread made as that read's
   * caller, so the kernel decides what the reader may open and what it reads.
   */
  | {
      kind: 'as-reader';
      path: string;
      flags: number;
      /** the kernel derives nothing from the READER at read time: reads need no credential switch */
      openerDecides?: boolean;
      opened?: (errno: string | undefined) => void;
    };

/** Performs one write(2) of `data` at `off` for the request's caller; returns the count. */
export type FileWriter = (ctx: RequestContext, data: Buffer, off: number) => number;

export interface Node {
  /**
   * Identity within the parent: two lookups of one name that return nodes with the
   * same key get the same inode. A PidDir's key includes the process start time,
   * so a recycled pid is a new inode and never aliases the old one.
   */
  readonly key: string;
  getattr(ctx: RequestContext): Attr;
  /** May settle later (a check the reader pool makes). */
  lookup?(name: string, ctx: RequestContext): Node | Promise<Node>;
  readdir?(ctx: RequestContext): DirEntry[];
  /** A check at opendir (the kernel's .permission on the directory); throws to refuse. */
  opendir?(ctx: RequestContext): void | Promise<void>;
  /** May settle later (a readlink that the reader pool does). */
  readlink?(ctx: RequestContext): string | Promise<string>;
  /** May settle later (an open that the reader pool does, native/reader_pool.h). */
  open?(ctx: RequestContext, flags: number): OpenIntent | Promise<OpenIntent>;
}
