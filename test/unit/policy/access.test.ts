import { describe, expect, test } from 'vitest';

import { mayAccess, mayAccessMm, nsCapable, type AccessEnv, type Decision } from '../../../src/policy/access';
import { CAP_SYS_PTRACE, type Credentials, type UserNsLevel } from '../../../src/policy/credentials';
import { mayAccessFile } from '../../../src/policy/file-modes';
import {
  PTRACE_MODE_ATTACH_FSCREDS as ATTACH_FS,
  PTRACE_MODE_ATTACH_REALCREDS as ATTACH_REAL,
  PTRACE_MODE_FSCREDS,
  PTRACE_MODE_READ,
  PTRACE_MODE_READ_FSCREDS as READ_FS,
  PTRACE_MODE_READ_REALCREDS as READ_REAL,
  PTRACE_MODE_REALCREDS,
} from '../../../src/policy/ptrace-mode';

// User namespaces: INIT is the daemon's; CHILD was created by uid 1000, GRANDCHILD
// inside CHILD by uid 100000 (CHILD's root, seen globally); SIBLING by uid 1001.
const INIT: UserNsLevel = { ino: 4026531837n, ownerUid: 0 };
const CHILD: UserNsLevel = { ino: 4026532100n, ownerUid: 1000 };
const GRANDCHILD: UserNsLevel = { ino: 4026532200n, ownerUid: 100000 };
const SIBLING: UserNsLevel = { ino: 4026532300n, ownerUid: 1001 };
const IN_INIT = [INIT];
const IN_CHILD = [CHILD, INIT];
const IN_GRANDCHILD = [GRANDCHILD, CHILD, INIT];
const IN_SIBLING = [SIBLING, INIT];

const FULL = 0x1ffffffffffn;
const NET_RAW = 1n << 13n;
const PTRACE = 1n << BigInt(CAP_SYS_PTRACE);

let nextTgid = 100;
function task(uid: number, over: Partial<Credentials> = {}): Credentials {
  const tgid = nextTgid++;
  const ids = { real: uid, effective: uid, saved: uid, fs: uid };
  return {
    tid: tgid,
    tgid,
    ppid: 1,
    tracerPid: 0,
    uid: { ...ids },
    gid: { ...ids },
    groups: [],
    capPermitted: uid === 0 ? FULL : 0n,
    capEffective: uid === 0 ? FULL : 0n,
    userNs: IN_INIT,
    hasMm: true,
    dumpable: true,
    mmUserNsIndex: 0,
    startTime: 1000n,
    ...over,
  };
}

const NO_YAMA: AccessEnv = { yamaScope: null };
const root = task(0);
const alice = task(1000);
const alice2 = task(1000);
const bob = task(1001);

interface Row {
  name: string;
  caller: Credentials;
  target: Credentials;
  mode: number;
  env?: AccessEnv;
  allow: boolean;
  rule: Decision['rule'];
}

