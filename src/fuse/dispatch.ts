/**
 * The only module that speaks FUSE: one small function per op. Each resolves the
 * node id, calls the node's capability, and turns the result or the thrown error
 * into exactly one reply.
 */
import createDebug from 'debug';

import type { NativeFuseSession, NativeRequest } from '../native';
import type { Caller } from './caller';
import { FsError, toErrno } from './errno';
import { InodeTable } from './inode-table';
import { O_ACCMODE, S_IFDIR, S_IFLNK, type Attr, type Node, type OpenResult } from './node';

const log = createDebug('procfuse:fuse');

/** The reply half of the native session, so tests can drive the dispatcher with a fake. */
export type ReplySink = Pick<
  NativeFuseSession,
  'replyErr' | 'replyEntry' | 'replyAttr' | 'replyOpen' | 'replyReadlink' | 'replyDir' | 'replyBuf'
>;

/** Where a render-at-read handle's new text goes (native.setHandleData). */
export type HandleFiller = (fh: number, data: Buffer) => void;

/** Closes a native handle the kernel never received (open failed half-way). */
export type HandleCloser = (fh: number) => void;

// Everything under /proc changes under us and differs per caller (self, owners
// after setuid or PR_SET_DUMPABLE, exited pids): no entry or attribute caching
// (SPEC-90).
const ENTRY_TIMEOUT = 0;
const ATTR_TIMEOUT = 0;

// setattr valid bits (fuse_lowlevel.h FUSE_SET_ATTR_*).
const SET_ATTR_MODE = 1 << 0;
const SET_ATTR_UID = 1 << 1;
const SET_ATTR_GID = 1 << 2;

export class Dispatcher {
  readonly inodes: InodeTable;
  /** Open render-at-read handles (render, release), until their release. */
  private readonly renderers = new Map<number, Pick<OpenResult, 'render' | 'release'>>();

  constructor(
    private readonly session: ReplySink,
    root: Node,
    private readonly closeHandle: HandleCloser = () => {},
    private readonly fillHandle: HandleFiller = () => {},
  ) {
    this.inodes = new InodeTable(root);
  }

  /** Entry point for every request the native session forwards. */
  handle(req: NativeRequest): void {
    if (req.op === 'forget') {
      this.inodes.forget(req.ino, req.size);
      return;
    }
    if (req.op === 'release') {
      this.dropRenderer(req.fh);
      return;
    }
    const caller: Caller = { pid: req.pid, uid: req.uid, gid: req.gid, umask: req.umask };
    try {
      switch (req.op) {
        case 'lookup':
          return this.lookup(req, caller);
        case 'getattr':
          return this.getattr(req, caller);
        case 'setattr':
          return this.setattr(req, caller);
        case 'readlink':
          return this.readlink(req, caller);
        case 'open':
          return this.open(req, caller);
        case 'opendir':
          return this.opendir(req, caller);
        case 'readdir':
          return this.readdir(req, caller);
        case 'read':
          return this.read(req, caller);
        default:
          throw new FsError('EINVAL', `unknown op ${String((req as { op: unknown }).op)}`);
      }
    } catch (err) {
      const errno = toErrno(err);
      if (!(err instanceof FsError) && !(err && typeof err === 'object' && 'code' in err)) {
        // A bug, not an errno: say so loudly, answer EIO.
        console.error(`procfuse: internal error in ${req.op} (ino ${req.ino}):`, err);
      }
      log('%s ino=%d pid=%d -> errno %d (%s)', req.op, req.ino, req.pid, errno, (err as Error)?.message);
      this.session.replyErr(req.id, errno);
    }
  }

  private node(ino: number): Node {
    const n = this.inodes.get(ino);
    // A node id the kernel still uses but we forgot cannot happen with correct
    // lookup counting; answer as for a vanished process.
    if (!n) throw new FsError('ESRCH', `unknown node ${ino}`);
    return n;
  }

  private toNative(ino: number, a: Attr) {
    return { ...a, ino };
  }

