/**
 * `procfuse run [options] -- <command> [args...]`: the command runs in a
 * sandbox whose /proc is procfuse, showing the sandbox's own pid namespace.
 *
 * Three parties, so that the one serving the mount never touches it (a
 * synchronous access from the serving process would deadlock) and never enters
 * the sandbox:
 *   - this process: owns the temporary mountpoint, forwards signals, cleans up;
 *   - the sandbox (native/sandbox.c): a new pid namespace whose init waits,
 *     paused, until the daemon serves that namespace's view, then binds the
 *     mount over /proc in a private mount namespace, moves into a copy of it
 *     owned by a new user namespace (every mount there is MNT_LOCKED, so
 *     `umount /proc` fails), and runs the command as pid 2 as root without
 *     CAP_SYS_ADMIN (or, with --userns, as root of a new user namespace);
 *   - the daemon (`procfuse mount <tmp> --foreground -o pidns=<the init's>`), in
 *     its own session and outside the sandbox's pid namespace (invisible and
 *     unreachable from inside), tied to us by a lifeline pipe so that it
 *     unmounts, removes <tmp> and exits even if we are SIGKILLed (the sandbox
 *     dies with us then: PR_SET_PDEATHSIG).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CliError, EXIT_RUN_FAILED, type RunOptions, type ServeOptions } from './args';
import { checkFuseDevice, defaultLogPath, spawnDaemon } from './mount';
import { exitStatusOf, parseInitReport, sandboxArgv } from './namespace';
import { abortConnection, fuseConnectionAt, isFuseMount, mountsAt } from './mounts';
import { makeCgroup, type MadeCgroup } from '../resources/cgroup-limits';

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

/**
 * The daemon's options: with a new pid namespace, a fixed view of it (as
 * `mount -t proc -o pidns=` would give), unless the caller chose a view.
 */
export function daemonOptions(opts: RunOptions, initPid: number): ServeOptions {
  const { keepMount: _k, newPidns, userns: _u, user: _user, command: _c, cgroup: _cg, ...serve } = opts;
  if (!newPidns || serve.proc.pidns.kind !== 'default') return serve;
  return { ...serve, proc: { ...serve.proc, pidns: { kind: 'fixed', ns: `/proc/${initPid}/ns/pid` } } };
}

interface Sandbox {
  child: ChildProcess;
  /** the init's host pid; undefined if the sandbox failed before it */
  init: Promise<number | undefined>;
  /** the sandbox's exit status (the command's, or 128+N) */
  exit: Promise<number>;
  /** lets the init bind /proc and start the command */
  go(): void;
  /** tells the init to give up (it exits 125) */
  abort(): void;
}

function startSandbox(mnt: string, opts: RunOptions): Sandbox {
  const [file, ...args] = sandboxArgv(mnt, opts);
  const child = spawn(file!, args, { stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe'] });
  const report = child.stdio[3] as NodeJS.ReadableStream;
  const control = child.stdio[4] as NodeJS.WritableStream & { destroy(): void };
  const exit = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new CliError(`run: cannot start the sandbox (${file}): ${e.message}`, EXIT_RUN_FAILED)));
    child.on('exit', (code, signal) => resolve(exitStatusOf(code, signal)));
  });
  const init = new Promise<number | undefined>((resolve) => {
    let got = '';
    report.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\n')) resolve(parseInitReport(got.split('\n')[0]!));
    });
    report.on('end', () => resolve(undefined));
    exit.then(() => resolve(undefined), () => resolve(undefined));
  });
  // The sandbox may end before we write (EPIPE): its exit status says why.
  control.on('error', () => {});
  return {
    child,
    init,
    exit,
    go: () => control.end('go\n'),
    abort: () => control.destroy(),
  };
}