const rows: Row[] = [
  // kernel/ptrace.c: mode sanity and the invisible caller
  { name: 'mode without FSCREDS/REALCREDS', caller: root, target: alice, mode: PTRACE_MODE_READ, allow: false, rule: 'invalid-mode' },
  { name: 'mode with both FSCREDS and REALCREDS', caller: root, target: alice, mode: PTRACE_MODE_READ | PTRACE_MODE_FSCREDS | PTRACE_MODE_REALCREDS, allow: false, rule: 'invalid-mode' },
  { name: 'caller pid 0', caller: task(0, { tid: 0 }), target: alice, mode: READ_FS, allow: false, rule: 'caller-not-visible' },
  // same thread group: allowed before any uid, dumpable or LSM check
  { name: 'same thread group, other uid, non-dumpable, Yama 3', caller: task(1001, { tgid: 77, tid: 78 }), target: task(1000, { tgid: 77, tid: 77, dumpable: false }), mode: ATTACH_FS, env: { yamaScope: 3 }, allow: true, rule: 'same-thread-group' },
  // uid/gid match
  { name: 'same uid and gid, no caps', caller: alice, target: alice2, mode: ATTACH_FS, allow: true, rule: 'uid-gid-match' },
  { name: 'other uid, no caps', caller: bob, target: alice, mode: READ_FS, allow: false, rule: 'uid-gid-mismatch' },
  { name: 'root with CAP_SYS_PTRACE vs unprivileged', caller: root, target: alice, mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace' },
  { name: 'unprivileged vs root', caller: alice, target: root, mode: READ_FS, allow: false, rule: 'uid-gid-mismatch' },
  {
    name: 'FSCREDS: fsuid differs from euid (fsuid 1001 -> target 1000)',
    caller: task(1000, { uid: { real: 1000, effective: 1000, saved: 1000, fs: 1001 } }),
    target: alice, mode: READ_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  {
    name: 'REALCREDS ignores fsuid (real 1000 -> target 1000)',
    caller: task(1000, { uid: { real: 1000, effective: 1000, saved: 1000, fs: 1001 } }),
    target: alice, mode: READ_REAL, allow: true, rule: 'uid-gid-match',
  },
  {
    name: 'FSCREDS: euid 0 without caps but fsuid 1000 matches',
    caller: task(0, { uid: { real: 0, effective: 0, saved: 0, fs: 1000 }, gid: { real: 1000, effective: 1000, saved: 1000, fs: 1000 }, capPermitted: 0n, capEffective: 0n }),
    target: alice, mode: ATTACH_FS, allow: true, rule: 'uid-gid-match',
  },
  {
    name: 'REALCREDS: real uid differs although euid matches',
    caller: task(1000, { uid: { real: 1001, effective: 1000, saved: 1000, fs: 1000 } }),
    target: alice, mode: ATTACH_REAL, allow: false, rule: 'uid-gid-mismatch',
  },
  {
    name: "target's saved uid differs",
    caller: alice, target: task(1000, { uid: { real: 1000, effective: 1000, saved: 0, fs: 1000 } }), mode: READ_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  {
    name: "target's saved gid differs",
    caller: alice, target: task(1000, { gid: { real: 1000, effective: 1000, saved: 0, fs: 1000 } }), mode: READ_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  {
    name: 'gid matches but uid does not',
    caller: task(1001, { gid: { real: 1000, effective: 1000, saved: 1000, fs: 1000 } }), target: alice, mode: READ_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  {
    name: 'supplementary group does not count',
    caller: task(1000, { gid: { real: 1001, effective: 1001, saved: 1001, fs: 1001 }, groups: [1000] }), target: alice, mode: READ_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  // dumpable
  { name: 'non-dumpable target, same-uid caller', caller: alice, target: task(1000, { dumpable: false }), mode: READ_FS, allow: false, rule: 'not-dumpable' },
  { name: 'non-dumpable target, root caller', caller: root, target: task(1000, { dumpable: false }), mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace' },
  { name: 'target without mm (zombie), same uid', caller: alice, target: task(1000, { hasMm: false }), mode: READ_FS, allow: false, rule: 'not-dumpable' },
  {
    name: 'non-dumpable target whose mm ns is CHILD: CHILD root with CAP_SYS_PTRACE there',
    caller: task(100000, { userNs: IN_CHILD, capPermitted: FULL, capEffective: FULL }),
    target: task(100000, { userNs: IN_CHILD, dumpable: false, mmUserNsIndex: 0 }), mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace',
  },
  {
    name: 'non-dumpable target whose mm ns is INIT: CHILD root is refused',
    caller: task(100000, { userNs: IN_CHILD, capPermitted: FULL, capEffective: FULL }),
    target: task(100000, { userNs: IN_CHILD, dumpable: false, mmUserNsIndex: 1 }), mode: ATTACH_FS, allow: false, rule: 'not-dumpable',
  },
  // commoncap
  { name: 'target caps not a subset (NET_RAW)', caller: alice, target: task(1000, { capPermitted: NET_RAW }), mode: READ_FS, allow: false, rule: 'commoncap-not-subset' },
  { name: 'target caps a subset of caller effective', caller: task(1000, { capPermitted: NET_RAW, capEffective: NET_RAW }), target: task(1000, { capPermitted: NET_RAW }), mode: READ_FS, allow: true, rule: 'uid-gid-match' },
  {
    name: 'FSCREDS compares the EFFECTIVE set (caller holds NET_RAW only permitted)',
    caller: task(1000, { capPermitted: NET_RAW, capEffective: 0n }), target: task(1000, { capPermitted: NET_RAW }), mode: ATTACH_FS, allow: false, rule: 'commoncap-not-subset',
  },
  {
    name: 'REALCREDS compares the PERMITTED set (same caller)',
    caller: task(1000, { capPermitted: NET_RAW, capEffective: 0n }), target: task(1000, { capPermitted: NET_RAW }), mode: ATTACH_REAL, allow: true, rule: 'uid-gid-match',
  },
  {
    name: 'uid 0 without CAP_SYS_PTRACE vs full-cap root (not a subset)',
    caller: task(0, { capPermitted: FULL & ~PTRACE, capEffective: FULL & ~PTRACE }), target: task(0, { dumpable: true }), mode: READ_FS, allow: false, rule: 'commoncap-not-subset',
  },
  {
    name: 'CAP_SYS_PTRACE only in effective still passes commoncap for REALCREDS',
    caller: task(1001, { capPermitted: PTRACE, capEffective: PTRACE }), target: task(1000, { capPermitted: NET_RAW }), mode: READ_REAL, allow: true, rule: 'cap-sys-ptrace',
  },
  // user namespaces
  {
    name: 'caller in a child ns with full caps there, target in init (same uid)',
    caller: task(1000, { userNs: IN_CHILD, capPermitted: FULL, capEffective: FULL }), target: alice, mode: READ_FS, allow: false, rule: 'commoncap-not-subset',
  },
  {
    name: 'caller in a child ns with full caps there, target root in init',
    caller: task(1000, { userNs: IN_CHILD, capPermitted: FULL, capEffective: FULL }), target: root, mode: READ_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  {
    name: "caller in parent ns owning the target's ns (uid 1000 owns CHILD)",
    caller: alice, target: task(100000, { userNs: IN_CHILD, capPermitted: FULL, capEffective: FULL }), mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace',
  },
  {
    name: "caller in parent ns not owning the target's ns",
    caller: bob, target: task(100000, { userNs: IN_CHILD }), mode: ATTACH_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  {
    // cap_capable walks GRANDCHILD -> CHILD, whose parent is the caller's ns and owner its euid
    name: 'owner of CHILD has caps in GRANDCHILD too (owned by CHILD root, not by it)',
    caller: alice, target: task(100005, { userNs: IN_GRANDCHILD }), mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace',
  },
  {
    name: 'CHILD root owning GRANDCHILD reaches into it without caps',
    caller: task(100000, { userNs: IN_CHILD }), target: task(100005, { userNs: IN_GRANDCHILD }), mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace',
  },
  { name: 'init root reaches a grandchild ns', caller: root, target: task(100005, { userNs: IN_GRANDCHILD, capPermitted: FULL }), mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace' },
  {
    name: 'CAP_SYS_PTRACE in own child ns over another uid there',
    caller: task(100000, { userNs: IN_CHILD, capPermitted: FULL, capEffective: FULL }), target: task(100005, { userNs: IN_CHILD }), mode: ATTACH_FS, allow: true, rule: 'cap-sys-ptrace',
  },
  {
    name: 'full caps in a sibling ns do not count',
    caller: task(1001, { userNs: IN_SIBLING, capPermitted: FULL, capEffective: FULL }), target: task(100005, { userNs: IN_CHILD }), mode: READ_FS, allow: false, rule: 'uid-gid-mismatch',
  },
  // Yama (ATTACH modes only)
  { name: 'Yama 1, ATTACH, not an ancestor', caller: alice, target: alice2, mode: ATTACH_FS, env: { yamaScope: 1, callerIsAncestor: false }, allow: false, rule: 'yama-scope-1' },
  { name: 'Yama 1, ATTACH, ancestor', caller: alice, target: alice2, mode: ATTACH_FS, env: { yamaScope: 1, callerIsAncestor: true }, allow: true, rule: 'uid-gid-match' },
  { name: 'Yama 1, ATTACH, already the tracer', caller: alice, target: task(1000, { tracerPid: alice.tgid }), mode: ATTACH_FS, env: { yamaScope: 1 }, allow: true, rule: 'uid-gid-match' },
  { name: 'Yama 1, ATTACH, CAP_SYS_PTRACE', caller: root, target: alice, mode: ATTACH_FS, env: { yamaScope: 1 }, allow: true, rule: 'cap-sys-ptrace' },
  { name: 'Yama 1, READ is not restricted', caller: alice, target: alice2, mode: READ_FS, env: { yamaScope: 1 }, allow: true, rule: 'uid-gid-match' },
  { name: 'Yama 2, ATTACH, same uid', caller: alice, target: alice2, mode: ATTACH_REAL, env: { yamaScope: 2, callerIsAncestor: true }, allow: false, rule: 'yama-scope-2' },
  { name: 'Yama 2, ATTACH, CAP_SYS_PTRACE', caller: root, target: alice, mode: ATTACH_FS, env: { yamaScope: 2 }, allow: true, rule: 'cap-sys-ptrace' },
  { name: 'Yama 2, READ', caller: alice, target: alice2, mode: READ_FS, env: { yamaScope: 2 }, allow: true, rule: 'uid-gid-match' },
  { name: 'Yama 3, ATTACH, root', caller: root, target: alice, mode: ATTACH_FS, env: { yamaScope: 3 }, allow: false, rule: 'yama-scope-3' },
  { name: 'Yama 3, READ, root', caller: root, target: alice, mode: READ_FS, env: { yamaScope: 3 }, allow: true, rule: 'cap-sys-ptrace' },
  { name: 'Yama 0, ATTACH', caller: alice, target: alice2, mode: ATTACH_FS, env: { yamaScope: 0 }, allow: true, rule: 'uid-gid-match' },
];

describe('mayAccess (kernel/ptrace.c __ptrace_may_access + commoncap + Yama)', () => {
  test.each(rows)('$name', ({ caller, target, mode, env, allow, rule }) => {
    const d = mayAccess(caller, target, mode, env ?? NO_YAMA);
    expect({ allow: d.allow, rule: d.rule }).toEqual({ allow, rule });
    if (!d.allow) {
      expect(d.errno).toBe('EACCES');
      expect(d.reason.length).toBeGreaterThan(0);
    }
  });
});

describe('mayAccessMm (kernel/fork.c mm_access)', () => {
  test('same thread group is allowed as same mm', () => {
    const d = mayAccessMm(task(1001, { tgid: 5, tid: 6 }), task(1000, { tgid: 5, tid: 5, dumpable: false }), ATTACH_FS, { yamaScope: 3 });
    expect(d).toEqual({ allow: true, rule: 'same-mm' });
  });
  test('a CLONE_VM sibling is allowed only when the host says so', () => {
    const a = task(1001);
    const b = task(1000, { dumpable: false });
    expect(mayAccessMm(a, b, ATTACH_FS, { yamaScope: null, sameMm: true })).toEqual({ allow: true, rule: 'same-mm' });
    expect(mayAccessMm(a, b, ATTACH_FS, NO_YAMA).allow).toBe(false);
  });
  test('caller pid 0 is still denied', () => {
    expect(mayAccessMm(task(0, { tid: 0, tgid: 9 }), task(0, { tgid: 9 }), ATTACH_FS, NO_YAMA).rule).toBe('caller-not-visible');
  });
});

describe('nsCapable (security/commoncap.c cap_capable)', () => {
  const childRoot = task(100000, { userNs: IN_CHILD, capPermitted: FULL, capEffective: FULL });
  test.each([
    ['own ns, cap effective', root, IN_INIT, true],
    ['own ns, cap missing', alice, IN_INIT, false],
    ['ancestor with cap over grandchild', root, IN_GRANDCHILD, true],
    ['owner of child ns', alice, IN_CHILD, true],
    ['owner of child ns, through it over grandchild', alice, IN_GRANDCHILD, true],
    ['not the owner of child ns', bob, IN_CHILD, false],
    ['child ns caps do not reach parent', childRoot, IN_INIT, false],
    ['child ns caps reach grandchild', childRoot, IN_GRANDCHILD, true],
    ['sibling', task(1001, { userNs: IN_SIBLING, capEffective: FULL }), IN_CHILD, false],
    ['chains with different roots', root, [CHILD, { ino: 1n, ownerUid: 0 }], false],
  ] as const)('%s', (_name, caller, ns, expected) => {
    expect(nsCapable(caller, ns, CAP_SYS_PTRACE)).toBe(expected);
  });
});

describe('mayAccessFile (SPEC table F)', () => {
  const target = task(1000);
  test.each([
    ['mem', 'EACCES'],
    ['maps', 'EACCES'],
    ['environ', 'EACCES'],
    ['exe', 'EACCES'],
    ['fd/N', 'EACCES'],
    ['syscall', 'EPERM'],
    ['stack', 'EPERM'],
    ['personality', 'EPERM'],
  ] as const)('%s denies with %s', (file, errno) => {
    const r = mayAccessFile(file, bob, target, NO_YAMA);
    expect(r.allow).toBe(false);
    if (!r.allow) expect(r.errno).toBe(errno);
  });
  test.each(['status', 'stat', 'statm', 'cmdline', 'comm', 'limits', 'cgroup'] as const)('%s makes no check', (file) => {
    expect(mayAccessFile(file, bob, target, NO_YAMA)).toEqual({ allow: true, decision: null });
  });
  test('maps is a READ check: Yama 3 does not stop it, but stops mem', () => {
    expect(mayAccessFile('maps', root, target, { yamaScope: 3 }).allow).toBe(true);
    expect(mayAccessFile('mem', root, target, { yamaScope: 3 }).allow).toBe(false);
  });
  test('maps family: a perfmon_capable() caller in our ns passes a failed READ check; mem does not', () => {
    const perfmon = task(1001, { capEffective: 1n << 38n, capPermitted: 1n << 38n });
    const sysadmin = task(1001, { capEffective: 1n << 21n, capPermitted: 1n << 21n });
    const nested = task(1001, { capEffective: 1n << 38n, capPermitted: 1n << 38n, userNs: IN_CHILD });
    const nd = task(1000, { dumpable: false });
    for (const file of ['maps', 'smaps', 'smaps_rollup', 'numa_maps'] as const) {
      expect(mayAccessFile(file, perfmon, nd, NO_YAMA)).toEqual({ allow: true, decision: { allow: true, rule: 'perfmon-capable' } });
      expect(mayAccessFile(file, sysadmin, nd, NO_YAMA).allow).toBe(true);
      expect(mayAccessFile(file, nested, nd, NO_YAMA).allow).toBe(false);
    }
    for (const file of ['mem', 'environ', 'auxv', 'pagemap', 'exe'] as const) {
      expect(mayAccessFile(file, perfmon, nd, NO_YAMA).allow).toBe(false);
    }
  });
  test('mem of the caller itself opens under Yama 3 (mm_access skips same mm)', () => {
    const self = task(1000, { dumpable: false });
    expect(mayAccessFile('mem', self, self, { yamaScope: 3 }).allow).toBe(true);
  });
});
