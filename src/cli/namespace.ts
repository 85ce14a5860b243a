/** The pure parts of `procfuse run`: the sandbox's command line, its reports, the exit status. */
import os from 'node:os';
import path from 'node:path';

import type { RunOptions } from './args';

/**
 * native/sandbox.c, built beside the addon: the namespace work needs a
 * single-threaded process (unshare(CLONE_NEWUSER) refuses a threaded one).
 */
export function sandboxBinary(): string {
  const root = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
  return path.join(root, 'build/Release/procfuse-sandbox');
}

/**
 * The argv of the sandbox that runs `opts.command` with the procfuse mount at
 * `mnt` as its /proc. The command is passed as arguments, never through a shell.
 */
export function sandboxArgv(mnt: string, opts: Pick<RunOptions, 'newPidns' | 'userns' | 'user' | 'command'>): string[] {
  const argv = [sandboxBinary()];
  if (!opts.newPidns) argv.push('--no-new-pidns');
  if (opts.userns) argv.push('--userns');
  if (opts.user) argv.push('--user', `${opts.user.uid}:${opts.user.gid}`);
  return [...argv, '--mnt', mnt, '--', ...opts.command];
}

/** The host pid of the sandbox's init, from its "init <pid>" report line. */
export function parseInitReport(line: string): number | undefined {
  const m = /^init ([1-9][0-9]*)$/.exec(line.trim());
  return m ? Number(m[1]) : undefined;
}

/** The shell convention for a process's end: its code, or 128+N for signal N. */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
}
