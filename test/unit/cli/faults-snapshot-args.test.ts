import path from 'node:path';

import { describe, expect, test } from 'vitest';

import { CliError, parseMountArgs, parseRunArgs, parseSnapshotArgs } from '../../../src/cli/args';

describe('--faults and --replay', () => {
  test('mount and run take them, as absolute paths', () => {
    expect(parseMountArgs(['/m', '--faults', 'r.json', '--replay', 'snap'])).toMatchObject({
      faults: path.resolve('r.json'),
      replay: path.resolve('snap'),
    });
    expect(parseRunArgs(['--faults', 'r.json', '--', 'true'])).toMatchObject({ faults: path.resolve('r.json'), command: ['true'] });
  });
  test('a missing value is a usage error', () => {
    expect(() => parseMountArgs(['/m', '--faults'])).toThrow(CliError);
  });
});

describe('parseSnapshotArgs', () => {
  test('defaults and options', () => {
    expect(parseSnapshotArgs(['42', '-o', 'd'])).toEqual({
      pid: 42,
      out: path.resolve('d'),
      environ: false,
      allMemory: false,
      maxBytes: 256 << 20,
      headerBytes: 65536,
    });
    expect(parseSnapshotArgs(['--all-memory', '--max-bytes', '8192', '--environ', '7', '--output', '/x', '--header-bytes', '4096'])).toMatchObject({
      pid: 7,
      out: '/x',
      environ: true,
      allMemory: true,
      maxBytes: 8192,
      headerBytes: 4096,
    });
  });
  test.each([[[]], [['42']], [['-o', 'd']], [['0', '-o', 'd']], [['x', '-o', 'd']], [['1', '2', '-o', 'd']], [['1', '-o', 'd', '--max-bytes', '10']], [['1', '-o', 'd', '--what']]])(
    'usage error for %j',
    (args) => {
      expect(() => parseSnapshotArgs(args)).toThrow(CliError);
    },
  );
});
