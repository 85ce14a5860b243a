/** Command-line parsing and help text for `procfuse` (pure). */
import path from 'node:path';
import { parseCgroupLimits, type CgroupLimits } from '../resources/cgroup-limits';
import type { SnapshotOptions } from '../snapshot/take';
import { DEFAULT_MOUNT_OPTIONS, parseProcOptions, type ProcMountOptions } from './proc-options';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** `access`: a process's credentials cannot be read (gone, or not visible from here) */
export const EXIT_UNREADABLE = 3;
/** `run`: procfuse itself failed (mount, bind over /proc), as env(1) and timeout(1) use 125 */
export const EXIT_RUN_FAILED = 125;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_FAILURE,
  ) {
    super(message);
  }
}

export const HELP = `usage: procfuse <command> [options]

Emulates /proc (the kernel's semantics and access rules for /proc/<pid>/mem,
maps, self and thread-self) as a FUSE filesystem.

commands:
  mount <mountpoint> [options]   mount and serve until SIGINT/SIGTERM (or unmount)
      --foreground, -f           stay in the foreground (default: run as a daemon
                                 once the mount is ready)
      --debug, -d                log every request and access decision
                                 (DEBUG=procfuse:* does the same; run without
                                 --log writes it to stderr)
      --fuse-debug               libfuse's own trace of every request
      --threads N                FUSE worker threads (default 4)
      --no-allow-other           only the mounting user may use the mount
      --max-read BYTES           cap one FUSE read request (4096-1048576; default
                                 1 MiB, which is also the fastest)
      --log FILE                 where a daemon writes its log
                                 (default /run/procfuse/<mountpoint>.log); a log
                                 that cannot be opened fails mount; SIGHUP
                                 reopens it (logrotate)
      --audit FILE               one JSON line per open of a protected file (mem,
                                 environ, auxv, maps, fd links, kallsyms, keys...):
                                 who, whose, which file, decision and rule;
                                 SIGHUP reopens it
      --yama-scope N             Yama ptrace_scope to apply (0-3; default: the
                                 host's /proc/sys/kernel/yama/ptrace_scope, or
                                 none when Yama is not enabled)
      --policy FILE              hide or deny chosen entries, per uid or pid
                                 namespace (JSON; see README); SIGHUP reloads it
      -o OPT[,OPT...]            procfs mount options, as the kernel names them:
         pidns=PID|PATH            show that pid namespace (/proc/PID/ns/pid or a
                                   namespace file) to every caller
         pidns=caller              show each caller its own pid namespace
                                   (default: the namespace of the mounter)
         hidepid=off|noaccess|invisible|ptraceable (or 0|1|2|4)
                                   hide other users' processes, as procfs does
         gid=GID                   members of GID are exempt from hidepid
         subset=pid                only process directories, self, thread-self
                                 mount(8)/fstab options such as rw, nosuid,
                                 nodev, noexec, defaults, nofail are accepted
      --faults FILE              make chosen mem and maps reads misbehave as the
                                 kernel can (EIO, short reads, zeros, EOF, delay;
                                 hidden, truncated or torn maps): JSON rules, see
                                 docs/faults.md. Reloaded when FILE changes and on
                                 SIGHUP (which then does not unmount)
      --replay DIR               serve the process recorded by procfuse snapshot
                                 in DIR (mem: recorded bytes, EIO elsewhere)
  run [run options] [mount options] -- <command> [args...]
                                 run a command in a sandbox whose /proc is
                                 procfuse: a new pid namespace (the command is
                                 pid 2 under a tiny init, pid 1, that reaps
                                 orphans and passes signals on), a private mount
                                 namespace with procfuse over /proc showing that
                                 namespace only, locked (umount /proc fails: the
                                 mount namespace is owned by a user namespace
                                 below ours), root without CAP_SYS_ADMIN; the
                                 daemon stays outside, invisible; stdin/stdout/
                                 stderr are the command's, SIGINT/SIGTERM/SIGHUP
                                 are passed to it; then unmount; mount options
                                 as for mount, except --foreground
      --no-new-pidns             stay in the host's pid namespace (and view)
      --userns                   run in a new user namespace that maps only the
                                 caller to root (as unshare -r); other ids are
                                 unmapped (nobody)
      --user UID[:GID]           run the command with these ids
      --cgroup memory=SIZE,cpus=LIST,cpu=N
                                 run the sandbox in a new cgroup with these
                                 limits (cpus: 0-1 or 0:2), shown as its
                                 meminfo, cpuinfo, stat, uptime, loadavg
      --keep-mount               leave that mount and its daemon running after
                                 the command exits (prints where; stop it with
                                 procfuse unmount)
  unmount <mountpoint>           unmount (the daemon then exits)
  snapshot <pid> -o <dir> [--environ] [--all-memory] [--max-bytes N]
         [--header-bytes N]      record what an unwinder needs of a process
                                 (maps, status, stat, auxv, cmdline, exe/cwd,
                                 thread stacks, ELF headers, vDSO; --environ and
                                 --all-memory up to --max-bytes, default 256 MiB)
                                 while it is stopped (SIGSTOP, then SIGCONT);
                                 format: docs/snapshots.md
  faults status <mountpoint>     the fault rules in force and their hit counts
                                 (JSON)
  faults reload <mountpoint>     re-read the mount's --faults file now
  access <caller-pid> <target-pid> [--mode attach-fscreds|read-fscreds|
         attach-realcreds|read-realcreds]
                                 print the ptrace access decision and its rule

A stale mount left by a killed daemon ("Transport endpoint is not connected")
is detected and cleared by the next mount on the same directory.

exit status:
  0  success (access: allowed)
  1  failure (access: denied)
  2  usage error
  3  access: a process is gone or its credentials cannot be read
  run exits with the command's status, or 128+N if the command was killed by
  signal N; 125 if procfuse could not mount or bind /proc; 126/127 if the
  command could not be executed or was not found (as sh reports it)
`;

