/**
 * The exact line format of show_map_vma() (SPEC-36, SPEC-39) on hand-made VMAs,
 * covering what this machine's kernel cannot produce on demand: prefixes of 72+
 * chars and anon names (CONFIG_ANON_VMA_NAME is off here).
 */
import { describe, expect, test } from 'vitest';

import { renderMaps, renderMapsLine, renderMapsPrefix } from '../../../src/files/maps';
import { MapsParseError, parseMaps, parseMapsLine, type Vma } from '../../../src/host/parse-maps';

function vma(over: Omit<Partial<Vma>, 'name'> & { name?: string | Buffer } = {}): Vma {
  const name = over.name === undefined ? Buffer.alloc(0) : Buffer.isBuffer(over.name) ? over.name : Buffer.from(over.name, 'latin1');
  return {
    start: 0x400000n, end: 0x401000n, perms: 'r-xp', offset: 0n, devMajor: 0, devMinor: 0, inode: 0n,
    ...over, name, deleted: name.toString('latin1').endsWith(' (deleted)'),
  };
}
const line = (v: Vma) => renderMapsLine(v).toString('latin1');

describe('prefix', () => {
  test('minimum widths: 8 hex digits, 2 for dev, decimal inode', () => {
    expect(renderMapsPrefix(vma({ devMajor: 8, devMinor: 1, inode: 42n }))).toBe('00400000-00401000 r-xp 00000000 08:01 42 ');
  });
  test('wider values are printed in full, lowercase', () => {
    const v = vma({ start: 0xffffffffff600000n, end: 0xffffffffff601000n, offset: 0xabcdef0123n, devMajor: 0x103, devMinor: 0x1abcd, inode: 18446744073709551615n });
    expect(renderMapsPrefix(v)).toBe('ffffffffff600000-ffffffffff601000 r-xp abcdef0123 103:1abcd 18446744073709551615 ');
  });
});

describe('seq_pad: SPEC-39', () => {
  test('a named line puts the name at byte 73', () => {
    const l = line(vma({ devMajor: 0xfe, inode: 260131n, name: '/usr/bin/cat' }));
    expect(l).toBe('00400000-00401000 r-xp 00000000 fe:00 260131' + ' '.repeat(29) + '/usr/bin/cat\n');
    expect(l.indexOf('/')).toBe(73);
  });
  test('a line with no name keeps the prefix space and has no padding', () => {
    expect(line(vma())).toBe('00400000-00401000 r-xp 00000000 00:00 0 \n');
  });
  test('a prefix of exactly 72 chars gets only the extra space', () => {
    // 33 (addresses) + 5 (" perms") + 17 (" offset") + 6 (" dev") + 10 (" inode") + 1 (" ") = 72
    const w = vma({ start: 0xffffffffff600000n, end: 0xffffffffff601000n, offset: 0x1000000000000000n, inode: 123456789n, name: 'x' });
    expect(renderMapsPrefix(w).length).toBe(72);
    expect(line(w)).toBe(renderMapsPrefix(w) + ' x\n');
  });
  test('a prefix longer than 72 chars is followed by exactly one extra space', () => {
    const v = vma({ start: 0xffffffffff600000n, end: 0xffffffffff601000n, offset: 0xffffffffffff0000n, devMajor: 0xfff, devMinor: 0xfffff, inode: 18446744073709551615n, name: '/p' });
    const prefix = renderMapsPrefix(v);
    expect(prefix.length).toBeGreaterThan(72);
    expect(line(v)).toBe(prefix + ' /p\n');
    expect(parseMapsLine(line(v).slice(0, -1))).toEqual(v);
  });
  test('a name that starts with spaces is located by column, not by skipping blanks', () => {
    const v = vma({ name: '  /odd' });
    expect(parseMaps(renderMaps([v]))[0]!.name.toString()).toBe('  /odd');
  });
});

describe('names', () => {
  test.each([
    '[heap]', '[stack]', '[vdso]', '[vvar]', '[vvar_vclock]', '[vsyscall]', '[uprobes]',
    '[anon:procfuse-test]', '[anon:]', '[anon_shmem:x y]', '[anon_shmem:]', '/dev/zero (deleted)',
    '/memfd:a b (deleted)', '/tmp/a\\012b', 'anon_inode:[io_uring]', '/' + 'L'.repeat(70000),
  ])('%s round-trips', (name) => {
    const v = vma({ name });
    const out = renderMaps([v, vma({ start: 0x500000n, end: 0x501000n })]);
    expect(parseMaps(out)).toEqual([v, vma({ start: 0x500000n, end: 0x501000n })]);
  });
  test('deleted follows the " (deleted)" suffix; the name keeps it', () => {
    const [v] = parseMaps(renderMaps([vma({ name: '/tmp/x (deleted)' })]));
    expect(v!.deleted).toBe(true);
    expect(v!.name.toString()).toBe('/tmp/x (deleted)');
    expect(parseMaps(renderMaps([vma({ name: '[anon:x (deleted)]' })]))[0]!.deleted).toBe(false);
  });
  test('non-UTF-8 bytes survive', () => {
    const name = Buffer.from([0x2f, 0xff, 0x80, 0xc3]);
    const out = renderMaps([vma({ name })]);
    expect(parseMaps(out)[0]!.name.equals(name)).toBe(true);
  });
});

describe('parse errors', () => {
  test.each([
    ['bad prefix', '00400000-00401000 r-xq 00000000 00:00 0 \n'],
    ['short address', '0040000-00401000 r-xp 00000000 00:00 0 \n'],
    ['non-canonical leading zero', '000400000-00401000 r-xp 00000000 00:00 0 \n'],
    ['uppercase hex', '00400000-0040A000 r-xp 00000000 00:00 0 \n'],
    ['missing trailing prefix space', '00400000-00401000 r-xp 00000000 00:00 0\n'],
    ['name not at column 73', '00400000-00401000 r-xp 00000000 00:00 0 /x\n'],
    ['no final newline', '00400000-00401000 r-xp 00000000 00:00 0 '],
  ])('%s', (_why, text) => {
    expect(() => parseMaps(text)).toThrow(MapsParseError);
  });
  test('empty file is no VMAs', () => {
    expect(parseMaps('')).toEqual([]);
    expect(renderMaps([]).length).toBe(0);
  });
});
