import { describe, expect, test } from 'vitest';

import type { Caller } from '../../../src/fuse/caller';
import { readsItself, statAsRunning, statusAsRunning } from '../../../src/files/self-state';
import type { ProcessRef } from '../../../src/proc/process-ref';
import { RequestContext } from '../../../src/fuse/request';
import { View, DEFAULT_PROC_OPTIONS } from '../../../src/view/view';
import { HostProc } from '../../../src/host/host-proc';

// Captured from this machine's /proc (a `cat` blocked in a FUSE read, as the daemon sees it).
const STATUS = 'Name:\tcat\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t20028\nNgid:\t0\nPid:\t20028\n';
const STAT = '20028 (cat) S 20026 20028 20026 0 -1 4194304 95 0 0 0 0 0 0 0 20 0 1 0 12345 2924000 431\n';

describe('a task reading its own status/stat sees itself running', () => {
  test('status: only the State line changes', () => {
    const out = statusAsRunning(Buffer.from(STATUS)).toString();
    expect(out).toBe(STATUS.replace('State:\tS (sleeping)', 'State:\tR (running)'));
  });

  test('status: a zombie/disk-sleep state is replaced too, other lines never', () => {
    const s = 'Name:\tState: x\nState:\tD (disk sleep)\n';
    expect(statusAsRunning(Buffer.from(s)).toString()).toBe('Name:\tState: x\nState:\tR (running)\n');
  });

  test('stat: field 3 after the LAST ")" of comm, even when comm holds ") S "', () => {
    expect(statAsRunning(Buffer.from(STAT)).toString()).toBe(STAT.replace(') S ', ') R '));
    const odd = '7 (a) S (b) S 1 7 7 0 -1\n';
    expect(statAsRunning(Buffer.from(odd)).toString()).toBe('7 (a) S (b) R 1 7 7 0 -1\n');
  });

  test('stat without a ")" is left alone', () => {
    expect(statAsRunning(Buffer.from('garbage')).toString()).toBe('garbage');
  });

  // A view of the daemon's own namespace: a caller's tid there is its request pid.
  const host = new HostProc('/nonexistent');
  const own = new View('own', host, { own: host, access: {}, options: DEFAULT_PROC_OPTIONS }, null);
  const other = new View('other', host, own.mount, 123n);
  host.tgidOf = (tid: number) => tid;

  test('only the reading thread itself, never pid 0 (a caller outside our pid ns)', () => {
    const ctx = (pid: number): RequestContext => new RequestContext({ pid, uid: 0, gid: 0, umask: 0 } satisfies Caller, own);
    const ref = (tid: number, view = own) => ({ tid, view }) as ProcessRef;
    expect(readsItself(ctx(42), ref(42))).toBe(true);
    expect(readsItself(ctx(43), ref(42))).toBe(false);
    expect(readsItself(ctx(0), ref(0))).toBe(false);
    // The same number in another view's namespace is another task.
    expect(readsItself(ctx(42), ref(42, other))).toBe(false);
  });
});
