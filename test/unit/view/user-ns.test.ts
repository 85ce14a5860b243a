import { describe, expect, test } from 'vitest';

import { mapIdUp, mapLoginUid, mapStatusIds, parseIdMap } from '../../../src/view/user-ns';

// `unshare --user --map-user=1000` run by root: 1000 inside is 0 outside.
const MAP = parseIdMap('      1000          0          1\n');
const RANGE = parseIdMap('         0     100000      65536\n');

describe('from_kuid_munged for a reader in another user namespace', () => {
  test('map_id_up over extents; unmapped is undefined', () => {
    expect(mapIdUp(MAP, 0)).toBe(1000);
    expect(mapIdUp(MAP, 1)).toBeUndefined();
    expect(mapIdUp(RANGE, 100000)).toBe(0);
    expect(mapIdUp(RANGE, 165535)).toBe(65535);
    expect(mapIdUp(RANGE, 165536)).toBeUndefined();
  });

  test('status Uid/Gid/Groups lines mapped, the rest untouched, overflow for the unmapped', () => {
    const status = 'Name:\tsleep\nPid:\t42\nUid:\t0\t0\t0\t0\nGid:\t0\t5\t0\t0\nGroups:\t0 4 27\nVmRSS:\t  100 kB\n';
    const out = mapStatusIds(status, { uid: MAP, gid: MAP, overflowUid: 65534, overflowGid: 65533 });
    expect(out).toBe('Name:\tsleep\nPid:\t42\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t65533\t1000\t1000\nGroups:\t1000 65533 65533\nVmRSS:\t  100 kB\n');
  });

  test('loginuid: from_kuid gives (uid_t)-1 when unmapped; an unset loginuid stays unset', () => {
    expect(mapLoginUid('0', MAP)).toBe('1000');
    expect(mapLoginUid('1001', MAP)).toBe('4294967295');
    expect(mapLoginUid('4294967295', MAP)).toBe('4294967295');
  });
});

describe('uid_map as a reader in another namespace sees it (uid_m_show)', () => {
  test('lower ids mapped up into the reader\'s namespace, (u32)-1 when unmapped, in the kernel\'s columns', async () => {
    const { renderIdMapForReader } = await import('../../../src/files/id-map');
    // The target maps 0..9 to our 100000..100009; the reader's namespace maps 0 to our 100000.
    const target = '         0     100000         10\n';
    expect(renderIdMapForReader(target, '         0     100000          1\n')).toBe('         0          0         10\n');
    expect(renderIdMapForReader(target, '         0          0          1\n')).toBe('         0 4294967295         10\n');
  });
});
