/**
 * The only module that speaks FUSE: one small function per op. Each resolves the
 * node id, calls the node's capability, and turns the result or the thrown error
 * into exactly one reply.
 */
import createDebug from 'debug';

import type { NativeFuseSession, NativeRequest } from '../native';
import type { View } from '../view/view';
import type { Caller } from './caller';
import { FsError, toErrno } from './errno';
import { InodeTable } from './inode-table';
import { O_ACCMODE, O_DIRECT, S_IFDIR, S_IFLNK, type Attr, type Node, type OpenIntent } from './node';
import { createHandle, readLength, type HandleFactory, type OpenedHandle } from './open-handles';
import { PolicyGate } from './policy-gate';
import { RequestContext } from './request';

const log = createDebug('procfuse:fuse');

/** The reply half of the native session, so tests can drive the dispatcher with a fake. */
export type ReplySink = Pick<
  NativeFuseSession,
  'replyErr' | 'replyEntry' | 'replyAttr' | 'replyOpen' | 'replyReadlink' | 'replyDir' | 'replyBuf' | 'replyWrite'
>;

/** The native handle calls: creation (open-handles.ts) and a render-at-read handle's new text. */
export type HandleNatives = HandleFactory & { setHandleData(fh: number, data: Buffer): void };

/** Which view a caller's request sees (fixed for a mount, or per caller). */
export type ViewResolver = (caller: Caller) => View;

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
  /** The operator's --policy, applied before any node is asked. */
  readonly gate = new PolicyGate();
  /** Handlers that failed with something other than an errno (bugs), answered EIO. */
  internalErrors = 0;
  /** Open render-at-read handles, until their release. */
  private readonly renderers = new Map<number, NonNullable<OpenedHandle['renderer']>>();
  /** Open handles whose writes come to JS, until their release. */
  private readonly writers = new Map<number, NonNullable<OpenedHandle['writer']>>();

  constructor(
    private readonly session: ReplySink,
    root: Node,
    private readonly resolveView: ViewResolver,
    private readonly natives: HandleNatives,
  ) {
    this.inodes = new InodeTable(root);
  }

  /** Entry point for every request the native session forwards. */
  handle(req: NativeRequest): void {
    if (req.op === 'forget' || req.op === 'release') {
      // Events without a reply: a bug here is logged, never fatal.
      try {
        if (req.op === 'forget') {
          this.inodes.forget(req.ino, req.size);
          if (!this.inodes.get(req.ino)) this.gate.forget(req.ino);
          return;
        }
        if (req.op === 'release') {
          this.dropRenderer(req.fh);
          return;
        }
      } catch (err) {
        this.internalErrors++;
        console.error(`procfuse: internal error in ${req.op} (ino ${req.ino}):`, err);
      }
      return;
    }
    const caller: Caller = { pid: req.pid, uid: req.uid, gid: req.gid, umask: req.umask };
    let pending: void | Promise<void>;
    try {
      pending = this.run(req, new RequestContext(caller, this.resolveView(caller)));
    } catch (err) {
      this.fail(req, err);
      return;
    }
    // An asynchronous op (an open, lookup or readlink the reader pool does):
    // its failure, even a bug, is that request's errno; the daemon keeps serving.
    if (pending) pending.catch((err: unknown) => this.fail(req, err));
  }

  private run(req: NativeRequest, ctx: RequestContext): void | Promise<void> {
    switch (req.op) {
      case 'lookup':
        return this.lookup(req, ctx);
      case 'getattr':
        return this.getattr(req, ctx);
      case 'setattr':
        return this.setattr(req, ctx);
      case 'readlink':
        return this.readlink(req, ctx);
      case 'open':
        return this.open(req, ctx);
      case 'opendir':
        return this.opendir(req, ctx);
      case 'readdir':
        return this.readdir(req, ctx);
      case 'read':
        return this.read(req, ctx);
      case 'write':
        return this.write(req, ctx);
      default:
        throw new FsError('EINVAL', `unknown op ${String((req as { op: unknown }).op)}`);
    }
  }

  /** The one error reply of a request whose handler threw or rejected. */
  private fail(req: NativeRequest, err: unknown): void {
    const errno = toErrno(err);
    if (!(err instanceof FsError) && !(err && typeof err === 'object' && 'code' in err)) {
      // A bug, not an errno: say so loudly, answer EIO.
      this.internalErrors++;
      console.error(`procfuse: internal error in ${req.op} (ino ${req.ino}):`, err);
    }
    log('%s ino=%d pid=%d -> errno %d (%s)', req.op, req.ino, req.pid, errno, (err as Error)?.message);
    try {
      this.session.replyErr(req.id, errno);
    } catch (e) {
      // Already answered (the bug was after the reply): nothing left to tell the kernel.
      console.error(`procfuse: cannot answer ${req.op} (ino ${req.ino}) with errno ${errno}:`, e);
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
    const { statIno, ...attr } = a;
    return { ...attr, ino: statIno ?? ino };
  }

  private lookup(req: NativeRequest, ctx: RequestContext): void | Promise<void> {
    const parent = this.node(req.ino);
    if (!parent.lookup) throw new FsError('ENOTDIR');
    const name = req.name!.toString('latin1');
    const path = this.gate.lookup(req.ino, name, ctx);
    const found = parent.lookup(name, ctx);
    if (found instanceof Promise) return found.then((child) => this.entry(req, ctx, name, path, child));
    this.entry(req, ctx, name, path, found);
  }

  private entry(req: NativeRequest, ctx: RequestContext, name: string, path: string[] | undefined, child: Node): void {
    const attr = child.getattr(ctx);
    const ino = this.inodes.remember(req.ino, child);
    this.gate.remember(ino, path);
    log('lookup %d/%s pid=%d -> %d', req.ino, name, req.pid, ino);
    this.session.replyEntry(req.id, {
      ino,
      generation: 0,
      attr: this.toNative(ino, attr),
      entryTimeout: ENTRY_TIMEOUT,
      attrTimeout: ATTR_TIMEOUT,
    });
  }

  private getattr(req: NativeRequest, ctx: RequestContext): void {
    const attr = this.node(req.ino).getattr(ctx);
    this.session.replyAttr(req.id, this.toNative(req.ino, attr), ATTR_TIMEOUT);
  }

  private setattr(req: NativeRequest, ctx: RequestContext): void {
    const node = this.node(req.ino);
    // proc_setattr refuses mode changes; chown of a procfs entry is refused too.
    // A size change (O_TRUNC on open for writing) is accepted and ignored.
    if (req.flags & (SET_ATTR_MODE | SET_ATTR_UID | SET_ATTR_GID)) throw new FsError('EPERM');
    this.session.replyAttr(req.id, this.toNative(req.ino, node.getattr(ctx)), ATTR_TIMEOUT);
  }

  private readlink(req: NativeRequest, ctx: RequestContext): void | Promise<void> {
    const node = this.node(req.ino);
    if (!node.readlink) throw new FsError('EINVAL');
    this.gate.check(req.ino, ctx, 'readlink');
    const target = node.readlink(ctx);
    const reply = (t: string): void => {
      log('readlink %d pid=%d -> %s', req.ino, req.pid, t);
      this.session.replyReadlink(req.id, t);
    };
    if (target instanceof Promise) return target.then(reply);
    reply(target);
  }

  private open(req: NativeRequest, ctx: RequestContext): void | Promise<void> {
    const node = this.node(req.ino);
    // do_dentry_open: O_DIRECT needs FMODE_CAN_ODIRECT, which no procfs file sets.
    if (req.flags & O_DIRECT) throw new FsError('EINVAL', 'O_DIRECT on a procfs file');
    if (!node.open) {
      const mode = node.getattr(ctx).mode & 0o170000;
      if (mode === S_IFDIR && (req.flags & O_ACCMODE) !== 0) throw new FsError('EISDIR');
      if (mode === S_IFLNK) throw new FsError('ELOOP');
      throw new FsError('EACCES');
    }
    this.gate.check(req.ino, ctx, 'open');
    const opened = node.open(ctx, req.flags);
    if (opened instanceof Promise) return opened.then((intent) => this.openWith(req, ctx, node, intent, false));
    return this.openWith(req, ctx, node, opened, true);
  }

  /** `reopenable`: the node's open is synchronous, so a 'bytes' intent can be made again at a read from offset 0. */
  private openWith(req: NativeRequest, ctx: RequestContext, node: Node, intent: OpenIntent, reopenable: boolean): void | Promise<void> {
    // seq_file regenerates at every read from offset 0: for bytes made at open,
    // that is this node opened again, as its opener (the reader of a passed fd
    // gets what the opener would, as the kernel's f_cred-based checks give).
    const again = (): Buffer => {
      const next = node.open!(ctx, req.flags);
      if (next instanceof Promise) throw new FsError('EIO', 'open became asynchronous');
      if (next.kind !== 'bytes') throw new FsError('EIO', 'open intent changed kind');
      return next.data;
    };
    let r: OpenedHandle | Promise<OpenedHandle>;
    try {
      r = createHandle(intent, ctx, this.natives, reopenable ? again : undefined);
    } catch (err) {
      if (intent.kind === 'render') intent.release?.();
      throw err;
    }
    if (r instanceof Promise) return r.then((h) => this.opened(req, h));
    this.opened(req, r);
  }

  private opened(req: NativeRequest, r: OpenedHandle): void {
    if (r.renderer) this.renderers.set(r.fh, r.renderer);
    if (r.writer) this.writers.set(r.fh, r.writer);
    try {
      this.session.replyOpen(req.id, r.fh, { directIo: r.directIo, keepCache: false, nonseekable: false });
    } catch (err) {
      this.dropRenderer(r.fh);
      this.natives.closeHandle(r.fh);
      throw err;
    }
  }

  private dropRenderer(fh: number): void {
    const r = this.renderers.get(fh);
    this.renderers.delete(fh);
    this.writers.delete(fh);
    r?.release?.();
  }

  /** A write on a handle whose writes come to JS (uid_map, gid_map, setgroups). */
  private write(req: NativeRequest, ctx: RequestContext): void {
    const writer = this.writers.get(req.fh);
    if (!writer) throw new FsError('EBADF');
    this.session.replyWrite(req.id, writer(ctx, req.name ?? Buffer.alloc(0), req.off));
  }

  /** A read at offset 0 of a render-at-read handle: generate the text now. */
  private read(req: NativeRequest, ctx: RequestContext): void {
    const r = this.renderers.get(req.fh);
    if (!r) throw new FsError('EBADF');
    const data = r.render(ctx);
    this.natives.setHandleData(req.fh, data);
    this.session.replyBuf(req.id, data.subarray(req.off, req.off + readLength(data, req.off, req.size, r.wholeLines === true)));
  }

  private opendir(req: NativeRequest, ctx: RequestContext): void | Promise<void> {
    const node = this.node(req.ino);
    if (!node.readdir) throw new FsError('ENOTDIR');
    this.gate.check(req.ino, ctx, 'opendir');
    const checked = node.opendir?.(ctx);
    const reply = (): void => this.session.replyOpen(req.id, 0, { directIo: false, keepCache: false, nonseekable: false });
    if (checked instanceof Promise) return checked.then(reply);
    reply();
  }

  private readdir(req: NativeRequest, ctx: RequestContext): void {
    const node = this.node(req.ino);
    if (!node.readdir) throw new FsError('ENOTDIR');
    const entries = this.gate.filter(req.ino, node.readdir(ctx), ctx);
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
