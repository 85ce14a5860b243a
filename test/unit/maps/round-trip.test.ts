/**
 * parseMaps/renderMaps on maps files captured from this machine's /proc
 * (test/fixtures/c/capture-maps.sh): the round trip must be byte-exact.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';

import { renderMaps } from '../../../src/files/maps';
import { parseMaps } from '../../../src/host/parse-maps';

const FIXTURES = path.join(__dirname, '../../fixtures/proc');

function mapsFixtures(): string[] {
  const out: string[] = [];
  for (const c of fs.readdirSync(FIXTURES).sort()) {
    for (const f of ['maps', 'maps.reader']) {
      const p = path.join(FIXTURES, c, f);
      if (fs.existsSync(p)) out.push(path.relative(FIXTURES, p));
    }
  }
  return out;
}

describe('round trip on captured fixtures', () => {
  const files = mapsFixtures();
  test('fixtures exist', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });
  test.each(files)('%s', (rel) => {
    const bytes = fs.readFileSync(path.join(FIXTURES, rel));
    const vmas = parseMaps(bytes);
    const nonEmpty = bytes.length > 0;
    expect(vmas.length > 0).toBe(nonEmpty);
    expect(renderMaps(vmas).equals(bytes)).toBe(true);
    // A latin1 string is as good as the Buffer.
    expect(renderMaps(parseMaps(bytes.toString('latin1'))).equals(bytes)).toBe(true);
  });
});

describe('what the fixtures contain (captured from the kernel, not synthetic)', () => {
  const target = parseMaps(fs.readFileSync(path.join(FIXTURES, 'maps-target/maps')));
  const byName = (s: string) => target.filter((v) => v.name.toString('latin1').endsWith(s));

  test('the gate VMA is last and above 2^53', () => {
    const last = target[target.length - 1]!;
    expect(last.name.toString()).toBe('[vsyscall]');
    expect(last.start).toBe(0xffffffffff600000n);
    expect(last.end).toBe(0xffffffffff601000n);
    expect(last.start > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  test('offset wider than 8 hex digits', () => {
    const [v] = byName('/sparse.bin');
    expect(v!.offset).toBe(1n << 36n);
  });

  test('newline escaped as \\012, space kept, non-UTF-8 bytes kept', () => {
    expect(byName('/with space\\012and newline.bin')).toHaveLength(1);
    const bytesName = target.find((v) => v.name.includes(Buffer.from([0xff, 0xfe])));
    expect(bytesName?.name.toString('latin1')).toMatch(/\/bytes-\xff\xfe-\\012-literal\.bin$/);
  });

  test('deleted files, shared anonymous memory, memfd and SysV shm', () => {
    const deleted = byName('/deleted.bin (deleted)');
    expect(deleted).toHaveLength(1);
    expect(deleted[0]!.deleted).toBe(true);
    const zero = byName('/dev/zero (deleted)');
    expect(zero.length).toBeGreaterThanOrEqual(1);
    expect(zero.every((v) => v.perms.endsWith('s') && v.devMajor === 0)).toBe(true);
    expect(byName('/memfd:procfuse memfd (deleted)')).toHaveLength(1);
    expect(target.some((v) => /^\/SYSV[0-9a-f]{8} \(deleted\)$/.test(v.name.toString()))).toBe(true);
  });

  test('a path longer than PATH_MAX is printed in full', () => {
    const [v] = byName('/deep.bin');
    expect(v!.name.length).toBeGreaterThan(4096);
  });

  test('shared mappings are "s" even read-only, guard pages are ---p', () => {
    const plain = byName('/plain.bin');
    expect(plain.map((v) => v.perms).sort()).toEqual(['---p', 'r--p', 'r--s', 'rw-p', 'rw-s']);
    expect(target.some((v) => v.perms === '---p' && v.name.length === 0 && v.inode === 0n)).toBe(true);
  });

  test('anonymous VMAs are 00000000 00:00 0 with no name', () => {
    const anon = target.filter((v) => v.name.length === 0);
    expect(anon.length).toBeGreaterThan(3);
    for (const v of anon) expect([v.offset, v.devMajor, v.devMinor, v.inode]).toEqual([0n, 0, 0, 0n]);
  });

  test('thousands of mappings', () => {
    const many = parseMaps(fs.readFileSync(path.join(FIXTURES, 'maps-target-many/maps')));
    expect(many.length).toBeGreaterThan(3000);
    for (let i = 1; i < many.length; i++) expect(many[i]!.start >= many[i - 1]!.end).toBe(true);
  });

  test('a kernel thread has an empty maps file', () => {
    expect(parseMaps(fs.readFileSync(path.join(FIXTURES, 'kthread/maps')))).toEqual([]);
  });
});
