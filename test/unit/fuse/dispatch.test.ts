/**
 * The dispatcher driven by a fake session that fails the test on a second reply
 * to one request, or on a request left without a reply.
 */
import { constants } from 'node:os';

import { describe, expect, test } from 'vitest';

import { Dispatcher, type HandleNatives, type ReplySink } from '../../../src/fuse/dispatch';
import type { RequestContext } from '../../../src/fuse/request';
import type { View } from '../../../src/view/view';
import { FsError } from '../../../src/fuse/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, type Node } from '../../../src/fuse/node';
import type { NativeRequest } from '../../../src/native';

class FakeSession implements ReplySink {
  replies = new Map<number, { kind: string; value: unknown }>();
  private put(id: number, kind: string, value: unknown) {
    if (this.replies.has(id)) throw new Error(`second reply to request ${id}`);
    this.replies.set(id, { kind, value });
  }
  replyErr(id: number, errno: number) { this.put(id, 'err', errno); }
  replyEntry(id: number, e: unknown) { this.put(id, 'entry', e); }
  replyAttr(id: number, a: unknown) { this.put(id, 'attr', a); }
  replyOpen(id: number, fh: number) { this.put(id, 'open', fh); }
  replyReadlink(id: number, t: unknown) { this.put(id, 'readlink', t); }
  replyDir(id: number, entries: unknown) { this.put(id, 'dir', entries); }
  replyBuf(id: number, data: Buffer) { this.put(id, 'buf', data.toString()); }
  replyWrite(id: number, n: number) { this.put(id, 'write', n); }
}

const attr = (mode: number) => ({ mode, nlink: 1, uid: 0, gid: 0, size: 0, time: 0 });

class Leaf implements Node {
  constructor(readonly key: string) {}
  getattr() { return attr(S_IFREG | 0o444); }
  open() { return { kind: 'bytes' as const, data: Buffer.from('x') }; }
}
/** An open that settles later, as the reader pool's do. */
class AsyncLeaf implements Node {
  constructor(
    readonly key: string,
    private readonly outcome: 'ok' | 'EPERM' | 'bug',
  ) {}
  getattr() { return attr(S_IFREG | 0o444); }
  async open() {
    await new Promise((r) => setTimeout(r, 1));
    if (this.outcome === 'EPERM') throw new FsError('EPERM');
    if (this.outcome === 'bug') throw new TypeError('undefined is not a function');
    return { kind: 'as-reader' as const, path: '/proc/x', flags: 0 };
  }
}
class Link implements Node {
  readonly key = 'self';
  getattr() { return attr(S_IFLNK | 0o777); }
  readlink(ctx: RequestContext) { return String(ctx.caller.pid); }
}
class Root implements Node {
  readonly key = 'root';
  getattr() { return attr(S_IFDIR | 0o555); }
  lookup(name: string) {
    if (name === 'self') return new Link();
    if (name === 'boom') throw new Error('bug');
    if (name === 'gone') throw new FsError('ESRCH');
    if (name === 'file') return new Leaf('file');
    if (name === 'async-ok' || name === 'async-EPERM' || name === 'async-bug') {
      return new AsyncLeaf(name, name.slice(6) as 'ok' | 'EPERM' | 'bug');
    }
    throw new FsError('ENOENT');
  }
  readdir() {
    return [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: 'self', type: S_IFLNK, pos: 256 },
    ];
  }
}

/** Native handles as a counter: bufferHandle gives 77 first. */
function fakeNatives(): HandleNatives {
  let next = 77;
  return {
    bufferHandle: () => next++,
    memOpen: () => next++,
    memAlive: () => true,
    openAsReader: () => new Promise<number>((r) => setTimeout(() => r(88), 1)),
    closeHandle: () => {},
    setHandleData: () => {},
  };
}
const noView = () => ({}) as View;
const dispatcher = (s: FakeSession) => new Dispatcher(s, new Root(), noView, fakeNatives());

let nextId = 1;
function req(op: NativeRequest['op'], ino: number, extra: Partial<NativeRequest> = {}): NativeRequest {
  return { id: nextId++, op, ino, fh: 0, flags: 0, off: 0, size: 4096, pid: 1234, uid: 0, gid: 0, umask: 0o22, ...extra };
}

