import { describe, expect, test } from 'vitest';

import { filterKeys, mayViewKeyLine } from '../../../src/files/keys';

// Lines as proc_keys_show prints them (captured on this machine, ids changed).
const ROOT_USER_KEYRING = '130c0477 I--Q---     2 perm 1f3f0000     0 65534 keyring   _uid.0: empty';
const NOBODY_KEYRING = '2e3c1751 I--Q---     1 perm 3f010000 65534 65534 keyring   _uid_ses.65534: 1';
const GROUP_VIEW = '0aaaaaaa I--Q---     1 perm 3f010100  1000   100 user      shared: 5';
const OTHER_VIEW = '0bbbbbbb I--Q---     1 perm 3f010001  1000  1000 user      public: 5';

const nobody = { fsuid: 65534, fsgid: 65534, groups: [] };

describe('key_task_permission(KEY_NEED_VIEW) without possession', () => {
  test("root's user keyring is possessor-only: hidden from uid 65534", () => {
    expect(mayViewKeyLine(ROOT_USER_KEYRING, nobody)).toBe(false);
  });
  test('the owner uses the user byte', () => {
    expect(mayViewKeyLine(NOBODY_KEYRING, nobody)).toBe(true);
    expect(mayViewKeyLine(ROOT_USER_KEYRING, { fsuid: 0, fsgid: 0, groups: [] })).toBe(true);
    expect(mayViewKeyLine(NOBODY_KEYRING.replace('3f010000', '3f000000'), nobody)).toBe(false);
  });
  test('the group byte for the fsgid or a supplementary group, never for a gid shown as 65534', () => {
    expect(mayViewKeyLine(GROUP_VIEW, { fsuid: 5, fsgid: 5, groups: [100] })).toBe(true);
    expect(mayViewKeyLine(GROUP_VIEW, { fsuid: 5, fsgid: 100, groups: [] })).toBe(true);
    expect(mayViewKeyLine(GROUP_VIEW, { fsuid: 5, fsgid: 5, groups: [] })).toBe(false);
    const invalidGid = GROUP_VIEW.replace('  100 user', '65534 user');
    expect(mayViewKeyLine(invalidGid, nobody)).toBe(false);
  });
  test('the other byte for everyone else', () => {
    expect(mayViewKeyLine(OTHER_VIEW, nobody)).toBe(true);
  });
  test('filterKeys keeps the viewable lines in order', () => {
    const text = [ROOT_USER_KEYRING, NOBODY_KEYRING, OTHER_VIEW].map((l) => `${l}\n`).join('');
    expect(filterKeys(text, nobody)).toBe(`${NOBODY_KEYRING}\n${OTHER_VIEW}\n`);
  });
});
