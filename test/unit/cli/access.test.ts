import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';

import { accessCommand } from '../../../src/cli/access';
import { EXIT_UNREADABLE, EXIT_USAGE } from '../../../src/cli/args';
import { HostProc } from '../../../src/host/host-proc';

describe('procfuse access: failures say which process and why, with their own exit status', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-access-'));
  afterEach(() => vi.restoreAllMocks());
  afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

  function capture(args: string[]): { code: number; stderr: string } {
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const code = accessCommand(args, new HostProc(empty));
    return { code, stderr };
  }

  test('a process that does not exist: exit 3 (not the usage code), naming it and its role', () => {
    const r = capture(['41', '42']);
    expect(r.code).toBe(EXIT_UNREADABLE);
    expect(r.code).not.toBe(EXIT_USAGE);
    expect(r.stderr).toBe('procfuse: cannot read the credentials of caller 41: no such process (it exited, or never existed)\n');
  });

  test('a usage error stays exit 2', () => {
    expect(capture(['41']).code).toBe(EXIT_USAGE);
    expect(capture(['x', '1']).code).toBe(EXIT_USAGE);
  });
});
