/**
 * Which view each request of a mount sees, chosen with the kernel's option name:
 *   - default: the pid namespace of the process that mounts, as `mount -t proc`
 *     takes the mounter's (the daemon is the mounter's child, in its namespace);
 *   - `pidns=<pid|path>`: that namespace for every caller, as a kernel procfs
 *     mounted with pidns= (fs/proc/root.c proc_parse_pid_ns);
 *   - `pidns=caller`: each caller its own namespace, as if it had mounted a
 *     procfs itself: one mount can be bound into many containers.
 *
 * Every view reads a private procfs instance of its namespace, made once
 * (native.procfsInstance). An instance's fd is never closed while the daemon
 * runs: a node's paths go through /proc/self/fd/<fd>, and a reused fd number
 * must never lead an old node into another namespace.
 */
import fs from 'node:fs';

import createDebug from 'debug';

import type { Caller } from '../fuse/caller';
import { FsError } from '../fuse/errno';
import { HostProc } from '../host/host-proc';
import { native } from '../native';
import { View, type MountContext } from './view';

const log = createDebug('procfuse:view');

export type PidNsSpec = { kind: 'default' } | { kind: 'fixed'; ns: string } | { kind: 'caller' };

/** How many pid namespaces one per-caller mount serves at most (each holds a procfs instance). */
const MAX_VIEWS = 1024;

/** procfs instance of a pid namespace (null: the daemon's own), as a root for HostProc. */
export function openProcfs(pidnsPath: string | null): HostProc {
  return new HostProc(`/proc/self/fd/${native.procfsInstance(pidnsPath)}`);
}

const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * The daemon's own namespace's procfs: the mounted /proc when it is a procfs of
 * that namespace (its self is us), so the host view shows exactly what the
 * host's /proc shows, times of never-changing entries included; otherwise (a
 * /proc of another namespace, or none) a private instance.
 */
export function openOwnProcfs(): HostProc {
  try {
    if (fs.statfsSync('/proc').type === PROC_SUPER_MAGIC && fs.readlinkSync('/proc/self') === String(process.pid)) {
      return new HostProc('/proc');
    }
  } catch {
    // no usable /proc: an instance of our own
  }
  return openProcfs(null);
}

/** The ns file that `pidns=` names: a pid (its /proc/<pid>/ns/pid) or a path to a pid namespace file. */
export function pidNsPath(own: HostProc, value: string): string {
  if (/^[1-9][0-9]*$/.test(value)) return own.path(Number(value), 'ns', 'pid');
  return value;
}

function nsIno(path: string): bigint {
  return fs.statSync(path, { bigint: true }).ino;
}

export class Views {
  private readonly ownView: View;
  private readonly ownIno: bigint;
  private readonly byNs = new Map<bigint, View>();
  private readonly fixed?: View;

  constructor(
    private readonly mount: MountContext,
    private readonly spec: PidNsSpec,
  ) {
    // --replay: targets are read from the snapshot, callers still from the daemon's procfs.
    this.ownView = new View('own', mount.replay ?? mount.own, mount, null);
    this.ownIno = nsIno(mount.own.path('self', 'ns', 'pid'));
    if (spec.kind === 'fixed') {
      const path = pidNsPath(mount.own, spec.ns);
      let ino: bigint;
      try {
        ino = nsIno(path);
      } catch (e) {
        throw new Error(`pidns=${spec.ns}: ${(e as Error).message.replace(/^[A-Z]+: /, '')}`);
      }
      this.fixed = this.viewOf(ino, path);
    }
  }

  /** The view a request of `caller` sees. */
  forCaller = (caller: Caller): View => {
    if (this.fixed) return this.fixed;
    if (this.spec.kind !== 'caller' || caller.pid <= 0) return this.ownView;
    const path = this.mount.own.path(caller.pid, 'ns', 'pid');
    let ino: bigint;
    try {
      ino = nsIno(path);
    } catch {
      throw new FsError('ESRCH', `caller ${caller.pid} is gone`);
    }
    return this.viewOf(ino, path);
  };

  private viewOf(ino: bigint, path: string): View {
    if (ino === this.ownIno) return this.ownView;
    let v = this.byNs.get(ino);
    if (v) return v;
    if (this.byNs.size >= MAX_VIEWS) throw new FsError('ENFILE', `more than ${MAX_VIEWS} pid namespaces`);
    const proc = openProcfs(path);
    // The instance is of the namespace `path` named when it was opened: had its
    // task been replaced since we took `ino`, the namespace would differ.
    if (nsIno(path) !== ino) throw new FsError('ESRCH', `${path} changed while opening it`);
    v = new View(`ns${ino}`, proc, this.mount, ino);
    this.byNs.set(ino, v);
    log('view of pid namespace %s (%s)', ino, path);
    return v;
  }
}
