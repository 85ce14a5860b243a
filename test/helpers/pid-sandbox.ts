/**
 * A real pid namespace for view tests: `unshare --pid --fork --kill-child` runs
 * `script` as the namespace's init, and the kernel's own procfs of that
 * namespace (mount -t proc -o pidns=...) is the reference to compare with.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PidSandbox {
  /** the init's pid in OUR namespace */
  init: number;
  nsPath: string;
  /** runs argv inside the namespace (nsenter forks into it), optionally as uid:gid */
  run(argv: string[], as?: { uid: number; gid: number }): { stdout: string; stderr: string; status: number | null };
  stop(): void;
}

export async function waitFor<T>(f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The namespace init that `parent` (unshare --fork) started, once the init has
 * started `children` children of its own (the script's background jobs).
 */
export async function initOf(parent: number, children: number): Promise<number> {
  const init = await waitFor(() => {
    try {
      const c = fs.readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim();
      return c ? Number(c.split(' ')[0]) : undefined;
    } catch {
      return undefined;
    }
  });
  await waitFor(() => {
    try {
      const c = fs.readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim();
      return c.split(' ').filter(Boolean).length >= children ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return init;
}

export async function startPidSandbox(script: string, children = 0): Promise<PidSandbox> {
  const unshare: ChildProcess = spawn('unshare', ['--pid', '--fork', '--kill-child', 'sh', '-c', script], { stdio: 'ignore' });
  const init = await initOf(unshare.pid!, children);
  const nsPath = `/proc/${init}/ns/pid`;
  return {
    init,
    nsPath,
    run(argv, as) {
      const cred = as ? ['setpriv', `--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', '--inh-caps=-all', '--'] : [];
      const r = spawnSync('nsenter', [`--pid=${nsPath}`, '--', ...cred, ...argv], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
      return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
    },
    stop() {
      unshare.kill('SIGKILL');
    },
  };
}

/** The kernel's own procfs of `nsPath`'s namespace, with `options`, on a fresh directory. */
export function mountKernelProc(nsPath: string, options = ''): { dir: string; stop(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-ref-'));
  const opts = [`pidns=${nsPath}`, ...(options ? [options] : [])].join(',');
  const r = spawnSync('mount', ['-t', 'proc', '-o', opts, 'proc', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t proc -o ${opts}: ${r.stderr}`);
  return {
    dir,
    stop() {
      spawnSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
