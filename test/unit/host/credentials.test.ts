import path from 'node:path';

import { describe, expect, test } from 'vitest';

import { FsError } from '../../../src/fuse/errno';
import { isAncestorOf, readAccessEnv, readYamaScope } from '../../../src/host/access-env';
import {
  readCallerCredentials,
  readCredentials,
  resolveDumpable,
  rootOfUidMap,
  type CredentialSources,
} from '../../../src/host/credentials';
import { HostProc } from '../../../src/host/host-proc';
import { type UserNsLevel } from '../../../src/policy/credentials';

const FIXTURES = path.join(__dirname, '../../fixtures/proc');
const INIT: UserNsLevel = { ino: 4026531837n, ownerUid: 0 };
const CHILD: UserNsLevel = { ino: 4026532177n, ownerUid: 1000 };

function host(kase: string): HostProc {
  return new HostProc(path.join(FIXTURES, kase));
}

function sources(owner: number, chain: UserNsLevel[] = [INIT], nsRoot: number | null = null): CredentialSources {
  return { userNsChain: () => chain, dumpOwnerUid: () => owner, nsRootUid: () => nsRoot };
}

describe('readCredentials on captured /proc files', () => {
  test('unprivileged dumpable process (owner = euid 1000)', () => {
    const c = readCredentials(host('unpriv'), 8272, sources(1000));
    expect(c).toMatchObject({
      tid: 8272,
      tgid: 8272,
      ppid: 8269,
      tracerPid: 0,
      uid: { real: 1000, effective: 1000, saved: 1000, fs: 1000 },
      gid: { real: 1000, effective: 1000, saved: 1000, fs: 1000 },
      groups: [],
      capPermitted: 0n,
      capEffective: 0n,
      userNs: [INIT],
      hasMm: true,
      dumpable: true,
      mmUserNsIndex: 0,
    });
    expect(c.startTime).toBeGreaterThan(0n);
  });

  test('PR_SET_DUMPABLE 0 root process: root owner is ambiguous, so not dumpable', () => {
    const c = readCredentials(host('nondumpable'), 8279, sources(0));
    expect(c.dumpable).toBe(false);
    expect(c.capPermitted).toBe(0x1fffeffffffn);
  });

  test('a thread id: its own creds, its thread group in tgid (saved uid 0, fsuid 0, groups)', () => {
    const c = readCallerCredentials(host('thread-caller'), 8476, sources(1000));
    expect(c).toMatchObject({
      tid: 8476,
      tgid: 8431,
      uid: { real: 1000, effective: 1000, saved: 0, fs: 0 },
      groups: [27, 100],
      capPermitted: 0x1fffeffffffn,
      capEffective: 0x10800021fn,
    });
  });

  test('zombie: no mm, not dumpable', () => {
    const c = readCredentials(host('zombie'), 8477, sources(0));
    expect(c.hasMm).toBe(false);
    expect(c.dumpable).toBe(false);
  });

  test('kernel thread: no mm (PF_KTHREAD, no Vm lines)', () => {
    const c = readCredentials(host('kthread'), 2, sources(0));
    expect(c.hasMm).toBe(false);
    expect(c.tgid).toBe(2);
    expect(c.capEffective).toBe(0x1ffffffffffn);
  });

  test('a missing pid and pid 0 are ESRCH; caller tid 0 is EACCES', () => {
    expect(() => readCredentials(host('unpriv'), 999999, sources(0))).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(() => readCredentials(host('unpriv'), 0, sources(0))).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(() => readCallerCredentials(host('unpriv'), 0, sources(0))).toThrow(expect.objectContaining({ code: 'EACCES' }));
  });

  test('a namespace chain source reporting the task gone is ESRCH', () => {
    const gone: CredentialSources = {
      ...sources(0),
      userNsChain: () => {
        throw Object.assign(new Error('userNsChain: No such process'), { code: 'ESRCH' });
      },
    };
    expect(() => readCredentials(host('unpriv'), 8272, gone)).toThrow(FsError);
  });

  /** A HostProc whose Nth read of a file returns edited text (a task changing under us). */
  class ChangingHost extends HostProc {
    private reads = new Map<string, number>();
    constructor(
      root: string,
      private readonly file: string,
      private readonly edit: (text: string) => string,
    ) {
      super(root);
    }
    override readText(...parts: Array<string | number>): string {
      const key = parts.join('/');
      const n = (this.reads.get(key) ?? 0) + 1;
      this.reads.set(key, n);
      const text = super.readText(...parts);
      return parts[parts.length - 1] === this.file && n >= 2 ? this.edit(text) : text;
    }
    // Per-task files are read through the fd cache: change them the same way.
    override readTaskText(...parts: Array<string | number>): string {
      return this.readText(...parts);
    }
  }

  test('creds changing between reads: ESRCH, not a mixed answer', () => {
    const h = new ChangingHost(path.join(FIXTURES, 'unpriv'), 'status', (t) => t.replace(/^Uid:.*$/m, 'Uid:\t0\t0\t0\t0'));
    expect(() => readCredentials(h, 8272, sources(1000))).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  test('pid reused between reads (start time differs): ESRCH', () => {
    const h = new ChangingHost(path.join(FIXTURES, 'unpriv'), 'stat', (t) => {
      const f = t.split(' ');
      f[21] = String(BigInt(f[21]!) + 1n);
      return f.join(' ');
    });
    expect(() => readCredentials(h, 8272, sources(1000))).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  test('a change in a non-credential line (VmRSS) is not a change of creds', () => {
    const h = new ChangingHost(path.join(FIXTURES, 'unpriv'), 'status', (t) => t.replace(/^VmRSS:.*$/m, 'VmRSS:\t1 kB'));
    expect(readCredentials(h, 8272, sources(1000)).uid.effective).toBe(1000);
  });
});

describe('resolveDumpable (fs/proc/base.c task_dump_owner read backwards)', () => {
  test.each([
    // [name, euid, owner, chain, hasMm, nsRoot, dumpable, mmUserNsIndex]
    ['owner = euid 1000, init ns: dumpable', 1000, 1000, [INIT], true, null, true, 0],
    ['owner 0 != euid 1000: not dumpable, mm ns = ours', 1000, 0, [INIT], true, null, false, 0],
    ['euid 0, owner 0: ambiguous -> not dumpable (safe)', 0, 0, [INIT], true, null, false, 0],
    ['no mm: not dumpable, outermost ns', 1000, 0, [CHILD, INIT], false, null, false, 1],
    ['child ns, owner 0 != euid: mm ns may be ours', 100000, 0, [CHILD, INIT], true, null, false, 1],
    ['child ns, owner 100000 (its root) != euid 100005', 100005, 100000, [CHILD, INIT], true, 100000, false, 0],
    ['child ns, owner = euid, its map sends 0 elsewhere: dumpable', 100005, 100005, [CHILD, INIT], true, 100000, true, 0],
    ['child ns, owner = euid = its root: ambiguous -> not dumpable', 100000, 100000, [CHILD, INIT], true, 100000, false, 0],
    ['child ns, owner = euid, 0 unmapped: dumpable', 1000, 1000, [CHILD, INIT], true, null, true, 0],
    ['grandchild ns, owner = euid: ambiguous -> not dumpable', 100005, 100005, [{ ino: 9n, ownerUid: 100000 }, CHILD, INIT], true, null, false, 1],
  ] as const)('%s', (_n, euid, owner, chain, hasMm, nsRoot, dumpable, idx) => {
    expect(resolveDumpable(euid, owner, chain, hasMm, nsRoot)).toEqual({ dumpable, mmUserNsIndex: idx });
  });
});

describe('rootOfUidMap', () => {
  test.each([
    ['         0          0 4294967295\n', 0],
    ['         0     100000      65536\n', 100000],
    ['      1000       1000          1\n', null],
    ['', null],
  ] as const)('%j -> %s', (text, root) => {
    expect(rootOfUidMap(text)).toBe(root);
  });
});

describe('Yama scope and ancestry', () => {
  test('ptrace_scope file present: its value; absent: null (no Yama)', () => {
    expect(readYamaScope(host('yama1'))).toBe(1);
    expect(readYamaScope(host('unpriv'))).toBeNull();
  });
  test('task_is_descendant over the PPid chain', () => {
    const h = host('tree');
    expect(isAncestorOf(h, 10, 30)).toBe(true);
    expect(isAncestorOf(h, 20, 30)).toBe(true);
    expect(isAncestorOf(h, 30, 30)).toBe(true);
    expect(isAncestorOf(h, 1, 40)).toBe(true);
    expect(isAncestorOf(h, 40, 30)).toBe(false);
    expect(isAncestorOf(h, 30, 10)).toBe(false);
    expect(isAncestorOf(h, 10, 12345)).toBe(false);
  });
  test('readAccessEnv: option overrides the file; ancestry only for scope 1', () => {
    const h = host('tree');
    const c = { tgid: 10 } as never;
    const t = { tgid: 30 } as never;
    expect(readAccessEnv(h, c, t)).toEqual({ yamaScope: null, callerIsAncestor: false, sameMm: false });
    expect(readAccessEnv(h, c, t, { yamaScope: 1 })).toEqual({ yamaScope: 1, callerIsAncestor: true, sameMm: false });
    expect(readAccessEnv(host('yama1'), c, t, { yamaScope: null }).yamaScope).toBeNull();
  });
});
