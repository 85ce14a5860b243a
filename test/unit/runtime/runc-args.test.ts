import { describe, expect, test } from 'vitest';

import { bundleProc } from '../../../src/runtime/bundle';
import { createOptionsOf, parseRuncArgs } from '../../../src/runtime/runc-args';

describe('parseRuncArgs', () => {
  test('containerd-shim style: global options with values, --flag=value, the id last', () => {
    const a = parseRuncArgs([
      '--root', '/run/containerd/runc/k8s.io', '--log', '/x/log.json', '--log-format=json', '--systemd-cgroup',
      'create', '--bundle', '/b', '--pid-file=/b/init.pid', '--console-socket', '/s.sock', 'abc',
    ]);
    expect(a).toMatchObject({
      command: 'create', id: 'abc', bundle: '/b', pidFile: '/b/init.pid', root: '/run/containerd/runc/k8s.io', detach: false,
    });
    expect(a.globals).toEqual(['--root', '/run/containerd/runc/k8s.io', '--log', '/x/log.json', '--log-format=json', '--systemd-cgroup']);
  });
  test('single-dash long flags and -b, run -d', () => {
    expect(parseRuncArgs(['run', '-d', '-b', 'bundle', 'id1'])).toMatchObject({ command: 'run', detach: true, bundle: 'bundle', id: 'id1' });
    expect(parseRuncArgs(['-root=/r', 'delete', '--force', 'x'])).toMatchObject({ root: '/r', command: 'delete', id: 'x' });
    expect(parseRuncArgs(['kill', 'x', 'KILL']).positional).toEqual(['x', 'KILL']);
  });
  test('create options for a run: run-only options dropped, our pid file instead of the caller\'s', () => {
    const a = parseRuncArgs(['run', '--detach', '--keep', '--no-subreaper', '--pid-file', '/theirs', '--bundle', '/b', '--no-pivot', 'id']);
    expect(createOptionsOf(a, '/ours')).toEqual(['--bundle', '/b', '--no-pivot', '--pid-file', '/ours']);
    expect(createOptionsOf(parseRuncArgs(['create', '--pid-file=/theirs', 'id']), '/ours')).toEqual(['--pid-file', '/ours']);
  });
});

describe('bundleProc', () => {
  test('only the maskedPaths and readonlyPaths under /proc are re-applied', () => {
    const c = {
      process: { terminal: true },
      linux: {
        maskedPaths: ['/proc/acpi', '/proc/kcore', '/sys/firmware', '/procfoo', 7],
        readonlyPaths: ['/proc/sys', '/proc/sysrq-trigger', '/proc'],
      },
    };
    expect(bundleProc(JSON.stringify(c))).toEqual({
      masked: ['/proc/acpi', '/proc/kcore'],
      readonly: ['/proc/sys', '/proc/sysrq-trigger'],
      terminal: true,
    });
    expect(bundleProc('{}')).toEqual({ masked: [], readonly: [], terminal: false });
  });
});
