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
import { native, OpenAsReaderKind, type NativeCaller } from '../native';
import { FdCache } from './fd-cache';
import { parseStat, type ProcStat } from './parse-stat';
import { parseStatus } from './parse-status';

/**
 * How many per-task fds each cache keeps open (least recently used closed first).
 * Enough for the tasks of one burst (a caller and its target are looked at 2-3
 * times per open); small, because every open fd of the daemon costs a tool that
 * walks its fd table (a full `lsof`) one FUSE round trip.
 */
const MAX_CACHED_FDS = 16;

/** Largest file readAsReader reads whole (kallsyms with modules is ~10 MiB). */
const MAX_READ_AS_READER = 64 << 20;

export class HostProc {
  /**
   * Open fds of /proc/<task>/{stat,status}, keyed by path. Opening a procfs file
   * costs ~10x a pread on an open one. A cached fd is bound to the task it was
   * opened for (the inode holds its struct pid): once that task is reaped, pread
   * fails with ESRCH and we reopen, so a recycled pid is never read through an
   * old fd, and the answer is always the current holder of the number.
   */
  private readonly fds = new FdCache<string, { fd: number }>(MAX_CACHED_FDS, closeQuietly);
  private readonly buf = Buffer.alloc(16384);
  private readonly tgids = new FdCache<number, { tgid: number; fd: number }>(MAX_CACHED_FDS, closeQuietly);

  constructor(readonly root = '/proc') {}

