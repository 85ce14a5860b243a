/**
 * Mounts procfuse for real: the daemon runs as a child process (a process must
 * never access its own FUSE mount synchronously), and teardown always unmounts,
 * aborting a wedged connection if it has to.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { abortConnection, fuseConnectionAt } from '../../src/cli/mounts';

const ROOT = path.resolve(__dirname, '../..');
export const CLI = path.join(ROOT, 'dist/mount/cli.js');

export interface Mount {
  dir: string;
  daemon: ChildProcess;
  /** what the daemon wrote to stderr so far */
  log(): string;
  /** FUSE connection id, from mountinfo */
  connectionId(): number | undefined;
  stop(): Promise<void>;
}

/** The FUSE mount at `dir` and its connection id, if there is one. */
export function fuseMountAt(dir: string): { devMinor: number } | undefined {
  const id = fuseConnectionAt(dir);
  return id === undefined ? undefined : { devMinor: id };
}

export async function startMount(extraArgs: string[] = [], dir?: string): Promise<Mount> {
  const mnt = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-'));
  const daemon = spawn(process.execPath, [CLI, 'mount', mnt, '--foreground', '--ready-fd', '3', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  daemon.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  daemon.stdout!.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 10_000);
    (daemon.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve(true);
      }
    });
    daemon.on('exit', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
  const m: Mount = {
    dir: mnt,
    daemon,
    log: () => stderr,
    connectionId: () => fuseMountAt(mnt)?.devMinor,
    stop: async () => {
      const id = m.connectionId();
      if (daemon.exitCode === null && daemon.signalCode === null) {
        const exited = new Promise<void>((r) => daemon.once('exit', () => r()));
        daemon.kill('SIGTERM');
        const t = setTimeout(() => {
          if (id !== undefined) abortConnection(id);
          daemon.kill('SIGKILL');
        }, 5_000);
        await exited;
        clearTimeout(t);
      }
      if (fuseMountAt(mnt)) {
        if (id !== undefined) abortConnection(id);
        spawnSync('umount', ['-l', mnt]);
      }
      if (!dir) fs.rmSync(mnt, { recursive: true, force: true });
    },
  };
  if (!ready) {
    await m.stop();
    throw new Error(`procfuse did not mount: ${stderr}`);
  }
  return m;
}

export async function withMount<T>(fn: (m: Mount) => Promise<T> | T, extraArgs: string[] = []): Promise<T> {
  const m = await startMount(extraArgs);
  try {
    return await fn(m);
  } finally {
    await m.stop();
  }
}

/** True when this machine can mount FUSE (root and /dev/fuse). */
export function canMount(): boolean {
  return process.getuid?.() === 0 && fs.existsSync('/dev/fuse');
}
