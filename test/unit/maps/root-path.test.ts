/**
 * viewMaps: the maps of a process as a reader with another root sees them.
 * The fixtures hold, for the same process at the same moment, the host's view
 * (`maps`) and what a reader chrooted at `reader-root` read (`maps.reader`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';

import { renderMaps } from '../../../src/files/maps';
import { parseMaps, type Vma } from '../../../src/host/parse-maps';
import { escapeSeqPath, isAbsoluteRoot, viewMaps, viewMapsName, viewPath } from '../../../src/view/root-path';

const FIXTURES = path.join(__dirname, '../../fixtures/proc');

describe.each(['chroot-host-target', 'chroot-jailed-target'])('%s: kernel view of a chrooted reader', (c) => {
  const dir = path.join(FIXTURES, c);
  const host = fs.readFileSync(path.join(dir, 'maps'));
  const reader = fs.readFileSync(path.join(dir, 'maps.reader'));
  const root = fs.readFileSync(path.join(dir, 'reader-root'));

  test('the two views differ (the fixture is meaningful)', () => {
    expect(host.equals(reader)).toBe(false);
  });
  test('viewMaps(host, root) renders to exactly what the chrooted reader read', () => {
    expect(renderMaps(viewMaps(parseMaps(host), root)).toString('latin1')).toBe(reader.toString('latin1'));
  });
  test('a reader at "/" sees the host view unchanged', () => {
    expect(renderMaps(viewMaps(parseMaps(host), '/')).equals(host)).toBe(true);
  });
});

function vma(name: string, devMajor = 0xfe): Vma {
  const n = Buffer.from(name, 'latin1');
  return { start: 0x1000n, end: 0x2000n, perms: 'r--p', offset: 0n, devMajor, devMinor: 0, inode: 7n, name: n, deleted: name.endsWith(' (deleted)') };
}
const seen = (name: string, root: string, devMajor?: number) => viewMapsName(vma(name, devMajor), root).toString('latin1');

describe('viewMapsName', () => {
  test('strips the root prefix on a component boundary only', () => {
    expect(seen('/srv/jail/lib/x.so', '/srv/jail')).toBe('/lib/x.so');
    expect(seen('/srv/jail/lib/x.so', '/srv/jail/')).toBe('/lib/x.so');
    expect(seen('/srv/jail2/lib/x.so', '/srv/jail')).toBe('/srv/jail2/lib/x.so');
    expect(seen('/srv/jail', '/srv/jail')).toBe('/srv/jail');
  });
  test('outside the root the absolute path is printed (d_path ignores the "unreachable" result)', () => {
    expect(seen('/usr/lib/libc.so.6', '/srv/jail')).toBe('/usr/lib/libc.so.6');
  });
  test('" (deleted)" survives', () => {
    const v = viewMaps([vma('/srv/jail/tmp/f (deleted)')], '/srv/jail')[0]!;
    expect(v.name.toString()).toBe('/tmp/f (deleted)');
    expect(v.deleted).toBe(true);
  });
  test('the root is escaped like the names before comparing', () => {
    expect(seen('/srv/a\\012b/x', '/srv/a\nb')).toBe('/x');
    expect(escapeSeqPath(Buffer.from('a\nb\\c')).toString()).toBe('a\\012b\\c');
  });
  test('non-paths and internal-mount files are untouched', () => {
    for (const n of ['[heap]', '[stack]', '[vdso]', '[anon:x]', '[anon_shmem:y]', 'anon_inode:[io_uring]', '/memfd:x (deleted)', '/SYSV00000000 (deleted)', '']) {
      expect(seen(n, '/srv/jail')).toBe(n);
    }
    // shmem_zero_setup's file is one dentry named "dev/zero" on the internal shm mount
    expect(seen('/dev/zero (deleted)', '/dev', 0)).toBe('/dev/zero (deleted)');
  });
  test('non-UTF-8 bytes in the root and the name', () => {
    const root = Buffer.from([0x2f, 0xff]);
    const v = { ...vma(''), name: Buffer.from([0x2f, 0xff, 0x2f, 0x80]) };
    expect(viewMapsName(v, root)).toEqual(Buffer.from([0x2f, 0x80]));
  });
  test('isAbsoluteRoot', () => {
    expect(isAbsoluteRoot('/')).toBe(true);
    expect(isAbsoluteRoot('//')).toBe(true);
    expect(isAbsoluteRoot('/a')).toBe(false);
  });
  test('viewMaps does not mutate its input', () => {
    const input = [vma('/srv/jail/a')];
    viewMaps(input, '/srv/jail');
    expect(input[0]!.name.toString()).toBe('/srv/jail/a');
  });
});

describe('viewPath (readlink targets: raw bytes, no escaping)', () => {
  const vp = (p: string, r: string) => viewPath(Buffer.from(p, 'latin1'), r).toString('latin1');
  test('strips the root, keeps outside paths and non-paths', () => {
    expect(vp('/srv/jail/bin/sh', '/srv/jail')).toBe('/bin/sh');
    expect(vp('/srv/jail/tmp/x (deleted)', '/srv/jail')).toBe('/tmp/x (deleted)');
    expect(vp('/srv/jailer/bin/sh', '/srv/jail')).toBe('/srv/jailer/bin/sh');
    expect(vp('/usr/bin/sh', '/srv/jail')).toBe('/usr/bin/sh');
    expect(vp('socket:[1234]', '/srv/jail')).toBe('socket:[1234]');
    expect(vp('/srv/a\nb/x', '/srv/a\nb')).toBe('/x');
  });
});