export interface MountOptions {
  mountpoint: string;
  foreground: boolean;
  debug: boolean;
  fuseDebug: boolean;
  threads: number;
  allowOther: boolean;
  log?: string;
  audit?: string;
  yamaScope?: number;
  maxRead?: number;
  /** --policy: the operator's hide/deny rules (src/policy/policy-file.ts) */
  policy?: string;
  /** -o: the view (pidns=) and procfs options (hidepid=, gid=, subset=) */
  proc: ProcMountOptions;
  /** --faults: the rules file (absolute path) */
  faults?: string;
  /** --replay: serve the process recorded in this snapshot directory (absolute) */
  replay?: string;
  /** internal: the fd a daemon child reports readiness on */
  readyFd?: number;
  /** internal: a pipe whose end (the parent died or closed it) stops the daemon */
  lifelineFd?: number;
}

/** Options that `mount` and `run` share. */
export type ServeOptions = Omit<MountOptions, 'mountpoint' | 'foreground' | 'readyFd' | 'lifelineFd'>;

export interface RunOptions extends ServeOptions {
  /** leave the mount and its daemon running after the command exits */
  keepMount: boolean;
  /** a new pid namespace whose init is ours and whose view the mount shows (default) */
  newPidns: boolean;
  /** run in a new user namespace that maps only the caller to root (else: host root without CAP_SYS_ADMIN) */
  userns: boolean;
  /** --user UID[:GID]: the command's ids */
  user?: { uid: number; gid: number };
  /** --cgroup: run the sandbox in a new cgroup with these limits, shown as its resources */
  cgroup?: CgroupLimits;
  command: string[];
}

/**
 * Parses the options of `mount` (and of `run`, which passes `forRun`); returns
 * them with the positional arguments.
 */
type RunOnly = Pick<RunOptions, 'keepMount'> & Partial<Pick<RunOptions, 'newPidns' | 'userns' | 'user' | 'cgroup'>>;

