import { describe, expect, test } from 'vitest';

import { maskStat } from '../../../src/files/stat';

// Captured on this machine (6.18): a `sleep` of uid 65534 read by root, then by uid 65533.
const AS_ROOT =
  '4242 (sle ep) S 4200 4242 4200 0 -1 4194304 93 0 0 0 0 0 0 0 20 0 1 0 12345 2297856 256 18446744073709551615 94184753610752 94184753628681 140731294834416 0 0 0 0 6 0 1 0 0 17 1 0 0 0 0 0 94184753642768 94184753644032 94185193951232 140731294837477 140731294837486 140731294837486 140731294838761 0\n';
const AS_OTHER =
  '4242 (sle ep) S 4200 4242 4200 0 -1 4194304 93 0 0 0 0 0 0 0 20 0 1 0 12345 2297856 256 18446744073709551615 1 1 0 0 0 0 0 6 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n';
// A kernel thread (no mm) as root: the masked view is the same.
const KTHREAD =
  '2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n';

describe('maskStat (do_task_stat for a reader without READ_FSCREDS)', () => {
  test('masks the layout fields exactly as the kernel does', () => {
    expect(maskStat(AS_ROOT)).toBe(AS_OTHER);
  });
  test('a task without an mm keeps 0 for start_code/end_code', () => {
    expect(maskStat(KTHREAD)).toBe(KTHREAD.replace(' 2147483647 0 1 0 ', ' 2147483647 0 0 0 '));
  });
  test('a comm with ") " in it does not shift the fields', () => {
    const odd = AS_ROOT.replace('(sle ep)', '(a) b (c)');
    expect(maskStat(odd)).toBe(AS_OTHER.replace('(sle ep)', '(a) b (c)'));
  });
});
