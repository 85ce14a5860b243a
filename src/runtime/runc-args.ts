/**
 * runc's command line as an OCI runtime caller (containerd, Docker, a person)
 * writes it, parsed just enough to find what procfuse-runtime needs (pure):
 * runc [global options] <command> [command options] <container-id>.
 * urfave/cli takes `-flag`, `--flag`, `--flag=value` and `--flag value` alike.
 */

/** runc's global options that take a value (runc main.go app.Flags) */
const GLOBAL_WITH_VALUE = new Set(['log', 'log-format', 'root', 'criu', 'rootless']);
/** options of create/run/start/delete/kill/state that take a value */
const COMMAND_WITH_VALUE = new Set(['bundle', 'b', 'console-socket', 'pid-file', 'preserve-fds']);
/** `run`'s own options, which `create` does not know */
const RUN_ONLY = new Set(['detach', 'd', 'keep', 'no-subreaper']);

export interface RuncArgs {
  globals: string[];
  command?: string;
  /** the command's options, as given */
  options: string[];
  /** positional arguments after the options: the container id first */
  positional: string[];
  id?: string;
  bundle?: string;
  pidFile?: string;
  /** --root: runc's state directory */
  root?: string;
  detach: boolean;
}

const nameOf = (a: string): string => a.replace(/^--?/, '').split('=')[0]!;

export function parseRuncArgs(argv: string[]): RuncArgs {
  const out: RuncArgs = { globals: [], options: [], positional: [], detach: false };
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const a = argv[i]!;
    out.globals.push(a);
    if (GLOBAL_WITH_VALUE.has(nameOf(a)) && !a.includes('=') && i + 1 < argv.length) out.globals.push(argv[++i]!);
  }
  for (let j = 0; j < out.globals.length; j++) {
    const g = out.globals[j]!;
    if (nameOf(g) === 'root') out.root = g.includes('=') ? g.slice(g.indexOf('=') + 1) : out.globals[j + 1];
  }
  out.command = argv[i++];
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      out.positional.push(a);
      continue;
    }
    const name = nameOf(a);
    let value: string | undefined;
    if (a.includes('=')) value = a.slice(a.indexOf('=') + 1);
    else if (COMMAND_WITH_VALUE.has(name) && i + 1 < argv.length) value = argv[++i];
    out.options.push(a, ...(value !== undefined && !a.includes('=') ? [value] : []));
    if (name === 'bundle' || name === 'b') out.bundle = value;
    if (name === 'pid-file') out.pidFile = value;
    if (name === 'detach' || name === 'd') out.detach = true;
  }
  out.id = out.positional[0];
  return out;
}

/**
 * The `create` options for a `run`: run's own options dropped, and our pid
 * file (the injector needs one) in place of the caller's.
 */
export function createOptionsOf(args: RuncArgs, pidFile: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.options.length; i++) {
    const a = args.options[i]!;
    const name = nameOf(a);
    const takesNext = COMMAND_WITH_VALUE.has(name) && !a.includes('=');
    if (RUN_ONLY.has(name) || name === 'pid-file') {
      if (takesNext) i++;
      continue;
    }
    out.push(a);
    if (takesNext) out.push(args.options[++i]!);
  }
  return [...out, '--pid-file', pidFile];
}
