import { describe, expect, test } from 'vitest';

import { FdCache } from '../../../src/host/fd-cache';

describe('FdCache', () => {
  test('never holds more than its capacity, closing the least recently used fd', () => {
    const closed: number[] = [];
    const c = new FdCache<string, { fd: number }>(2, (fd) => closed.push(fd));
    c.set('a', { fd: 10 });
    c.set('b', { fd: 11 });
    expect(c.get('a')?.fd).toBe(10); // a is now the most recent
    c.set('c', { fd: 12 });
    expect(closed).toEqual([11]);
    expect(c.size).toBe(2);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')?.fd).toBe(10);
  });

  test('replacing an entry closes the old fd; drop closes and forgets', () => {
    const closed: number[] = [];
    const c = new FdCache<number, { fd: number; tgid: number }>(4, (fd) => closed.push(fd));
    c.set(1, { fd: 20, tgid: 1 });
    c.set(1, { fd: 21, tgid: 1 });
    expect(closed).toEqual([20]);
    c.drop(1);
    c.drop(1);
    expect(closed).toEqual([20, 21]);
    expect(c.size).toBe(0);
  });
});