describe('Dispatcher', () => {
  test('lookup, getattr, readlink, readdir, open each get exactly one reply', () => {
    const s = new FakeSession();
    const d = dispatcher(s);
    const reqs = [
      req('lookup', 1, { name: Buffer.from('self') }),
      req('lookup', 1, { name: Buffer.from('file') }),
      req('getattr', 1),
      req('readdir', 1),
    ];
    for (const r of reqs) d.handle(r);
    const selfIno = (s.replies.get(reqs[0]!.id)!.value as { ino: number }).ino;
    const fileIno = (s.replies.get(reqs[1]!.id)!.value as { ino: number }).ino;
    const more = [req('readlink', selfIno), req('open', fileIno), req('readlink', fileIno), req('lookup', fileIno, { name: Buffer.from('x') })];
    for (const r of more) d.handle(r);
    for (const r of [...reqs, ...more]) expect(s.replies.has(r.id)).toBe(true);
    expect(s.replies.get(more[0]!.id)).toEqual({ kind: 'readlink', value: '1234' });
    expect(s.replies.get(more[1]!.id)).toEqual({ kind: 'open', value: 77 });
    expect(s.replies.get(more[2]!.id)).toEqual({ kind: 'err', value: constants.errno.EINVAL });
    expect(s.replies.get(more[3]!.id)).toEqual({ kind: 'err', value: constants.errno.ENOTDIR });
  });

  test('errors become errnos; a bug becomes EIO', () => {
    const s = new FakeSession();
    const d = dispatcher(s);
    const origError = console.error;
    console.error = () => {};
    try {
      const rs = ['nope', 'gone', 'boom'].map((n) => req('lookup', 1, { name: Buffer.from(n) }));
      rs.forEach((r) => d.handle(r));
      expect(rs.map((r) => s.replies.get(r.id)!.value)).toEqual([
        constants.errno.ENOENT,
        constants.errno.ESRCH,
        constants.errno.EIO,
      ]);
    } finally {
      console.error = origError;
    }
  });

  test('lookup counts: the same node keeps its id until forgotten as often as looked up', () => {
    const s = new FakeSession();
    const d = dispatcher(s);
    const a = req('lookup', 1, { name: Buffer.from('file') });
    const b = req('lookup', 1, { name: Buffer.from('file') });
    d.handle(a);
    d.handle(b);
    const ino = (s.replies.get(a.id)!.value as { ino: number }).ino;
    expect((s.replies.get(b.id)!.value as { ino: number }).ino).toBe(ino);
    d.handle(req('forget', ino, { size: 1 }));
    expect(d.inodes.get(ino)).toBeDefined();
    d.handle(req('forget', ino, { size: 1 }));
    expect(d.inodes.get(ino)).toBeUndefined();
    const g = req('getattr', ino);
    d.handle(g);
    expect(s.replies.get(g.id)).toEqual({ kind: 'err', value: constants.errno.ESRCH });
    // A new lookup gets a new id: ids are never reused.
    const c = req('lookup', 1, { name: Buffer.from('file') });
    d.handle(c);
    expect((s.replies.get(c.id)!.value as { ino: number }).ino).not.toBe(ino);
  });

  test('setattr of mode or owner is EPERM', () => {
    const s = new FakeSession();
    const d = dispatcher(s);
    const r = req('setattr', 1, { flags: 1 });
    d.handle(r);
    expect(s.replies.get(r.id)).toEqual({ kind: 'err', value: constants.errno.EPERM });
  });

  test('an asynchronous open gets exactly one reply: its handle, its errno, or EIO for a bug', async () => {
    const s = new FakeSession();
    const d = dispatcher(s);
    const origError = console.error;
    const logged: unknown[] = [];
    console.error = (...a: unknown[]) => logged.push(a);
    try {
      const opens = ['async-ok', 'async-EPERM', 'async-bug'].map((n) => {
        const l = req('lookup', 1, { name: Buffer.from(n) });
        d.handle(l);
        const o = req('open', (s.replies.get(l.id)!.value as { ino: number }).ino);
        d.handle(o);
        return o;
      });
      for (const o of opens) expect(s.replies.has(o.id)).toBe(false);
      await new Promise((r) => setTimeout(r, 20));
      expect(opens.map((o) => s.replies.get(o.id))).toEqual([
        { kind: 'open', value: 88 },
        { kind: 'err', value: constants.errno.EPERM },
        { kind: 'err', value: constants.errno.EIO },
      ]);
      expect(d.internalErrors).toBe(1);
      expect(logged).toHaveLength(1);
      // and the dispatcher keeps serving
      const r = req('getattr', 1);
      d.handle(r);
      expect(s.replies.get(r.id)?.kind).toBe('attr');
    } finally {
      console.error = origError;
    }
  });

  test('a bug in forget or release is logged, never thrown to the native caller', () => {
    const s = new FakeSession();
    const d = dispatcher(s);
    (d.inodes as unknown as { forget: () => void }).forget = () => {
      throw new Error('bug');
    };
    const origError = console.error;
    console.error = () => {};
    try {
      expect(() => d.handle(req('forget', 5, { size: 1 }))).not.toThrow();
      expect(d.internalErrors).toBe(1);
    } finally {
      console.error = origError;
    }
  });
});