/** `--user UID[:GID]` (numeric ids: names mean nothing inside the sandbox's namespaces) */
function parseUser(v: string): { uid: number; gid: number } {
  const m = /^([0-9]+)(?::([0-9]+))?$/.exec(v);
  const uid = Number(m?.[1]);
  const gid = m?.[2] === undefined ? uid : Number(m[2]);
  if (!m || uid > 0xfffffffe || gid > 0xfffffffe) {
    throw new CliError(`run: --user takes UID[:GID] as numbers, not '${v}'`, EXIT_USAGE);
  }
  return { uid, gid };
}

function parseServeArgs(args: string[], forRun: boolean): { opts: MountOptions & RunOnly; positional: string[] } {
  const opts = {
    foreground: false,
    debug: false,
    fuseDebug: false,
    threads: 4,
    allowOther: true,
    keepMount: false,
    proc: { ...DEFAULT_MOUNT_OPTIONS },
  } as MountOptions & RunOnly;
  const positional: string[] = [];
  const prefix = forRun ? 'run: ' : '';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new CliError(`${prefix}${a} needs a value`, EXIT_USAGE);
      return v;
    };
    const int = (lo: number, hi: number): number => {
      const v = value();
      const n = Number(v);
      if (!/^[0-9]+$/.test(v) || n < lo || n > hi) {
        throw new CliError(`${prefix}${a} takes a whole number from ${lo} to ${hi}, not '${v}'`, EXIT_USAGE);
      }
      return n;
    };
    // -oVALUE, as mount(8) helpers also get it.
    const procOptions = (v: string): ProcMountOptions => {
      try {
        return parseProcOptions([v], opts.proc);
      } catch (e) {
        throw new CliError(`${prefix}${(e as Error).message}`, EXIT_USAGE);
      }
    };
    if (/^-o./.test(a)) {
      opts.proc = procOptions(a.slice(2));
      continue;
    }
    if (forRun && ['--foreground', '-f', '--ready-fd', '--lifeline-fd'].includes(a)) {
      throw new CliError(`run: ${a} is a mount option only (try procfuse --help)`, EXIT_USAGE);
    }
    switch (a) {
      case '--foreground':
      case '-f':
        opts.foreground = true;
        break;
      case '--debug':
      case '-d':
        opts.debug = true;
        break;
      case '--fuse-debug':
        opts.fuseDebug = true;
        break;
      case '--threads':
        opts.threads = int(1, 64);
        break;
      case '--no-allow-other':
        opts.allowOther = false;
        break;
      case '--max-read':
        opts.maxRead = int(4096, 1 << 20);
        break;
      case '--log':
        opts.log = value();
        break;
      case '--policy':
        opts.policy = value();
        break;
      case '--audit':
        opts.audit = value();
        break;
      case '--yama-scope':
        opts.yamaScope = int(0, 3);
        break;
      case '-o':
      case '--options':
        opts.proc = procOptions(value());
        break;
      case '--faults':
        opts.faults = path.resolve(value());
        break;
      case '--replay':
        opts.replay = path.resolve(value());
        break;
      case '--ready-fd':
        opts.readyFd = int(3, 1000);
        break;
      case '--lifeline-fd':
        opts.lifelineFd = int(3, 1000);
        break;
      case '--cgroup':
        if (!forRun) throw new CliError(`unknown option '${a}' (try procfuse --help)`, EXIT_USAGE);
        try {
          opts.cgroup = parseCgroupLimits(value());
        } catch (e) {
          throw new CliError(`run: ${(e as Error).message}`, EXIT_USAGE);
        }
        break;
      case '--keep-mount':
      case '--no-new-pidns':
      case '--userns':
      case '--user':
        if (!forRun) throw new CliError(`unknown option '${a}' (try procfuse --help)`, EXIT_USAGE);
        if (a === '--keep-mount') opts.keepMount = true;
        else if (a === '--no-new-pidns') opts.newPidns = false;
        else if (a === '--userns') opts.userns = true;
        else opts.user = parseUser(value());
        break;
      default:
        if (a.startsWith('-')) throw new CliError(`${prefix}unknown option '${a}' (try procfuse --help)`, EXIT_USAGE);
        positional.push(a);
    }
  }
  return { opts, positional };
}

