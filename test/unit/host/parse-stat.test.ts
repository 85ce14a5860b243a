import { describe, expect, test } from 'vitest';

import { parseStat } from '../../../src/host/parse-stat';

describe('parseStat', () => {
  test('a comm with spaces and parentheses is split at the last )', () => {
    const line =
      '4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 987654 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n';
    const st = parseStat(line);
    expect(st.pid).toBe(4242);
    expect(st.comm).toBe('my (odd) name');
    expect(st.state).toBe('S');
    expect(st.ppid).toBe(1);
    expect(st.numThreads).toBe(3);
    expect(st.startTime).toBe(987654n);
    expect(st.fields[21]).toBe('987654');
  });

  test('malformed text throws', () => {
    expect(() => parseStat('garbage')).toThrow(/malformed/);
  });
});
