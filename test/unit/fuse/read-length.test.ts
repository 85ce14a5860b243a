import { describe, expect, test } from 'vitest';

import { createHandle, readLength, type HandleFactory, type OpenedHandle } from '../../../src/fuse/open-handles';
import type { RequestContext } from '../../../src/fuse/request';

describe('readLength: what one read returns (seq_read)', () => {
  const text = Buffer.from('aaaa\nbbbb\ncccccccccc\n');
  test('whole lines while they fit; the rest of the text when it all fits', () => {
    expect(readLength(text, 0, 12, true)).toBe(10); // "aaaa\nbbbb\n"
    expect(readLength(text, 10, 100, true)).toBe(11);
    expect(readLength(text, 0, 100, true)).toBe(text.length);
  });
  test('a line longer than the request comes in parts, as seq_read gives it', () => {
    expect(readLength(text, 10, 4, true)).toBe(4);
    expect(readLength(text, 14, 4, true)).toBe(4);
  });
  test('without wholeLines (single_open files): byte-exact slices', () => {
    expect(readLength(text, 0, 12, false)).toBe(12);
    expect(readLength(text, 20, 12, false)).toBe(1);
    expect(readLength(text, 30, 12, false)).toBe(0);
  });
});

describe('createHandle: bytes made at open are made again from offset 0', () => {
  const calls: Array<[Buffer | null, boolean | undefined, boolean | undefined, boolean | undefined]> = [];
  const natives: HandleFactory = {
    bufferHandle: (data, atRead, writes, lines) => (calls.push([data, atRead, writes, lines]), 7),
    memOpen: () => 0,
    memAlive: () => true,
    openAsReader: () => Promise.resolve(0),
    closeHandle: () => {},
  };
  const ctx = {} as RequestContext;
  const sync = (h: OpenedHandle | Promise<OpenedHandle>): OpenedHandle => {
    if (h instanceof Promise) throw new Error('a bytes handle is made at once');
    return h;
  };
  test('with a way to make them again, the handle is render-at-read and starts with the open text', () => {
    const h = sync(createHandle({ kind: 'bytes', data: Buffer.from('x') }, ctx, natives, () => Buffer.from('y')));
    expect(calls.pop()).toEqual([Buffer.from('x'), true, false, false]);
    expect(h.renderer?.render({} as never).toString()).toBe('y');
  });
  test('without one, the bytes are served as made at open', () => {
    const h = sync(createHandle({ kind: 'bytes', data: Buffer.from('x'), wholeLines: true }, ctx, natives));
    expect(calls.pop()).toEqual([Buffer.from('x'), false, false, true]);
    expect(h.renderer).toBeUndefined();
  });
});
