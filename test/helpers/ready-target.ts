/**
 * A child that prints "READY <pid>" once set up and then parks until its stdin
 * closes (maps_target; also run under chroot, where <pid> is not the child's own).
 * Unlike c-programs.ts's startTarget (JSON lines, commands on stdin), this takes
 * any command line.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ReadyTarget {
  child: ChildProcess;
  /** The pid from the READY line. */
  pid: number;
}

export interface StartReadyOptions {
  cwd?: string;
}

/** Spawns cmd and resolves once it has printed READY <pid> (rejects after 10 s or an early exit). */
export function startReadyTarget(cmd: string, args: string[], opts: StartReadyOptions = {}): Promise<ReadyTarget> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'], cwd: opts.cwd });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not get ready`)), 10_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${cmd} exited early (${code})`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, pid: Number(m[1]) });
      }
    });
  });
}

export interface StopReadyOptions {
  /** Send SIGCONT to the READY pid first, for targets a test may have stopped. */
  sigcont?: boolean;
}

/** Closes the target's stdin (it exits on EOF) and waits for it; SIGKILL after 2 s. */
export async function stopReadyTarget(t: ReadyTarget | undefined, opts: StopReadyOptions = {}): Promise<void> {
  if (!t || t.child.exitCode !== null || t.child.signalCode !== null) return;
  const exited = new Promise((r) => t.child.once('exit', r));
  if (opts.sigcont) {
    try {
      process.kill(t.pid, 'SIGCONT');
    } catch {
      // gone
    }
  }
  t.child.stdin!.end();
  const timer = setTimeout(() => t.child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}
