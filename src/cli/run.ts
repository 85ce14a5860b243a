/**
 * `procfuse run [--keep-mount] [mount options] -- <command> [args...]`: the
 * command sees procfuse as its /proc, in a private mount namespace, so nobody
 * has to unshare by hand.
 *
 * Three processes, so that the one serving the mount never touches it (a
 * synchronous access from the serving process would deadlock):
 *   - this process: owns the temporary mountpoint, forwards signals, cleans up;
 *   - the daemon (`procfuse mount <tmp> --foreground`), in its own session, tied
 *     to us by a lifeline pipe so it unmounts and exits even if we are SIGKILLed;
 *   - the command: `unshare --mount --propagation private` binds <tmp> over
 *     /proc, detaches the <tmp> copy in its namespace, and execs the command.
 *     The bind never reaches the host's mount table (private propagation).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CliError, EXIT_RUN_FAILED, type RunOptions } from './args';
import { checkFuseDevice, defaultLogPath, spawnDaemon } from './mount';
import { exitStatusOf, namespaceArgv } from './namespace';
import { abortConnection, fuseConnectionAt, isFuseMount, mountsAt } from './mounts';

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/**
 * How long the daemon gets to exit after SIGTERM. It detaches the mount at once,
 * but its FUSE loop only ends when the connection does, and a process the
 * command left running in its namespace still holds the bind over /proc. Then we
 * abort the connection; SIGKILL ends it for sure (the kernel aborts a connection
 * whose /dev/fuse is closed, fs/fuse/dev.c fuse_dev_release).
 */
const DAEMON_STOP_MS = 3_000;
/** what we keep of the daemon's output when it has no --log (shown if it fails) */
const LOG_TAIL_BYTES = 16 * 1024;

const say = (msg: string): void => {
  process.stderr.write(`procfuse: run: ${msg}\n`);
};

export async function runCommand(opts: RunOptions): Promise<number> {
  try {
    checkFuseDevice();
  } catch (e) {
    throw new CliError(`run: ${(e as Error).message}`, EXIT_RUN_FAILED);
  }
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-run-'));

  // A signal that arrives before the command exists ends the run with 128+N.
  let pendingSignal: NodeJS.Signals | undefined;
  let command: ChildProcess | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (command && command.exitCode === null && command.signalCode === null) command.kill(sig);
    else pendingSignal ??= sig;
  };
  for (const sig of FORWARDED_SIGNALS) process.on(sig, onSignal);

  const daemon = startDaemon(mnt, opts);
  let keep = false;
  try {
    if (!(await daemon.ready)) {
      throw new CliError(`run: the daemon could not mount ${mnt}${daemon.logTail()}`, EXIT_RUN_FAILED);
    }
    daemon.connectionId = fuseConnectionAt(mnt);
    if (pendingSignal) return exitStatusOf(null, pendingSignal);
    const [file, ...args] = namespaceArgv(mnt, opts.command);
    command = spawn(file!, args, { stdio: 'inherit' });
    const status = await new Promise<number>((resolve, reject) => {
      command!.on('error', (e) => reject(new CliError(`run: cannot start unshare: ${e.message}`, EXIT_RUN_FAILED)));
      command!.on('exit', (code, signal) => resolve(exitStatusOf(code, signal)));
    });
    keep = opts.keepMount;
    return status;
  } finally {
    for (const sig of FORWARDED_SIGNALS) process.off(sig, onSignal);
    if (keep) {
      daemon.release();
      say(`kept ${mnt} mounted (daemon pid ${daemon.child.pid}, log ${daemon.logPath}); stop with: procfuse unmount ${mnt}`);
    } else {
      await daemon.stop();
      removeMountpoint(mnt);
    }
  }
}

interface RunDaemon {
  child: ChildProcess;
  ready: Promise<boolean>;
  logPath: string;
  /** FUSE connection id (/sys/fs/fuse/connections/<id>), once mounted */
  connectionId?: number;
  /** ": <last lines of the daemon's output>" or "" */
  logTail(): string;
  /** lets the daemon outlive us (--keep-mount) */
  release(): void;
  /** SIGTERM (it unmounts), then abort and detach if it does not go; waits for its exit */
  stop(): Promise<void>;
}

function startDaemon(mnt: string, opts: RunOptions): RunDaemon {
  // With --keep-mount the daemon outlives us, so it needs a log file and no lifeline.
  const logPath = opts.log ?? (opts.keepMount ? defaultLogPath(mnt) : '');
  const logFd = logPath ? fs.openSync(logPath, 'a', 0o600) : undefined;
  // Asked for a debug log and given no file: it goes to our stderr, where the user looks.
  const toStderr = logFd === undefined && (opts.debug || opts.fuseDebug);
  const { child, ready } = spawnDaemon(mnt, opts, logFd ?? (toStderr ? process.stderr.fd : 'pipe'), !opts.keepMount);
  if (logFd !== undefined) fs.closeSync(logFd);
  let tail = '';
  for (const s of [child.stdout, child.stderr]) {
    s?.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-LOG_TAIL_BYTES);
    });
  }
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  const d: RunDaemon = {
    child,
    ready,
    logPath: logPath || (toStderr ? '(stderr)' : '(none)'),
    logTail: () => {
      let text = tail;
      if (logPath) {
        try {
          text = fs.readFileSync(logPath, 'utf8');
        } catch {
          // no log
        }
      }
      const lines = text.trim().split('\n').slice(-5).join('\n');
      return lines ? `:\n${lines}` : '';
    },
    release: () => {
      child.unref();
      for (const s of [child.stdout, child.stderr, child.stdio[4]]) (s as { destroy?(): void } | null)?.destroy?.();
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), DAEMON_STOP_MS))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          if (d.connectionId !== undefined) abortConnection(d.connectionId);
          child.kill('SIGKILL');
          await exited;
        }
      }
      // The daemon's stdio pipes and lifeline are ours to close.
      for (const s of [child.stdout, child.stderr, child.stdio[4]]) (s as { destroy?(): void } | null)?.destroy?.();
    },
  };
  return d;
}

/** Detaches anything still mounted at `mnt` (lazily: never blocks) and removes the directory. */
function removeMountpoint(mnt: string): void {
  for (let i = 0; i < 4 && mountsAt(mnt).some(isFuseMount); i++) spawnSync('umount', ['-l', mnt]);
  try {
    fs.rmdirSync(mnt);
  } catch (e) {
    say(`cannot remove ${mnt}: ${(e as Error).message}`);
  }
}
