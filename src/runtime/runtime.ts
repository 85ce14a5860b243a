/**
 * `procfuse-runtime`: an OCI runtime that is runc, except that the container's
 * /proc is a procfuse view of the container's own pid namespace.
 *
 * runc refuses a /proc that is not procfs at every step it runs inside the
 * container (mounting it, and, after `start`, listing /proc/self/fd to close
 * leaked fds). So runc does all of its work unmodified, and the view goes in
 * afterwards, at the exec stop of the container's init (native/inject.c says
 * why there): `create` runs `runc create` under the injector, starts the daemon
 * with `-o pidns=` of the container's init, hands the injector the mount, and
 * once the injector holds a clone of it (open_tree), detaches the host's copy:
 * from then on the mount exists only in the container, and the daemon exits by
 * itself when the container's mount namespace goes. `start` is runc's, then
 * waits until the view is in place; `delete` is runc's, then stops whatever of
 * ours is left. `run` is create + start + wait + delete, with the container's
 * exit status. Everything else (state, kill, ps, exec, ...) is runc's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { ServeOptions } from '../cli/args';
import { spawnDaemon } from '../cli/mount';
import { DEFAULT_MOUNT_OPTIONS } from '../cli/proc-options';
import { abortConnection, fuseConnectionAt } from '../cli/mounts';
import { bundleProc } from './bundle';
import { createOptionsOf, parseRuncArgs, type RuncArgs } from './runc-args';

const STATE_ROOT = '/run/procfuse-runtime';
/** how long `start` waits for the view to be in place */
const INJECT_TIMEOUT_MS = 20_000;
const DAEMON_STOP_MS = 3_000;

const say = (msg: string): void => {
  process.stderr.write(`procfuse-runtime: ${msg}\n`);
};

export class RuntimeError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const runc = (): string => process.env.PROCFUSE_RUNC ?? 'runc';

const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
const injectorBinary = (): string => path.join(ROOT, 'build/Release/procfuse-inject');
/** the `procfuse` command, whose `mount` serves the view */
const procfuseCli = (): string => path.join(ROOT, 'dist/mount/cli.js');

/** A process we started, named by pid and start time, so a reused pid is never signalled. */
interface ProcessId {
  pid: number;
  start: string;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime); comm (field 2) may hold spaces and parentheses
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const idOf = (pid: number): ProcessId | undefined => {
  const start = startTimeOf(pid);
  return start === undefined ? undefined : { pid, start };
};

const isRunning = (p: ProcessId): boolean => startTimeOf(p.pid) === p.start;

function signal(p: ProcessId | undefined, sig: NodeJS.Signals): void {
  if (!p || !isRunning(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // gone meanwhile
  }
}

interface State {
  containerPid: number;
  daemon?: ProcessId;
  injector?: ProcessId;
  connectionId?: number;
}

/** Our state for one container, beside runc's (keyed by runc's --root too). */
function stateDir(args: RuncArgs): string {
  if (!args.id || !/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(args.id)) throw new RuntimeError(`invalid container id '${args.id ?? ''}'`, 2);
  const root = createHash('sha256').update(path.resolve(args.root ?? '/run/runc')).digest('hex').slice(0, 8);
  return path.join(STATE_ROOT, `${root}-${args.id}`);
}

const readState = (dir: string): State | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as State;
  } catch {
    return undefined;
  }
};
const writeState = (dir: string, s: State): void => fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(s));

/** runc with our stdio; resolves with its status (128+N for signal N). */
function runcCommand(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(runc(), argv, { stdio: 'inherit' });
    p.on('error', (e) => reject(new RuntimeError(`cannot run ${runc()}: ${e.message}`)));
    p.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? os.constants.signals[sig] : 0)));
  });
}