export function parseMountArgs(args: string[]): MountOptions {
  const { opts, positional } = parseServeArgs(args, false);
  if (positional.length !== 1) throw new CliError('usage: procfuse mount <mountpoint> [options]', EXIT_USAGE);
  const { keepMount: _k, newPidns: _n, userns: _u, user: _user, cgroup: _cg, ...mount } = opts;
  return { ...mount, mountpoint: positional[0]! };
}

export const RUN_USAGE =
  'usage: procfuse run [--keep-mount] [--no-new-pidns] [--userns] [--user UID[:GID]] [--cgroup LIMITS] [mount options] -- <command> [args...]';

/** `run [options] -- <command> [args...]`: everything after the first `--` is the command. */
export function parseRunArgs(args: string[]): RunOptions {
  const dash = args.indexOf('--');
  const { opts, positional } = parseServeArgs(dash < 0 ? args : args.slice(0, dash), true);
  if (positional.length > 0) {
    throw new CliError(`run: unexpected '${positional[0]}' before -- (the command goes after --)\n${RUN_USAGE}`, EXIT_USAGE);
  }
  const command = dash < 0 ? [] : args.slice(dash + 1);
  if (command.length === 0) throw new CliError(`run: missing command after --\n${RUN_USAGE}`, EXIT_USAGE);
  const { foreground: _f, readyFd: _r, lifelineFd: _l, newPidns, userns, ...rest } = opts;
  return { ...rest, newPidns: newPidns ?? true, userns: userns ?? false, command };
}

/** The arguments `run` needs before `--` in its own help detection (so `run -- grep --help` runs grep). */
export function argsBeforeDoubleDash(args: string[]): string[] {
  const dash = args.indexOf('--');
  return dash < 0 ? args : args.slice(0, dash);
}

/** What `procfuse snapshot` takes from its command line: the snapshot's options, its /proc aside. */
export type SnapshotArgs = Omit<SnapshotOptions, 'proc'>;

export const SNAPSHOT_USAGE =
  'usage: procfuse snapshot <pid> -o <dir> [--environ] [--all-memory] [--max-bytes N] [--header-bytes N]';

export function parseSnapshotArgs(args: string[]): SnapshotArgs {
  const out: Partial<SnapshotArgs> = { environ: false, allMemory: false, maxBytes: 256 << 20, headerBytes: 65536 };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new CliError(`snapshot: ${a} needs a value`, EXIT_USAGE);
      return v;
    };
    const int = (lo: number, hi: number): number => {
      const v = value();
      if (!/^[0-9]+$/.test(v) || Number(v) < lo || Number(v) > hi) {
        throw new CliError(`snapshot: ${a} takes a whole number from ${lo} to ${hi}, not '${v}'`, EXIT_USAGE);
      }
      return Number(v);
    };
    if (a === '-o' || a === '--output') out.out = path.resolve(value());
    else if (a === '--environ') out.environ = true;
    else if (a === '--all-memory') out.allMemory = true;
    else if (a === '--max-bytes') out.maxBytes = int(4096, Number.MAX_SAFE_INTEGER);
    else if (a === '--header-bytes') out.headerBytes = int(64, 1 << 24);
    else if (a.startsWith('-')) throw new CliError(`snapshot: unknown option '${a}'\n${SNAPSHOT_USAGE}`, EXIT_USAGE);
    else positional.push(a);
  }
  if (positional.length !== 1 || !/^[1-9][0-9]*$/.test(positional[0]!) || out.out === undefined) {
    throw new CliError(SNAPSHOT_USAGE, EXIT_USAGE);
  }
  return { ...(out as SnapshotArgs), pid: Number(positional[0]) };
}
