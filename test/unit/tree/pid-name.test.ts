import { describe, expect, test } from 'vitest';

import { parsePidName } from '../../../src/tree/pid-name';

describe('parsePidName (fs/proc/util.c name_to_int)', () => {
  test.each([
    ['1', 1],
    ['0', 0],
    ['123', 123],
    ['4194304', 4194304],
    ['4294967295', 4294967295],
  ])('%j -> %d', (name, n) => expect(parsePidName(name)).toBe(n));

  test.each(['', '00', '01', '00123', '+5', '-1', '1e3', '0x10', ' 1', '1 ', '4294967296', '99999999999', 'self', '١'])(
    '%j is not a pid name',
    (name) => expect(parsePidName(name)).toBeUndefined(),
  );
});