/** The injector's status lines so far (it appends them to a file: it may outlive us). */
const statusLines = (dir: string): string[] => {
  try {
    return fs.readFileSync(path.join(dir, 'inject.status'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

async function waitForStatus(dir: string, want: RegExp, timeoutMs: number, injector?: ChildProcess): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const lines = statusLines(dir);
    const hit = lines.find((l) => want.test(l));
    if (hit) return hit;
    const failed = lines.find((l) => l.startsWith('failed'));
    if (failed) return failed;
    if (injector && (injector.exitCode !== null || injector.signalCode !== null)) return `failed ${injector.exitCode ?? 125}`;
    if (Date.now() > end) return 'failed timeout';
    await new Promise((r) => setTimeout(r, 25));
  }
}

function injectLogTail(dir: string): string {
  try {
    const t = fs.readFileSync(path.join(dir, 'inject.log'), 'utf8').trim().split('\n').slice(-3).join('\n');
    return t ? `:\n${t}` : '';
  } catch {
    return '';
  }
}

/** The daemon's options: a fixed view of the container's pid namespace (-o pidns=). */
export function containerView(containerPid: number): ServeOptions {
  return {
    debug: false,
    fuseDebug: false,
    threads: 4,
    allowOther: true,
    proc: { ...DEFAULT_MOUNT_OPTIONS, pidns: { kind: 'fixed', ns: `/proc/${containerPid}/ns/pid` } },
  };
}

interface Created {
  dir: string;
  state: State;
  injector: ChildProcess;
}

/**
 * `runc create` under the injector, the daemon, the injector armed with a clone
 * of the daemon's mount. `reap`: the injector becomes the container's parent
 * and exits with its status (for `run`).
 */
async function create(args: RuncArgs, reap: boolean): Promise<Created> {
  const dir = stateDir(args);
  fs.rmSync(dir, { recursive: true, force: true }); // left by a runtime that died
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bundle = path.resolve(args.bundle ?? '.');
  let proc;
  try {
    proc = bundleProc(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  } catch (e) {
    throw new RuntimeError(`cannot read ${bundle}/config.json: ${(e as Error).message}`);
  }
  const pidFile = args.pidFile ? path.resolve(args.pidFile) : path.join(dir, 'container.pid');
  const createArgv = [...args.globals, 'create', ...createOptionsOf(args, pidFile), ...args.positional];
  const injectArgs = ['--pid-file', pidFile, ...(reap ? ['--reap'] : [])];
  for (const p of proc.masked) injectArgs.push('--mask', p);
  for (const p of proc.readonly) injectArgs.push('--readonly', p);
  const status = fs.openSync(path.join(dir, 'inject.status'), 'a', 0o600);
  const log = fs.openSync(path.join(dir, 'inject.log'), 'a', 0o600);
  // The container's stdio is runc create's, which is ours. The injector's own
  // messages go to its log; in create mode it outlives us, in its own session.
  const injector = spawn(injectorBinary(), [...injectArgs, '--', runc(), ...createArgv], {
    stdio: ['inherit', 'inherit', reap ? 'inherit' : log, status, 'pipe'],
    detached: !reap,
  });
  fs.closeSync(status);
  fs.closeSync(log);
  const control = injector.stdio[4] as NodeJS.WritableStream & { destroy(): void };
  control.on('error', () => {});
  const fail = (msg: string, code = 1): never => {
    control.destroy();
    throw new RuntimeError(msg, code);
  };
  const created = await waitForStatus(dir, /^created \d+$/, 120_000, injector);
  if (!created.startsWith('created')) {
    // runc create failed and said why; its status is ours
    fail(`runc create failed`, Number(created.split(' ')[1]) || 1);
  }
  const state: State = { containerPid: Number(created.split(' ')[1]), injector: idOf(injector.pid!) };
  writeState(dir, state);

  const mnt = path.join(dir, 'proc');
  fs.mkdirSync(mnt);
  const daemonLog = fs.openSync(path.join(dir, 'daemon.log'), 'a', 0o600);
  const daemon = spawnDaemon(mnt, containerView(state.containerPid), daemonLog, false, procfuseCli());
  fs.closeSync(daemonLog);
  const ready = await daemon.ready;
  daemon.child.unref();
  if (!ready) fail(`the daemon could not mount ${mnt} (see ${dir}/daemon.log)`);
  state.daemon = idOf(daemon.child.pid!);
  state.connectionId = fuseConnectionAt(mnt);
  writeState(dir, state);

  control.end(`source ${mnt}\n`);
  const armed = await waitForStatus(dir, /^armed$/, 30_000, injector);
  if (armed !== 'armed') fail(`the injector failed${injectLogTail(dir)}`);
  // The injector's clone keeps the superblock: the host's copy can go now.
  spawnSync('umount', ['-l', mnt]);
  fs.rmdirSync(mnt);
  control.destroy();
  // In create mode the injector outlives us (until the container's exec).
  if (!reap) injector.unref();
  return { dir, state, injector };
}

/** Stops what is left of ours for the container (after runc delete) and removes our state. */
async function cleanUp(dir: string): Promise<void> {
  const state = readState(dir);
  if (state) {
    signal(state.injector, 'SIGKILL');
    const d = state.daemon;
    if (d && isRunning(d)) {
      signal(d, 'SIGTERM');
      const end = Date.now() + DAEMON_STOP_MS;
      while (isRunning(d) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
      if (isRunning(d)) {
        if (state.connectionId !== undefined) abortConnection(state.connectionId);
        signal(d, 'SIGKILL');
      }
    }
  }
  const mnt = path.join(dir, 'proc');
  if (fs.existsSync(mnt)) spawnSync('umount', ['-l', mnt]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Never touch another container's state or container: runc create would refuse
 * the id anyway, and our undo would delete what is not ours. Called before any
 * of our state is made.
 */
function refuseExisting(args: RuncArgs): void {
  if (spawnSync(runc(), [...args.globals, 'state', args.id!], { stdio: 'ignore' }).status === 0) {
    throw new RuntimeError(`container with id ${args.id} exists`, 1);
  }
}

/** After a failed create or a run: the container (if runc created it for us) and our state go. */
async function undoCreate(args: RuncArgs): Promise<void> {
  const dir = stateDir(args);
  if (!fs.existsSync(dir)) return; // failed before it was ours (e.g. the id exists)
  if (statusLines(dir).some((l) => l.startsWith('created'))) {
    spawnSync(runc(), [...args.globals, 'delete', '--force', args.id!], { stdio: 'ignore' });
  }
  await cleanUp(dir);
}

async function createCommand(args: RuncArgs): Promise<number> {
  stateDir(args); // validates the id
  refuseExisting(args);
  try {
    await create(args, false);
  } catch (e) {
    await undoCreate(args);
    throw e;
  }
  return 0;
}

async function startCommand(args: RuncArgs, argv: string[]): Promise<number> {
  const code = await runcCommand(argv);
  if (code !== 0) return code;
  const dir = stateDir(args);
  if (!readState(dir)) return 0; // not created by us: runc's container as it is
  const r = await waitForStatus(dir, /^injected$/, INJECT_TIMEOUT_MS);
  if (r !== 'injected') throw new RuntimeError(`the container's /proc could not be replaced, it was killed${injectLogTail(dir)}`);
  return 0;
}

async function deleteCommand(args: RuncArgs, argv: string[]): Promise<number> {
  const code = await runcCommand(argv);
  // Also when runc no longer knows the container (its state is gone): ours goes too.
  const gone = code !== 0 && spawnSync(runc(), [...args.globals, 'state', args.id ?? ''], { stdio: 'ignore' }).status !== 0;
  if (code === 0 || gone) await cleanUp(stateDir(args));
  return code;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

async function runCommand(args: RuncArgs): Promise<number> {
  if (!args.id) throw new RuntimeError('run: missing container id', 2);
  if (args.detach) {
    await createCommand(args);
    return startCommand(args, [...args.globals, 'start', args.id]);
  }
  let terminal = false;
  try {
    terminal = bundleProc(fs.readFileSync(path.join(path.resolve(args.bundle ?? '.'), 'config.json'), 'utf8')).terminal;
  } catch {
    // create says what is wrong with the bundle
  }
  if (terminal) {
    throw new RuntimeError('run: a terminal (process.terminal) needs create --console-socket and start; set "terminal": false to use run', 2);
  }
  const dir = stateDir(args);
  refuseExisting(args);
  let containerPid: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (containerPid !== undefined) {
      try {
        process.kill(containerPid, sig);
      } catch {
        // gone
      }
    }
  };
  for (const s of FORWARDED) process.on(s, onSignal);
  try {
    const { state, injector } = await create(args, true);
    containerPid = state.containerPid;
    const exited = new Promise<number>((resolve) => injector.on('exit', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 125))));
    const started = await runcCommand([...args.globals, 'start', args.id]);
    if (started !== 0) {
      signal(idOf(containerPid), 'SIGKILL');
      await exited;
      return started;
    }
    const code = await exited;
    const last = statusLines(dir).at(-1) ?? '';
    if (!last.startsWith('exit ')) say(`the container's /proc could not be replaced, it was killed`);
    return code;
  } finally {
    for (const s of FORWARDED) process.off(s, onSignal);
    await undoCreate(args);
  }
}

/** The whole runtime: argv as runc would get it. */
export async function runtimeMain(argv: string[]): Promise<number> {
  const args = parseRuncArgs(argv);
  switch (args.command) {
    case 'create':
      return createCommand(args);
    case 'start':
      return startCommand(args, argv);
    case 'run':
      return runCommand(args);
    case 'delete':
      return deleteCommand(args, argv);
    default:
      // state, kill, list, ps, exec, events, pause, resume, update, features, spec, --version, ...
      return runcCommand(argv);
  }
}
