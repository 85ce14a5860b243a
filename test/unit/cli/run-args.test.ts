import { DEFAULT_MOUNT_OPTIONS } from '../../../src/cli/proc-options';
import { describe, expect, test } from 'vitest';

import { CliError, parseRunArgs } from '../../../src/cli/args';
import { exitStatusOf, parseInitReport, sandboxArgv } from '../../../src/cli/namespace';

describe('parseRunArgs', () => {
  test('the command is everything after the first --, options before it', () => {
    expect(parseRunArgs(['--keep-mount', '--threads', '2', '--', 'grep', '--help', '--', 'x'])).toEqual({
      debug: false,
      fuseDebug: false,
      threads: 2,
      proc: DEFAULT_MOUNT_OPTIONS,
      allowOther: true,
      keepMount: true,
      newPidns: true,
      userns: false,
      command: ['grep', '--help', '--', 'x'],
    });
  });
  test('sandbox options: --no-new-pidns, --userns, --user UID[:GID]', () => {
    expect(parseRunArgs(['--no-new-pidns', '--userns', '--user', '1000:5', '--', 'id'])).toMatchObject({
      newPidns: false,
      userns: true,
      user: { uid: 1000, gid: 5 },
    });
    expect(parseRunArgs(['--user', '7', '--', 'id']).user).toEqual({ uid: 7, gid: 7 });
  });
  test.each([
    [[], 'run: missing command after --'],
    [['--'], 'run: missing command after --'],
    [['--debug'], 'run: missing command after --'],
    [['ls'], "run: unexpected 'ls' before --"],
    [['-f', '--', 'ls'], 'run: -f is a mount option only'],
    [['--ready-fd', '3', '--', 'ls'], 'run: --ready-fd is a mount option only'],
    [['--bogus', '--', 'ls'], "run: unknown option '--bogus'"],
    [['--threads', '0', '--', 'ls'], 'run: --threads takes a whole number from 1 to 64'],
    [['--user', 'root', '--', 'ls'], "run: --user takes UID[:GID] as numbers, not 'root'"],
    [['--user', '1:', '--', 'ls'], "run: --user takes UID[:GID] as numbers, not '1:'"],
    [['--user'], 'run: --user needs a value'],
  ])('usage error for %j', (args, message) => {
    try {
      parseRunArgs(args);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CliError);
      expect((e as CliError).exitCode).toBe(2);
      expect((e as CliError).message).toContain(message);
    }
  });
});

describe('run helpers', () => {
  test('exit status: the code, or 128+N for signal N', () => {
    expect(exitStatusOf(0, null)).toBe(0);
    expect(exitStatusOf(7, null)).toBe(7);
    expect(exitStatusOf(null, 'SIGKILL')).toBe(137);
    expect(exitStatusOf(null, 'SIGTERM')).toBe(143);
  });
  test('the command is passed as arguments, never through shell text', () => {
    const argv = sandboxArgv('/tmp/m x', { newPidns: true, userns: false, command: ['echo', '$(id)', 'a b'] });
    expect(argv[0]).toMatch(/build\/Release\/procfuse-sandbox$/);
    expect(argv.slice(1)).toEqual(['--mnt', '/tmp/m x', '--', 'echo', '$(id)', 'a b']);
    expect(sandboxArgv('/m', { newPidns: false, userns: true, user: { uid: 1, gid: 2 }, command: ['id'] }).slice(1)).toEqual([
      '--no-new-pidns', '--userns', '--user', '1:2', '--mnt', '/m', '--', 'id',
    ]);
  });
  test('the init report', () => {
    expect(parseInitReport('init 4242\n')).toBe(4242);
    expect(parseInitReport('init 0')).toBeUndefined();
    expect(parseInitReport('')).toBeUndefined();
  });
});
