import { describe, expect, test } from 'vitest';

import { parseMaps } from '../../../src/host/parse-maps';
import { planRegions } from '../../../src/snapshot/format';

const MAPS = parseMaps(
  [
    '55d000000000-55d000001000 r--p 00000000 08:01 100                        /usr/bin/t',
    '55d000001000-55d000003000 r-xp 00001000 08:01 100                        /usr/bin/t',
    '55d000100000-55d000200000 rw-p 00000000 00:00 0                          [heap]',
    '7f0000000000-7f0000028000 r--p 00000000 08:01 200                        /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]',
    '7ffc000f0000-7ffc000f4000 r--p 00000000 00:00 0                          [vvar]',
    '7ffc00100000-7ffc00102000 r-xp 00000000 00:00 0                          [vdso]',
    'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
    '',
  ].join('\n'),
);

const hex = (rs: Array<{ start: bigint; end: bigint; why: string }>): string[] =>
  rs.map((r) => `${r.start.toString(16)}-${r.end.toString(16)} ${r.why}`);

describe('planRegions: what a snapshot records', () => {
  test('stacks from a page below sp, ELF header pages, the vDSO; never [vvar] or [vsyscall]', () => {
    const plan = planRegions(MAPS, { stackPointers: [0x7ffc0001f123n], headerBytes: 4096n, allMemory: false, maxBytes: 0n });
    expect(hex(plan)).toEqual([
      '55d000000000-55d000001000 elf-header',
      '7f0000000000-7f0000001000 elf-header',
      '7ffc0001e000-7ffc00021000 stack',
      '7ffc00100000-7ffc00102000 vdso',
    ]);
  });

  test('--all-memory adds the other readable mappings until the limit, without overlaps', () => {
    const plan = planRegions(MAPS, { stackPointers: [], headerBytes: 4096n, allMemory: true, maxBytes: 0x10000n });
    expect(hex(plan)).toEqual([
      '55d000000000-55d000001000 elf-header',
      '55d000001000-55d000003000 memory',
      '55d000100000-55d00010a000 memory',
      '7f0000000000-7f0000001000 elf-header',
      '7ffc00100000-7ffc00102000 vdso',
    ]);
    const total = plan.reduce((n, r) => n + (r.end - r.start), 0n);
    expect(total).toBe(0x10000n);
  });
});
