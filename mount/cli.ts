#!/usr/bin/env node
/**
 * The `procfuse` command: mount, run, unmount, access. See `procfuse --help`.
 */
import path from 'node:path';

import createDebug from 'debug';

import { accessCommand } from '../src/cli/access';
import { argsBeforeDoubleDash, CliError, EXIT_USAGE, HELP, parseMountArgs, parseRunArgs, parseSnapshotArgs } from '../src/cli/args';
import { mountCommand } from '../src/cli/mount';
import { runCommand } from '../src/cli/run';
import { unmountCommand } from '../src/cli/unmount';
import { queryFaultControl } from '../src/faults/control';
import { takeSnapshot } from '../src/snapshot/take';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined ? EXIT_USAGE : 0;
  }
  // `run -- grep --help` is grep's help, not ours.
  const ours = cmd === 'run' ? argsBeforeDoubleDash(rest) : rest;
  if (ours.includes('--help') || ours.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  switch (cmd) {
    case 'mount': {
      const opts = parseMountArgs(rest);
      if (opts.debug) createDebug.enable('procfuse:*');
      return mountCommand(opts);
    }
    case 'run': {
      const opts = parseRunArgs(rest);
      if (opts.debug) createDebug.enable('procfuse:*');
      return runCommand(opts);
    }
    case 'unmount':
    case 'umount':
      if (rest.length !== 1) throw new CliError('usage: procfuse unmount <mountpoint>', EXIT_USAGE);
      return unmountCommand(rest[0]!);
    case 'access':
      return accessCommand(rest);
    case 'snapshot': {
      const a = parseSnapshotArgs(rest);
      let m;
      try {
        m = takeSnapshot(a);
      } catch (e) {
        throw new CliError(`snapshot ${a.pid}: ${(e as Error).message}`);
      }
      const bytes = m.regions.reduce((n, r) => n + Number(BigInt(r.end) - BigInt(r.start)), 0);
      process.stderr.write(`procfuse: recorded process ${m.pid} (${m.threads.length} threads, ${m.regions.length} memory runs, ${bytes} bytes) in ${a.out}\n`);
      return 0;
    }
    case 'faults': {
      const [sub, mnt, ...extra] = rest;
      if ((sub !== 'status' && sub !== 'reload') || mnt === undefined || extra.length > 0) {
        throw new CliError('usage: procfuse faults status|reload <mountpoint>', EXIT_USAGE);
      }
      let answer: unknown;
      try {
        answer = await queryFaultControl(path.resolve(mnt), sub);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      // status reports a rejected reload in its error field; reload fails on it.
      return sub === 'reload' && (answer as { error?: string }).error ? 1 : 0;
    }
    default:
      throw new CliError(`unknown command '${cmd}' (try procfuse --help)`, EXIT_USAGE);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // A foreground daemon keeps running; everything else exits with its code.
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`procfuse: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`procfuse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
