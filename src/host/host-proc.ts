/**
 * The only TypeScript that reads the host's /proc. It takes a root (normally
 * "/proc") so that tests can point it at fixtures.
 *
 * Every read may fail because the process exited: such failures surface as
 * FsError('ENOENT') for a missing pid, and callers decide whether that means
 * ENOENT (lookup) or ESRCH (a node whose process went away).
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
      if (hasCode(e, 'ENOENT', 'ESRCH')) throw new FsError('ENOENT', `${this.path(...parts)}: gone`);
      throw e;
    }
  }

  readBytes(...parts: Array<string | number>): Buffer {
    try {
      return fs.readFileSync(this.path(...parts));
    } catch (e) {
      if (hasCode(e, 'ENOENT', 'ESRCH')) throw new FsError('ENOENT', `${this.path(...parts)}: gone`);
      throw e;
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
      if (hasCode(e, 'ESRCH')) throw new FsError('ENOENT');
      throw e;
    }
  }
}
