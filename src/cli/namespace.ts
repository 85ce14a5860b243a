/** The pure parts of `procfuse run`: the namespace command line and the exit status. */
import os from 'node:os';

/**
 * $1 is the mountpoint, the rest the command (as arguments: never parsed by
 * the shell). A failed bind exits 125 (our failure, not the command's). The
 * namespace's copy of the temporary mount is detached, so the command sees
 * procfuse only at /proc. `exec` gives sh's 126/127 for a command that cannot
 * run or is not found.
 */
const NAMESPACE_SCRIPT =
  'mount --bind "$1" /proc || { echo "procfuse: run: cannot bind $1 over /proc" >&2; exit 125; }; ' +
  'umount -l "$1" 2>/dev/null; shift; exec "$@"';

/** The argv that runs `command` with the procfuse mount at `mnt` as its /proc. */
export function namespaceArgv(mnt: string, command: string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', NAMESPACE_SCRIPT, 'sh', mnt, ...command];
}

/** The shell convention for a process's end: its code, or 128+N for signal N. */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
}