  private lookup(req: NativeRequest, caller: Caller): void {
    const parent = this.node(req.ino);
    if (!parent.lookup) throw new FsError('ENOTDIR');
    const name = req.name!.toString('latin1');
    const child = parent.lookup(name, caller);
    const attr = child.getattr(caller);
    const ino = this.inodes.remember(req.ino, child);
    log('lookup %d/%s pid=%d -> %d', req.ino, name, req.pid, ino);
    this.session.replyEntry(req.id, {
      ino,
      generation: 0,
      attr: this.toNative(ino, attr),
      entryTimeout: ENTRY_TIMEOUT,
      attrTimeout: ATTR_TIMEOUT,
    });
  }

  private getattr(req: NativeRequest, caller: Caller): void {
    const attr = this.node(req.ino).getattr(caller);
    this.session.replyAttr(req.id, this.toNative(req.ino, attr), ATTR_TIMEOUT);
  }

  private setattr(req: NativeRequest, caller: Caller): void {
    const node = this.node(req.ino);
    // proc_setattr refuses mode changes; chown of a procfs entry is refused too.
    // A size change (O_TRUNC on open for writing) is accepted and ignored.
    if (req.flags & (SET_ATTR_MODE | SET_ATTR_UID | SET_ATTR_GID)) throw new FsError('EPERM');
    this.session.replyAttr(req.id, this.toNative(req.ino, node.getattr(caller)), ATTR_TIMEOUT);
  }

  private readlink(req: NativeRequest, caller: Caller): void {
    const node = this.node(req.ino);
    if (!node.readlink) throw new FsError('EINVAL');
    const target = node.readlink(caller);
    log('readlink %d pid=%d -> %s', req.ino, req.pid, target);
    this.session.replyReadlink(req.id, target);
  }

  private open(req: NativeRequest, caller: Caller): void {
    const node = this.node(req.ino);
    if (!node.open) {
      const mode = node.getattr(caller).mode & 0o170000;
      if (mode === S_IFDIR && (req.flags & O_ACCMODE) !== 0) throw new FsError('EISDIR');
      if (mode === S_IFLNK) throw new FsError('ELOOP');
      throw new FsError('EACCES');
    }
    const r = node.open(caller, req.flags);
    if (r.render) this.renderers.set(r.fh, { render: r.render, release: r.release });
    try {
      this.session.replyOpen(req.id, r.fh, { directIo: r.directIo, keepCache: false, nonseekable: false });
    } catch (err) {
      this.dropRenderer(r.fh);
      this.closeHandle(r.fh);
      throw err;
    }
  }

  private dropRenderer(fh: number): void {
    const r = this.renderers.get(fh);
    this.renderers.delete(fh);
    r?.release?.();
  }

  /** A read at offset 0 of a render-at-read handle: generate the text now. */
  private read(req: NativeRequest, caller: Caller): void {
    const render = this.renderers.get(req.fh)?.render;
    if (!render) throw new FsError('EBADF');
    const data = render(caller);
    this.fillHandle(req.fh, data);
    this.session.replyBuf(req.id, data.subarray(req.off, req.off + req.size));
  }

  private opendir(req: NativeRequest, caller: Caller): void {
    const node = this.node(req.ino);
    if (!node.readdir) throw new FsError('ENOTDIR');
    node.opendir?.(caller);
    this.session.replyOpen(req.id, 0, { directIo: false, keepCache: false, nonseekable: false });
  }

  private readdir(req: NativeRequest, caller: Caller): void {
    const node = this.node(req.ino);
    if (!node.readdir) throw new FsError('ENOTDIR');
    const entries = node.readdir(caller);
    // d_ino: the directory's own id for ".", else a number derived from the
    // cookie (readdir(3) users only compare it with 0; stat gives the real one).
    const out = entries.map((e) => ({
      name: e.name,
      ino: e.name === '.' ? req.ino : 0x100000 + e.pos,
      mode: e.type,
      pos: e.pos,
    }));
    this.session.replyDir(req.id, out, req.off, req.size);
  }
}
