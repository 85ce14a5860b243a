/**
 * `procfuse mount <mountpoint>`: checks, stale-mount recovery, daemonizing, and
 * a clean unmount on SIGINT/SIGTERM. SIGHUP reloads what the daemon was given
 * to read (the --policy file) and reopens what it writes (--log), for
 * logrotate; a daemon with nothing to reload or reopen unmounts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { hasCode } from '../fuse/errno';
import { parsePolicy, PolicyError, type Policy } from '../policy/policy-file';
import { ProcfuseSession } from '../fuse/session';
import type { YamaScope } from '../policy/access';
import { HostProc } from '../host/host-proc';
import { readManifest } from '../snapshot/format';
import { RootDir } from '../tree/root-dir';
import { openOwnProcfs, Views } from '../view/views';
import { serveFaultControl } from '../faults/control';
import { FaultRulesFile } from '../faults/fault-rules-file';
import { FaultRulesError } from '../faults/rules';
import { CliError, EXIT_USAGE, type MountOptions, type ServeOptions } from './args';
import { formatProcOptions } from './proc-options';
import { openAudit } from '../audit/audit-log';
import { LogSink, routeOutputTo } from './log-sink';
import { detach, isFuseMount, mountsAt } from './mounts';


const say = (msg: string): void => {
  process.stderr.write(`procfuse: ${msg}\n`);
};

/** Validates the mountpoint and clears a stale mount; returns the absolute path. */
export function prepareMountpoint(mountpoint: string): string {
  const abs = path.resolve(mountpoint);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    if (hasCode(e, 'ENOTCONN', 'ECONNABORTED')) {
      // A daemon was killed and left its mount behind: every access fails with
      // "Transport endpoint is not connected" until it is detached.
      say(`clearing a stale mount at ${abs} (its daemon is gone)`);
      const r = detach(abs);
      if (!r.ok) throw new CliError(`cannot clear the stale mount at ${abs}: ${r.message}`);
      return prepareMountpoint(abs);
    }
    if (hasCode(e, 'ENOENT')) throw new CliError(`cannot mount ${abs}: no such directory`);
    if (hasCode(e, 'EACCES')) throw new CliError(`cannot mount ${abs}: permission denied`);
    throw new CliError(`cannot mount ${abs}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new CliError(`cannot mount ${abs}: not a directory`);
  if (mountsAt(abs).some((m) => isFuseMount(m) && m.source === 'procfuse')) {
    throw new CliError(`${abs} is already a procfuse mount (procfuse unmount ${abs} first)`);
  }
  return abs;
}

export function checkFuseDevice(): void {
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch (e) {
    throw new CliError(
      `/dev/fuse is not available: ${(e as Error).message.replace(/^[A-Z]+: /, '')} ` +
        '(load the fuse module, or give the container --device /dev/fuse)',
    );
  }
}

export function defaultLogPath(abs: string): string {
  const name = abs.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_') || 'root';
  for (const dir of ['/run/procfuse', '/tmp/procfuse']) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      return path.join(dir, `${name}.log`);
    } catch {
      // try the next one
    }
  }
  return '/dev/null';
}

export async function mountCommand(opts: MountOptions): Promise<number> {
  checkFuseDevice();
  const abs = prepareMountpoint(opts.mountpoint);
  if (!opts.foreground) return daemonize(opts, abs);
  serve(opts, abs);
  return -1; // keep running
}

export interface DaemonChild {
  child: ChildProcess;
  /** true once the daemon has mounted; false if it exited first */
  ready: Promise<boolean>;
}

/**
 * Spawns the serving daemon, `procfuse mount <abs> --foreground --ready-fd 3`,
 * in its own session (a terminal's ^C must not reach it). `out` receives its
 * stdout and stderr. With `lifeline`, fd 4 is a pipe from us: when it closes
 * (we exit, even by SIGKILL) the daemon unmounts and exits. `cli` is the
 * `procfuse` script (another command, such as procfuse-runtime, passes it).
 */
export function spawnDaemon(abs: string, opts: ServeOptions, out: number | 'pipe', lifeline = false, cli = process.argv[1]!): DaemonChild {
  const args = [cli, 'mount', abs, '--foreground', '--ready-fd', '3', '--threads', String(opts.threads)];
  if (opts.debug) args.push('--debug');
  if (opts.fuseDebug) args.push('--fuse-debug');
  if (!opts.allowOther) args.push('--no-allow-other');
  if (opts.yamaScope !== undefined) args.push('--yama-scope', String(opts.yamaScope));
  if (opts.maxRead !== undefined) args.push('--max-read', String(opts.maxRead));
  if (opts.policy !== undefined) args.push('--policy', path.resolve(opts.policy));
  const o = formatProcOptions(opts.proc);
  if (o) args.push('-o', o);
  if (opts.faults !== undefined) args.push('--faults', opts.faults);
  if (opts.replay !== undefined) args.push('--replay', opts.replay);
  if (opts.log !== undefined) args.push('--log', opts.log);
  if (opts.audit !== undefined) args.push('--audit', path.resolve(opts.audit));
  if (lifeline) args.push('--lifeline-fd', '4');
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', out, out, 'pipe', ...(lifeline ? (['pipe'] as const) : [])],
  });
  const ready = new Promise<boolean>((resolve) => {
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    let got = '';
    pipe.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('ready')) resolve(true);
    });
    child.on('exit', () => resolve(false));
    child.on('error', () => resolve(false));
  });
  void ready.then(() => (child.stdio[3] as unknown as { destroy(): void }).destroy());
  return { child, ready };
}

/** Starts the foreground server in a detached child and waits until it is mounted. */
async function daemonize(opts: MountOptions, abs: string): Promise<number> {
  const log = opts.log ?? defaultLogPath(abs);
  let logFd: number;
  try {
    logFd = fs.openSync(log, 'a', 0o600);
  } catch (e) {
    throw new CliError(`cannot open the log ${log}: ${(e as Error).message} (choose another with --log FILE)`);
  }
  const { child, ready } = spawnDaemon(abs, { ...opts, log }, logFd);
  fs.closeSync(logFd);
  if (!(await ready)) {
    let tail = '';
    try {
      tail = fs.readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      // no log
    }
    process.stderr.write(tail ? `${tail}\n` : `procfuse: the daemon exited before mounting ${abs}\n`);
    return 1;
  }
  child.unref();
  say(`mounted at ${abs} (daemon pid ${child.pid}, log ${log}); stop with: procfuse unmount ${abs}`);
  return 0;
}

/** Reads and validates a --policy file; a CliError names the file and the rule. */
export function loadPolicy(file: string): Policy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read policy ${file}: ${(e as Error).message.replace(/^[A-Z]+: /, '')}`);
  }
  try {
    return parsePolicy(text, file);
  } catch (e) {
    if (e instanceof PolicyError) throw new CliError(e.message);
    throw e;
  }
}

