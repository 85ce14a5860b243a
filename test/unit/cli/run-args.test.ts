import { DEFAULT_MOUNT_OPTIONS } from '../../../src/cli/proc-options';
import { describe, expect, test } from 'vitest';

import { CliError, parseRunArgs } from '../../../src/cli/args';
import { exitStatusOf, namespaceArgv } from '../../../src/cli/namespace';

describe('parseRunArgs', () => {
  test('the command is everything after the first --, options before it', () => {
    expect(parseRunArgs(['--keep-mount', '--threads', '2', '--', 'grep', '--help', '--', 'x'])).toEqual({
      debug: false,
      fuseDebug: false,
      threads: 2,
      proc: DEFAULT_MOUNT_OPTIONS,
      allowOther: true,
      keepMount: true,
      command: ['grep', '--help', '--', 'x'],
    });
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
  test('the command is passed as arguments, never through the shell text', () => {
    const argv = namespaceArgv('/tmp/m x', ['echo', '$(id)', 'a b']);
    expect(argv.slice(0, 7)).toEqual(['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c']);
    expect(argv.slice(8)).toEqual(['sh', '/tmp/m x', 'echo', '$(id)', 'a b']);
  });
});
