/**
 * The only TypeScript that reads the host's /proc. It takes a root (normally
 * "/proc") so that tests can point it at fixtures.
 *
 * Every read may fail because the process exited: a missing pid surfaces as
 * FsError('ENOENT'); a task that exists but has no mm (zombie, kernel thread)
 * where the file needs one as FsError('ESRCH'), as the host kernel answers.
 */
import fs from 'node:fs';
import path from 'node:path';

import { FsError, hasCode } from '../fuse/errno';
import { parseStat, type ProcStat } from './parse-stat';
import { parseStatus } from './parse-status';

export class HostProc {
  constructor(readonly root = '/proc') {}

  path(...parts: Array<string | number>): string {
    return path.join(this.root, ...parts.map(String));
  }

  /** Reads a whole file; ENOENT/ESRCH become FsError('ENOENT'). */
  readText(...parts: Array<string | number>): string {
    try {
      return fs.readFileSync(this.path(...parts), 'latin1');
    } catch (e) {
      throw hostError(e, this.path(...parts));
    }
  }

  readBytes(...parts: Array<string | number>): Buffer {
    try {
      return fs.readFileSync(this.path(...parts));
    } catch (e) {
      throw hostError(e, this.path(...parts));
    }
  }

  stat(pid: number, tid?: number): ProcStat {
    return parseStat(tid === undefined ? this.readText(pid, 'stat') : this.readText(pid, 'task', tid, 'stat'));
  }

  status(pid: number): Map<string, string> {
    return parseStatus(this.readText(pid, 'status'));
  }

  /** Thread group id of any task id (the FUSE caller pid is a tid). */
  tgidOf(tid: number): number {
    const tgid = Number(this.status(tid).get('Tgid'));
    if (!Number.isInteger(tgid) || tgid <= 0) throw new FsError('ENOENT');
    return tgid;
  }

  /** Thread-group leaders visible in the host's /proc, ascending. */
  listPids(): number[] {
    return fs
      .readdirSync(this.root)
      .filter((n) => /^[1-9][0-9]*$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Thread ids of a thread group, ascending; FsError('ENOENT') if gone. */
  listTids(pid: number): number[] {
    try {
      return fs
        .readdirSync(this.path(pid, 'task'))
        .filter((n) => /^[1-9][0-9]*$/.test(n))
        .map(Number)
        .sort((a, b) => a - b);
    } catch (e) {
      if (hasCode(e, 'ENOENT', 'ESRCH')) throw new FsError('ENOENT');
      throw e;
    }
  }

  /** Names in a host procfs directory, in the kernel's order. */
  readdir(...parts: Array<string | number>): string[] {
    try {
      return fs.readdirSync(this.path(...parts));
    } catch (e) {
      throw hostError(e, this.path(...parts));
    }
  }

  /** lstat of a host procfs path; owners there follow task_dump_owner(). */
  lstat(...parts: Array<string | number>): fs.Stats {
    try {
      return fs.lstatSync(this.path(...parts));
    } catch (e) {
      if (hasCode(e, 'ENOENT', 'ESRCH')) throw new FsError('ENOENT');
      throw e;
    }
  }

  readlink(...parts: Array<string | number>): Buffer {
    try {
      return fs.readlinkSync(this.path(...parts), { encoding: 'buffer' });
    } catch (e) {
      throw hostError(e, this.path(...parts));
    }
  }
}

/** ENOENT and ESRCH from the host become FsErrors; anything else stays as it is. */
function hostError(e: unknown, where: string): unknown {
  if (hasCode(e, 'ENOENT')) return new FsError('ENOENT', `${where}: gone`);
  if (hasCode(e, 'ESRCH')) return new FsError('ESRCH', `${where}: no such process`);
  return e;
}