export async function runCommand(opts: RunOptions): Promise<number> {
  try {
    checkFuseDevice();
  } catch (e) {
    throw new CliError(`run: ${(e as Error).message}`, EXIT_RUN_FAILED);
  }
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-run-'));

  // A signal that arrives before the command exists ends the run with 128+N.
  let pendingSignal: NodeJS.Signals | undefined;
  let started = false;
  let sandbox: Sandbox | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (started && sandbox && sandbox.child.exitCode === null && sandbox.child.signalCode === null) sandbox.child.kill(sig);
    else pendingSignal ??= sig;
  };
  for (const sig of FORWARDED_SIGNALS) process.on(sig, onSignal);

  let daemon: RunDaemon | undefined;
  let keep = false;
  // --cgroup: a cgroup of the run's own, which the mount shows as the sandbox's resources.
  let cg: MadeCgroup | undefined;
  try {
    if (opts.cgroup) cg = makeCgroup(`procfuse-run-${process.pid}`, opts.cgroup);
  } catch (e) {
    for (const sig of FORWARDED_SIGNALS) process.off(sig, onSignal);
    removeMountpoint(mnt);
    throw new CliError(`run: ${(e as Error).message}`, EXIT_RUN_FAILED);
  }
  try {
    sandbox = startSandbox(mnt, opts);
    const initPid = await sandbox.init;
    if (initPid === undefined) {
      const status = await sandbox.exit;
      throw new CliError(`run: the sandbox failed before its init started (status ${status})`, EXIT_RUN_FAILED);
    }
    let serve = daemonOptions(opts, initPid);
    if (cg) {
      // The init waits paused for "go": in the cgroup before it starts the
      // command, everything the sandbox runs is in it.
      try {
        for (const f of cg.procsFiles) fs.writeFileSync(f, String(initPid));
      } catch (e) {
        sandbox.abort();
        await sandbox.exit;
        throw new CliError(`run: cannot put the sandbox in ${cg.path}: ${(e as Error).message}`, EXIT_RUN_FAILED);
      }
      serve = { ...serve, proc: { ...serve.proc, cgroup: cg.path } };
    }
    daemon = startDaemon(mnt, serve, opts);
    if (!(await daemon.ready)) {
      sandbox.abort();
      await sandbox.exit;
      throw new CliError(`run: the daemon could not mount ${mnt}${daemon.logTail()}`, EXIT_RUN_FAILED);
    }
    daemon.connectionId = fuseConnectionAt(mnt);
    if (pendingSignal) {
      sandbox.abort();
      await sandbox.exit;
      return exitStatusOf(null, pendingSignal);
    }
    started = true;
    sandbox.go();
    const status = await sandbox.exit;
    keep = opts.keepMount;
    return status;
  } finally {
    for (const sig of FORWARDED_SIGNALS) process.off(sig, onSignal);
    if (sandbox && sandbox.child.exitCode === null && sandbox.child.signalCode === null) {
      sandbox.child.kill('SIGKILL');
      await sandbox.exit.catch(() => 0);
    }
    if (keep && daemon) {
      daemon.release();
      say(`kept ${mnt} mounted (daemon pid ${daemon.child.pid}, log ${daemon.logPath}); stop with: procfuse unmount ${mnt}`);
    } else {
      await daemon?.stop();
      removeMountpoint(mnt);
    }
    // What the sandbox left running in its cgroup ends with the run (even with
    // --keep-mount: the cgroup is the run's).
    cg?.remove();
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

function startDaemon(mnt: string, serve: ServeOptions, opts: RunOptions): RunDaemon {
  // With --keep-mount the daemon outlives us, so it needs a log file and no lifeline.
  const logPath = opts.log ?? (opts.keepMount ? defaultLogPath(mnt) : '');
  const logFd = logPath ? fs.openSync(logPath, 'a', 0o600) : undefined;
  // Asked for a debug log and given no file: it goes to our stderr, where the user looks.
  const toStderr = logFd === undefined && (opts.debug || opts.fuseDebug);
  const { child, ready } = spawnDaemon(mnt, serve, logFd ?? (toStderr ? process.stderr.fd : 'pipe'), !opts.keepMount);
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

/**
 * Detaches anything still mounted at `mnt` (lazily: never blocks) and removes
 * the directory (the daemon may have removed it already).
 */
function removeMountpoint(mnt: string): void {
  for (let i = 0; i < 4 && mountsAt(mnt).some(isFuseMount); i++) spawnSync('umount', ['-l', mnt]);
  try {
    fs.rmdirSync(mnt);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') say(`cannot remove ${mnt}: ${(e as Error).message}`);
  }
}
