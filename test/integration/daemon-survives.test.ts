/**
 * The daemon survives its environment: a log it cannot open fails `mount` up
 * front; a log it cannot write to costs log lines, not the service; after an
 * unmount from outside it exits even while a reader still holds a file open.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, test } from 'vitest';

import { abortConnection, fuseConnectionAt } from '../../src/cli/mounts';
import { canMount, CLI } from '../helpers/with-mount';

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

/** Mounts with `procfuse mount` (a daemon); returns its pid. */
function mountDaemon(dir: string, extra: string[]): number {
  const r = cli(['mount', dir, ...extra]);
  expect(r.status, r.stderr).toBe(0);
  const m = /daemon pid (\d+)/.exec(r.stderr);
  expect(m).not.toBeNull();
  return Number(m![1]);
}

function cleanup(dir: string, pid?: number): void {
  if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
  const id = fuseConnectionAt(dir);
  if (id !== undefined) {
    abortConnection(id);
    spawnSync('umount', ['-l', dir]);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

describe.skipIf(!canMount())('the daemon survives its environment', () => {
  test('a log that cannot be opened fails mount up front, with a clear message, and leaves no mount', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-log-'));
    try {
      const r = cli(['mount', dir, '--log', '/nonexistent-procfuse-dir/x.log']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/cannot open the log \/nonexistent-procfuse-dir\/x\.log: .*no such file or directory/i);
      expect(fuseConnectionAt(dir)).toBeUndefined();
    } finally {
      cleanup(dir);
    }
  });

  test('--log /dev/full: every log write fails, the daemon keeps serving and unmounts cleanly', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-full-'));
    let pid: number | undefined;
    try {
      // --debug logs every request, so each of these requests writes (and fails to).
      pid = mountDaemon(dir, ['--log', '/dev/full', '--debug']);
      for (let i = 0; i < 50; i++) {
        const out = execFileSync('sh', ['-c', `echo $$; exec readlink ${dir}/self`], { encoding: 'utf8', timeout: 10_000 }).split('\n');
        expect(out[1]).toBe(out[0]);
      }
      expect(fs.readdirSync(dir).length).toBeGreaterThan(10);
      expect(alive(pid)).toBe(true);
      const u = cli(['unmount', dir]);
      expect(u.status, u.stderr).toBe(0);
      expect(await waitGone(pid, 15_000)).toBe(true);
    } finally {
      cleanup(dir, pid);
    }
  });

  test('after unmount the daemon exits, even while a reader still holds a file of the mount open', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-held-'));
    let pid: number | undefined;
    let holder: ReturnType<typeof spawn> | undefined;
    try {
      pid = mountDaemon(dir, ['--log', `${dir}.log`]);
      holder = spawn('sh', ['-c', `exec 3<${dir}/uptime; echo held; exec sleep 60`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => holder!.stdout!.once('data', () => resolve()));
      const u = cli(['unmount', dir]);
      expect(u.status, u.stderr).toBe(0);
      expect(await waitGone(pid, 15_000)).toBe(true);
    } finally {
      holder?.kill('SIGKILL');
      cleanup(dir, pid);
      fs.rmSync(`${dir}.log`, { force: true });
    }
  });
});