  /**
   * A small per-task file (stat, status) through the fd cache: the current
   * holder of the number, as readText would give, at a tenth of the cost.
   */
  readTaskText(...parts: Array<string | number>): string {
    const p = this.path(...parts);
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd = this.fds.get(p)?.fd;
      let fresh = false;
      if (fd === undefined) {
        try {
          fd = fs.openSync(p, 'r');
        } catch (e) {
          throw hostError(e, p);
        }
        fresh = true;
        this.fds.set(p, { fd });
      }
      try {
        const n = fs.readSync(fd, this.buf, 0, this.buf.length, 0);
        if (n < this.buf.length) return this.buf.toString('latin1', 0, n);
        return this.readText(...parts); // larger than the buffer: rare
      } catch (e) {
        this.fds.drop(p);
        // A stale fd (its task was reaped): try once more with a fresh open.
        if (!fresh && hasCode(e, 'ESRCH')) continue;
        throw hostError(e, p);
      }
    }
    throw new FsError('ENOENT', `${p}: gone`);
  }

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

  /**
   * Opens a host file read-only. A procfs fd stays bound to the task it was
   * opened on (the inode holds its struct pid), and for the files that pin the
   * mm at open (maps, smaps, environ, auxv: proc_mem_open) to that mm: after an
   * exec or exit, reads through it give 0 bytes, never the new image's.
   */
  openFile(...parts: Array<string | number>): number {
    try {
      return fs.openSync(this.path(...parts), 'r');
    } catch (e) {
      throw hostError(e, this.path(...parts));
    }
  }

  /** All of an open file from offset 0 (a procfs seq_file generates afresh at 0). */
  readFromStart(fd: number): Buffer {
    const chunks: Buffer[] = [];
    let off = 0;
    for (;;) {
      const n = (() => {
        try {
          return fs.readSync(fd, this.buf, 0, this.buf.length, off);
        } catch (e) {
          throw hostError(e, `fd ${fd}`);
        }
      })();
      if (n === 0) return Buffer.concat(chunks, off);
      chunks.push(Buffer.from(this.buf.subarray(0, n)));
      off += n;
    }
  }

  /**
   * Opens and reads a whole file wearing the caller's credentials, on the
   * reader pool (native/reader_ops.h): the kernel decides for that reader.
   */
  readAsReader(caller: NativeCaller, ...parts: Array<string | number>): Promise<Buffer> {
    return native.readAsReader(this.path(...parts), caller, MAX_READ_AS_READER);
  }

  /** open(2) O_RDONLY wearing the caller's credentials; the fd is the caller's to close. */
  openAsReaderFd(caller: NativeCaller, ...parts: Array<string | number>): Promise<number> {
    return native.openAsReader(this.path(...parts), caller, 0, OpenAsReaderKind.Fd);
  }

  /** readlink(2) wearing the caller's credentials (proc_fd_access_allowed decides for them). */
  readlinkAsReader(caller: NativeCaller, ...parts: Array<string | number>): Promise<Buffer> {
    return native.readlinkAsReader(this.path(...parts), caller);
  }

  /** Whether the kernel lets the caller open the file (rejects with its errno); nothing is read. */
  async probeAsReader(caller: NativeCaller, flags: number, ...parts: Array<string | number>): Promise<void> {
    await native.openAsReader(this.path(...parts), caller, flags, OpenAsReaderKind.Probe);
  }

  readBytes(...parts: Array<string | number>): Buffer {
    try {
      return fs.readFileSync(this.path(...parts));
    } catch (e) {
      throw hostError(e, this.path(...parts));
    }
  }

  stat(pid: number, tid?: number): ProcStat {
    return parseStat(tid === undefined ? this.readTaskText(pid, 'stat') : this.readTaskText(pid, 'task', tid, 'stat'));
  }

  status(pid: number): Map<string, string> {
    return parseStatus(this.readTaskText(pid, 'status'));
  }

  /** Thread group id of any task id (the FUSE caller pid is a tid). */
  tgidOf(tid: number): number {
    // A task's thread group never changes while it lives (a thread that execs
    // takes the leader's pid and its own tid is released), so the answer is
    // cached, checked by a pread on an fd bound to that task: after the task is
    // reaped the pread fails with ESRCH, and a reused tid is looked up afresh.
    const cached = this.tgids.get(tid);
    if (cached) {
      try {
        fs.readSync(cached.fd, this.buf, 0, 1, 0);
        return cached.tgid;
      } catch {
        this.tgids.drop(tid);
      }
    }
    let fd: number;
    try {
      fd = fs.openSync(this.path(tid, 'stat'), 'r');
    } catch (e) {
      throw hostError(e, this.path(tid, 'stat'));
    }
    let tgid: number;
    try {
      tgid = Number(parseStatus(this.readText(tid, 'status')).get('Tgid'));
      // The fd's task still lives after the status read: status was its own.
      fs.readSync(fd, this.buf, 0, 1, 0);
    } catch (e) {
      fs.closeSync(fd);
      if (e instanceof FsError) throw e;
      throw hostError(e, this.path(tid, 'stat'));
    }
    if (!Number.isInteger(tgid) || tgid <= 0) {
      fs.closeSync(fd);
      throw new FsError('ENOENT');
    }
    this.tgids.set(tid, { tgid, fd });
    return tgid;
  }

  /** Thread-group leaders visible in the host's /proc, ascending. */
  listPids(): number[] {
    // Directories only: procfs lists each thread group leader as DT_DIR; a
    // snapshot (src/snapshot/) links its other tids, which /proc/<tid> resolves
    // but does not list, as symlinks.
    return fs
      .readdirSync(this.root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && /^[1-9][0-9]*$/.test(d.name))
      .map((d) => Number(d.name))
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

  /**
   * stat() through a host procfs link (fd/<n>, ns/<type>): the kernel follows the
   * magic link to the object itself (a socket's sockfs inode, an nsfs inode).
   */
  statThrough(...parts: Array<string | number>): fs.Stats {
    try {
      return fs.statSync(this.path(...parts));
    } catch (e) {
      throw hostError(e, this.path(...parts));
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

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}

/** ENOENT and ESRCH from the host become FsErrors; anything else stays as it is. */
function hostError(e: unknown, where: string): unknown {
  if (hasCode(e, 'ENOENT')) return new FsError('ENOENT', `${where}: gone`);
  if (hasCode(e, 'ESRCH')) return new FsError('ESRCH', `${where}: no such process`);
  return e;
}