function serve(opts: MountOptions, abs: string): void {
  // Before mounting: a bad policy is the operator's error, said at once.
  const policy = opts.policy === undefined ? undefined : loadPolicy(opts.policy);
  let faults: FaultRulesFile | undefined;
  if (opts.faults !== undefined) {
    try {
      faults = new FaultRulesFile(opts.faults);
    } catch (e) {
      if (e instanceof FaultRulesError) throw new CliError(`--faults ${opts.faults}: ${e.message}`, EXIT_USAGE);
      throw e;
    }
  }
  let replay: HostProc | undefined;
  if (opts.replay !== undefined) {
    if (opts.proc.pidns.kind !== 'default') throw new CliError('--replay serves one recorded process: it takes no pidns=', EXIT_USAGE);
    try {
      const m = readManifest(opts.replay);
      say(`replaying process ${m.pid} recorded ${m.takenAt} (kernel ${m.kernel})`);
    } catch (e) {
      throw new CliError(`--replay: ${(e as Error).message}`, EXIT_USAGE);
    }
    replay = new HostProc(path.join(opts.replay, 'proc'));
  }
  // Output goes through a sink whose write errors are counted, never fatal:
  // the log file (--log), else our stderr (which a daemon's parent pointed at its log).
  let sink: LogSink;
  if (opts.log !== undefined) {
    try {
      sink = LogSink.open(opts.log);
    } catch (e) {
      throw new CliError(`cannot open the log ${opts.log}: ${(e as Error).message} (choose another with --log FILE)`);
    }
  } else {
    sink = new LogSink(2);
  }
  routeOutputTo(sink);
  let auditSink: LogSink | undefined;
  if (opts.audit !== undefined) {
    try {
      auditSink = openAudit(opts.audit);
    } catch (e) {
      throw new CliError(`cannot open the audit log ${opts.audit}: ${(e as Error).message}`);
    }
  }
  let views: Views;
  try {
    views = new Views(
      {
        // Callers arrive as pids of the daemon's own pid namespace (fs/fuse/dev.c).
        own: openOwnProcfs(),
        access: opts.yamaScope === undefined ? {} : { yamaScope: opts.yamaScope as YamaScope },
        options: { hidepid: opts.proc.hidepid, gid: opts.proc.gid, subsetPid: opts.proc.subsetPid, cgroup: opts.proc.cgroup },
        ...(faults ? { faults } : {}),
        ...(replay ? { replay } : {}),
      },
      opts.proc.pidns,
    );
  } catch (e) {
    throw new CliError(`cannot mount ${abs}: ${(e as Error).message}`);
  }
  const session = new ProcfuseSession(abs, new RootDir(), views.forCaller, {
    allowOther: opts.allowOther,
    fuseDebug: opts.fuseDebug,
    threads: opts.threads,
    maxRead: opts.maxRead,
  });
  if (policy) session.dispatcher.gate.policy = policy;
  const reloaders: Array<() => void> = [];
  if (opts.policy !== undefined) {
    const file = opts.policy;
    reloaders.push(() => {
      try {
        session.dispatcher.gate.policy = loadPolicy(file);
        say(`SIGHUP: policy ${file} reloaded (${session.dispatcher.gate.policy.rules.length} rules)`);
      } catch (e) {
        say(`SIGHUP: ${(e as Error).message}; keeping the previous policy`);
      }
    });
  }
  // --faults: SIGHUP re-reads the rules too (new opens get them).
  if (faults) reloaders.push(() => void faults.reload('SIGHUP'));
  if (opts.log !== undefined) {
    reloaders.push(() => {
      sink.reopen();
      say('SIGHUP: log reopened');
    });
  }
  try {
    session.mount();
  } catch (e) {
    throw new CliError(`cannot mount ${abs}: ${(e as Error).message}`);
  }
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    say(`${why}: unmounting ${abs} and exiting`);
    session.close();
    // `procfuse run`'s daemon (the one with a lifeline) owns its temporary
    // mountpoint: a SIGKILLed run leaves nobody else to remove it. rmdir only
    // takes an empty directory that is no mountpoint any more.
    if (opts.lifelineFd !== undefined) {
      try {
        fs.rmdirSync(abs);
      } catch {
        // still in use or already gone: run removes it when it can
      }
    }
    if (sink.failures > 0) say(`${sink.failures} log writes failed`);
    if (auditSink && auditSink.failures > 0) say(`${auditSink.failures} audit log writes failed`);
    process.exit(0);
  };
  if (auditSink) {
    const audited = auditSink;
    reloaders.push(() => {
      audited.reopen();
      say('SIGHUP: audit log reopened');
    });
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop(sig));
  process.on('SIGHUP', () => {
    if (reloaders.length === 0) return stop('SIGHUP');
    for (const reload of reloaders) reload();
  });
  if (faults) {
    faults.watch();
    serveFaultControl(abs, faults);
  }
  session.onExit = () => stop('the connection ended');
  // Every request's failure is answered by the dispatcher (EIO for a bug);
  // anything else thrown outside a request is logged, and we keep serving.
  process.on('uncaughtException', (err) => {
    say(`internal error (still serving): ${err.stack ?? err.message}`);
  });
  process.on('unhandledRejection', (err) => {
    say(`internal error (still serving): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  });
  if (opts.lifelineFd !== undefined) {
    // The parent that owns this mount (procfuse run) holds the other end; EOF
    // means it is gone. A net.Socket polls the pipe; a ReadStream would block a
    // libuv pool thread for good.
    const lifeline = new net.Socket({ fd: opts.lifelineFd, readable: true, writable: false });
    lifeline.on('data', () => {});
    lifeline.on('end', () => stop('parent exited'));
    lifeline.on('error', () => stop('parent exited'));
  }
  say(`serving ${abs} (pid ${process.pid}, FUSE connection ${session.connectionId})`);
  if (opts.readyFd !== undefined) {
    fs.writeSync(opts.readyFd, 'ready\n');
    fs.closeSync(opts.readyFd);
  }
}
