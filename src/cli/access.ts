/**
 * `procfuse access <caller-pid> <target-pid> [--mode M] [--yama-scope 0-3|none]`:
 * the decision procfuse would make for that pair, from the host's /proc.
 * Exit status: 0 allow, 1 deny, 2 usage error, 3 a process that cannot be read.
 */
import { FsError } from '../fuse/errno';
import { EXIT_UNREADABLE, EXIT_USAGE } from './args';
import { readAccessEnv } from '../host/access-env';
import { readCredentials } from '../host/credentials';
import { HostProc } from '../host/host-proc';
import { mayAccess, type YamaScope } from '../policy/access';
import { formatPtraceMode, parsePtraceMode, PTRACE_MODE_ATTACH_FSCREDS, PTRACE_MODE_NAMES } from '../policy/ptrace-mode';

export const ACCESS_USAGE =
  `usage: procfuse access <caller-pid> <target-pid> [--mode ${Object.keys(PTRACE_MODE_NAMES).join('|')}] ` +
  '[--yama-scope 0|1|2|3|none]';

interface AccessArgs {
  caller: number;
  target: number;
  mode: number;
  yamaScope?: YamaScope | null;
}

class UsageError extends Error {}

export function accessCommand(args: string[], host: HostProc = new HostProc()): number {
  let parsed: AccessArgs;
  try {
    parsed = parseAccessArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`procfuse: ${e.message}\n${ACCESS_USAGE}\n`);
    return EXIT_USAGE;
  }
  const read = (role: 'caller' | 'target', pid: number) => {
    try {
      return readCredentials(host, pid);
    } catch (e) {
      throw new UnreadableError(`cannot read the credentials of ${role} ${pid}: ${describeFailure(e, pid)}`);
    }
  };
  try {
    const caller = read('caller', parsed.caller);
    const target = read('target', parsed.target);
    const env = readAccessEnv(host, caller, target, parsed.yamaScope === undefined ? {} : { yamaScope: parsed.yamaScope });
    const d = mayAccess(caller, target, parsed.mode, env);
    const who =
      `caller ${parsed.caller} (uid ${caller.uid.fs}) -> target ${parsed.target} (uid ${target.uid.effective}), ` +
      `mode ${formatPtraceMode(parsed.mode)}, rule ${d.rule}`;
    process.stdout.write(d.allow ? `allow: ${who}\n` : `deny: ${who} (${d.reason})\n`);
    return d.allow ? 0 : 1;
  } catch (e) {
    if (!(e instanceof UnreadableError)) throw e;
    process.stderr.write(`procfuse: ${e.message}\n`);
    return EXIT_UNREADABLE;
  }
}

class UnreadableError extends Error {}

/** Why a process's credentials could not be read, in words. */
function describeFailure(e: unknown, pid: number): string {
  if (e instanceof FsError) return e.code === 'ESRCH' ? 'no such process (it exited, or never existed)' : e.message;
  const err = e as { code?: string; syscall?: string; message?: string };
  if (err.syscall === 'userNsChain') {
    // open(/proc/<pid>/ns/user) needs PTRACE_MODE_READ on the task (proc_ns_get_link);
    // ioctl(NS_GET_PARENT) refuses a namespace outside ours (EPERM).
    return (
      `opening /proc/${pid}/ns/user or walking its parents (ioctl NS_GET_PARENT) gives ${err.code ?? 'an error'}: ` +
      'this process may not inspect it (it holds capabilities we lack, or its user namespace is not ours or below it)'
    );
  }
  return err.message ?? String(e);
}

function parseAccessArgs(args: string[]): AccessArgs {
  const positional: string[] = [];
  let mode = PTRACE_MODE_ATTACH_FSCREDS;
  let yamaScope: YamaScope | null | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--mode') {
      const v = value();
      const m = parsePtraceMode(v);
      if (m === undefined) throw new UsageError(`unknown mode '${v}'`);
      mode = m;
    } else if (flag === '--yama-scope') {
      const v = value();
      if (v === 'none') yamaScope = null;
      else if (/^[0-3]$/.test(v)) yamaScope = Number(v) as YamaScope;
      else throw new UsageError(`bad --yama-scope '${v}'`);
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option '${a}'`);
    } else {
      positional.push(a);
    }
  }
  if (positional.length !== 2) throw new UsageError('expected <caller-pid> <target-pid>');
  const [caller, target] = positional.map((p) => {
    if (!/^[1-9][0-9]*$/.test(p)) throw new UsageError(`not a pid: '${p}'`);
    return Number(p);
  }) as [number, number];
  return { caller, target, mode, yamaScope };
}
