/** Command-line parsing and help text for `procfuse` (pure). */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

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
                                 (DEBUG=procfuse:* does the same)
      --fuse-debug               libfuse's own trace of every request
      --threads N                FUSE worker threads (default 4)
      --no-allow-other           only the mounting user may use the mount
      --max-read BYTES           cap one FUSE read request (4096-1048576; default
                                 1 MiB, which is also the fastest)
      --log FILE                 where a daemon writes its log
                                 (default /run/procfuse/<mountpoint>.log)
      --yama-scope N             Yama ptrace_scope to apply (0-3; default: the
                                 host's /proc/sys/kernel/yama/ptrace_scope, or
                                 none when Yama is not enabled)
  unmount <mountpoint>           unmount (the daemon then exits)
  access <caller-pid> <target-pid> [--mode attach-fscreds|read-fscreds|
         attach-realcreds|read-realcreds]
                                 print the ptrace access decision and its rule

A stale mount left by a killed daemon ("Transport endpoint is not connected")
is detected and cleared by the next mount on the same directory.

exit status:
  0  success (access: allowed)
  1  failure (access: denied)
  2  usage error
`;

export interface MountOptions {
  mountpoint: string;
  foreground: boolean;
  debug: boolean;
  fuseDebug: boolean;
  threads: number;
  allowOther: boolean;
  log?: string;
  yamaScope?: number;
  maxRead?: number;
  /** internal: the fd a daemon child reports readiness on */
  readyFd?: number;
}

export function parseMountArgs(args: string[]): MountOptions {
  const opts: Partial<MountOptions> & { foreground: boolean } = {
    foreground: false,
    debug: false,
    fuseDebug: false,
    threads: 4,
    allowOther: true,
  };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new CliError(`${a} needs a value`, EXIT_USAGE);
      return v;
    };
    const int = (lo: number, hi: number): number => {
      const v = value();
      const n = Number(v);
      if (!/^[0-9]+$/.test(v) || n < lo || n > hi) {
        throw new CliError(`${a} takes a whole number from ${lo} to ${hi}, not '${v}'`, EXIT_USAGE);
      }
      return n;
    };
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
      case '--yama-scope':
        opts.yamaScope = int(0, 3);
        break;
      case '--ready-fd':
        opts.readyFd = int(3, 1000);
        break;
      default:
        if (a.startsWith('-')) throw new CliError(`unknown option '${a}' (try procfuse --help)`, EXIT_USAGE);
        positional.push(a);
    }
  }
  if (positional.length !== 1) throw new CliError('usage: procfuse mount <mountpoint> [options]', EXIT_USAGE);
  return { ...opts, mountpoint: positional[0]! } as MountOptions;
}
