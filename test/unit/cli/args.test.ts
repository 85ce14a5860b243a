import { DEFAULT_MOUNT_OPTIONS, formatProcOptions, parseProcOptions } from '../../../src/cli/proc-options';
import { describe, expect, test } from 'vitest';

import { CliError, parseMountArgs } from '../../../src/cli/args';
import { parseMountinfo, unescapeMountField } from '../../../src/cli/mounts';

describe('parseMountArgs', () => {
  test('defaults', () => {
    expect(parseMountArgs(['/mnt'])).toEqual({
      mountpoint: '/mnt',
      foreground: false,
      debug: false,
      fuseDebug: false,
      threads: 4,
      proc: DEFAULT_MOUNT_OPTIONS,
      allowOther: true,
    });
  });
  test('options', () => {
    const o = parseMountArgs(['-f', '--debug', '/m', '--threads', '8', '--yama-scope', '2', '--no-allow-other']);
    expect(o).toMatchObject({ mountpoint: '/m', foreground: true, debug: true, threads: 8, yamaScope: 2, allowOther: false });
  });
  test.each([[[]], [['a', 'b']], [['--threads', 'x', '/m']], [['--yama-scope', '4', '/m']], [['--bogus', '/m']], [['/m', '--log']]])(
    'usage error for %j',
    (args) => {
      try {
        parseMountArgs(args);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CliError);
        expect((e as CliError).exitCode).toBe(2);
      }
    },
  );
});

describe('mountinfo', () => {
  test('parses fuse mounts and octal escapes', () => {
    const text =
      '36 25 0:32 / /tmp/with\\040space rw,nosuid,nodev,relatime shared:1 - fuse.procfuse procfuse rw,user_id=0\n' +
      '22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n';
    const m = parseMountinfo(text);
    expect(m[0]).toEqual({ devMinor: 32, mountpoint: '/tmp/with space', fstype: 'fuse.procfuse', source: 'procfuse' });
    expect(m[1]!.fstype).toBe('ext4');
    expect(unescapeMountField('a\\011b\\134c')).toBe('a\tb\\c');
  });
});

describe('-o procfs options (fs/proc/root.c proc_fs_parameters)', () => {
  test('pidns, hidepid, gid, subset, in one -o or several, -oVALUE too', () => {
    const m = parseMountArgs(['/mnt', '-o', 'pidns=42,hidepid=2', '-ogid=10', '-o', 'subset=pid,nosuid,nodev,rw']);
    expect(m.proc).toEqual({ pidns: { kind: 'fixed', ns: '42' }, hidepid: 'invisible', gid: 10, subsetPid: true });
    expect(parseMountArgs(['/mnt', '-o', 'pidns=caller,hidepid=ptraceable']).proc).toMatchObject({ pidns: { kind: 'caller' }, hidepid: 'ptraceable' });
    expect(parseMountArgs(['/mnt', '-o', 'hidepid=noaccess']).proc.hidepid).toBe('noaccess');
    expect(parseMountArgs(['/mnt', '-o', 'hidepid=4']).proc.hidepid).toBe('ptraceable');
  });

  test('bad values name the option', () => {
    expect(() => parseMountArgs(['/mnt', '-o', 'hidepid=3'])).toThrow(/hidepid=3/);
    expect(() => parseMountArgs(['/mnt', '-o', 'subset=all'])).toThrow(/subset=all/);
    expect(() => parseMountArgs(['/mnt', '-o', 'gid=wheel'])).toThrow(/gid=wheel/);
    expect(() => parseMountArgs(['/mnt', '-o', 'pidns='])).toThrow(/pidns needs a value/);
    expect(() => parseMountArgs(['/mnt', '-o', 'frobnicate'])).toThrow(/unknown mount option 'frobnicate'/);
  });

  test('formatProcOptions gives back what it was parsed from', () => {
    const o = parseProcOptions(['pidns=/run/ns/pid,hidepid=invisible,gid=5,subset=pid']);
    expect(parseProcOptions([formatProcOptions(o)])).toEqual(o);
    expect(formatProcOptions(DEFAULT_MOUNT_OPTIONS)).toBe('');
  });
});
