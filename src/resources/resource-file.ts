/**
 * The root files a container sees of its own resources: meminfo, cpuinfo,
 * stat, uptime, loadavg rendered from its cgroup for each read from offset 0
 * (seq_file semantics: top and free reread them). The host's view never gets
 * these nodes, and a view whose container is gone gets the host's text.
 */
import { FsError } from '../fuse/errno';
import { O_ACCMODE, S_IFDIR, S_IFREG, type Attr, type DirEntry, type Node, type OpenIntent } from '../fuse/node';
import type { RequestContext } from '../fuse/request';
import type { HostProc } from '../host/host-proc';
import type { View } from '../view/view';
import { visibleCpus } from './cgroup-values';
import { containerOf, readCpuset, readIo, readMemory, readPressure, readQuota, readTasks, readUsage, type Container } from './container';
import { renderCpuinfo } from './cpuinfo';
import { LoadSampler, renderLoadavg } from './loadavg';
import { containerSwap, renderMeminfo } from './meminfo';
import { renderDiskstats, renderSwaps } from './io';
import { cpuTicks, hostCpuTicks, onlineCpus, renderStat, renderUptime, USER_HZ, withCpuRows, type CpuTimes } from './stat';

export const RESOURCE_FILES = new Set(['meminfo', 'cpuinfo', 'stat', 'uptime', 'loadavg', 'swaps', 'diskstats']);
/** /proc/pressure/<name>: PSI per cgroup (cgroup v2 *.pressure). */
const PRESSURE = new Set(['cpu', 'memory', 'io', 'irq']);

/** The node for `name` when the request's view is a container's; undefined otherwise. */
export function resourceEntry(name: string, ctx: RequestContext): Node | undefined {
  if (!RESOURCE_FILES.has(name) && name !== 'pressure') return undefined;
  const c = containerOf(ctx.view);
  if (!c) return undefined;
  if (name === 'pressure') return c.pressure ? new PressureDir() : undefined;
  // The load is sampled from the first look at the container's files on, not
  // only from the first read of loadavg (the kernel's starts at boot).
  samplerOf(c, ctx.view.mount.own).read();
  return new ResourceFile(name);
}

function attrOf(ctx: RequestContext, rel: string[]): Attr {
  const st = ctx.view.proc.lstat(...rel);
  return { mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, size: 0, time: st.mtimeMs / 1000 };
}

class ResourceFile implements Node {
  readonly key: string;

  constructor(private readonly name: string) {
    this.key = `resource:${name}`;
  }

  getattr(ctx: RequestContext): Attr {
    return attrOf(ctx, [this.name]);
  }

  open(_ctx: RequestContext, flags: number): OpenIntent {
    if ((flags & O_ACCMODE) !== 0) throw new FsError('EACCES', `${this.name} is read-only`);
    return { kind: 'render', render: (ctx) => renderResource(this.name, ctx.view) };
  }
}

/**
 * /proc/pressure of a container with a unified-hierarchy cgroup: the same
 * names as the host's, each its cgroup's <name>.pressure. Writes (PSI
 * triggers) are refused, as for every host file here.
 */
class PressureDir implements Node {
  readonly key = 'resource:pressure';

  getattr(ctx: RequestContext): Attr {
    return attrOf(ctx, ['pressure']);
  }

  lookup(name: string, ctx: RequestContext): Node {
    if (!PRESSURE.has(name)) throw new FsError('ENOENT');
    attrOf(ctx, ['pressure', name]); // ENOENT where the host has none (irq without CONFIG_IRQ_TIME_ACCOUNTING)
    return new PressureFile(name);
  }

  readdir(ctx: RequestContext): DirEntry[] {
    const out: DirEntry[] = [
      { name: '.', type: S_IFDIR, pos: 0 },
      { name: '..', type: S_IFDIR, pos: 1 },
    ];
    ctx.view.proc.readdir('pressure').filter((n) => PRESSURE.has(n)).forEach((name, i) => out.push({ name, type: S_IFREG, pos: 2 + i }));
    return out;
  }
}

class PressureFile implements Node {
  readonly key: string;

  constructor(private readonly name: string) {
    this.key = `resource:pressure/${name}`;
  }

  getattr(ctx: RequestContext): Attr {
    return attrOf(ctx, ['pressure', this.name]);
  }

  open(_ctx: RequestContext, flags: number): OpenIntent {
    if ((flags & O_ACCMODE) !== 0) throw new FsError('EACCES', `pressure/${this.name} is read-only here`);
    return {
      kind: 'render',
      render: (ctx) => {
        const c = containerOf(ctx.view);
        const t = c?.pressure && readPressure(c.pressure, this.name);
        return t === undefined ? ctx.view.proc.readBytes('pressure', this.name) : Buffer.from(t, 'latin1');
      },
    };
  }
}

export function renderResource(name: string, view: View): Buffer {
  const c = containerOf(view);
  const text = c ? renderText(name, view, c) : undefined;
  return text === undefined ? view.proc.readBytes(name) : Buffer.from(text, 'latin1');
}

function renderText(name: string, view: View, c: Container): string | undefined {
  const host = (n: string) => view.proc.readText(n);
  switch (name) {
    case 'meminfo': {
      const mem = c.memory && readMemory(c.memory);
      return mem ? renderMeminfo(host('meminfo'), mem) : undefined;
    }
    case 'cpuinfo':
      return renderCpuinfo(host('cpuinfo'), cpusOf(c, host('stat')).cpus);
    case 'stat':
      return statOf(view, c, host('stat'));
    case 'uptime': {
      const hostStat = host('stat');
      const { cpus } = cpusOf(c, hostStat);
      const up = uptimeOf(view);
      const times = timesOf(c, cpusOf(c, hostStat));
      const idle = times
        ? cpuTicks({ uptime: up, times }).reduce((a, t) => a + t.idle, 0)
        : Math.min(Math.floor(up * USER_HZ) * cpus.length, hostCpuTicks(hostStat, cpus).reduce((a, r) => a + (r[3] ?? 0), 0));
      return renderUptime(up, idle);
    }
    case 'swaps': {
      const mem = c.memory && readMemory(c.memory);
      if (!mem) return undefined;
      const hostSwap = Number(/^SwapTotal:\s+([0-9]+)/m.exec(host('meminfo'))?.[1] ?? 0);
      const { totalKb, usedKb } = containerSwap(hostSwap, mem);
      return renderSwaps(host('swaps'), totalKb, usedKb);
    }
    case 'diskstats': {
      const io = c.blkio && readIo(c.blkio);
      return io ? renderDiskstats(host('diskstats'), io) : undefined;
    }
    case 'loadavg': {
      const t = taskStates(c, view.mount.own);
      return renderLoadavg(samplerOf(c, view.mount.own).read(), t.running, t.threads, lastPid(view));
    }
    default:
      return undefined;
  }
}

interface Cpus {
  cpus: number[];
  /** the cpuset's online CPUs before the quota cut them down */
  allowed: number;
}

function cpusOf(c: Container, hostStat: string): Cpus {
  const online = onlineCpus(hostStat);
  const cpuset = c.cpuset && readCpuset(c.cpuset);
  const allowed = visibleCpus(online, cpuset, undefined);
  const quota = c.cpu && readQuota(c.cpu);
  return { cpus: visibleCpus(online, cpuset, quota), allowed: allowed.length };
}

/**
 * The cgroup's CPU time over the visible CPUs: per CPU as accounted when the
 * CPUs are the cpuset's; spread evenly when a quota folds the cpuset's CPUs
 * into fewer (the quota bounds the total, not any one CPU).
 */
function timesOf(c: Container, { cpus, allowed }: Cpus): CpuTimes | undefined {
  const u = c.cpuacct && readUsage(c.cpuacct);
  if (!u || cpus.length === 0) return undefined;
  if (u.perCpu && cpus.length === allowed) {
    const pc = u.perCpu;
    return { user: cpus.map((i) => pc.user[i] ?? 0), system: cpus.map((i) => pc.system[i] ?? 0) };
  }
  const n = cpus.length;
  return { user: cpus.map(() => u.user / n), system: cpus.map(() => u.system / n) };
}

/** Seconds since the view's init started: the container's uptime. */
function uptimeOf(view: View): number {
  const hostUp = Number(view.proc.readText('uptime').split(' ')[0]);
  const start = Number(view.proc.stat(1).startTime) / USER_HZ;
  return Math.max(0, hostUp - start);
}

function statOf(view: View, c: Container, hostStat: string): string {
  const cpus = cpusOf(c, hostStat);
  const times = timesOf(c, cpus);
  const uptime = uptimeOf(view);
  const hostBtime = Number(/^btime ([0-9]+)$/m.exec(hostStat)?.[1] ?? '0');
  const t = taskStates(c, view.mount.own);
  const rendered = renderStat(hostStat, {
    uptime,
    btime: hostBtime + Math.floor(Number(view.proc.stat(1).startTime) / USER_HZ),
    times: times ?? { user: cpus.cpus.map(() => 0), system: cpus.cpus.map(() => 0) },
    processes: lastPid(view),
    running: t.running,
    blocked: t.blocked,
    ctxt: t.ctxt,
  });
  return times ? rendered : withCpuRows(rendered, hostCpuTicks(hostStat, cpus.cpus));
}

interface TaskStates {
  threads: number;
  running: number;
  blocked: number;
  ctxt: number;
}

/** The cgroup's threads by state (R runs, D blocks: nr_running / nr_iowait) and their context switches. */
function taskStates(c: Pick<Container, 'tasks'>, own: HostProc): TaskStates {
  const out: TaskStates = { threads: 0, running: 0, blocked: 0, ctxt: 0 };
  for (const tid of readTasks(c.tasks)) {
    let status: string;
    try {
      // Thread ids of the daemon's namespace: /proc/<tid> resolves threads too.
      status = own.readText(tid, 'status');
    } catch {
      continue; // exited meanwhile
    }
    out.threads++;
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (state === 'R') out.running++;
    if (state === 'D') out.blocked++;
    out.ctxt += Number(/^voluntary_ctxt_switches:\s+([0-9]+)/m.exec(status)?.[1] ?? 0);
    out.ctxt += Number(/^nonvoluntary_ctxt_switches:\s+([0-9]+)/m.exec(status)?.[1] ?? 0);
  }
  return out;
}

/**
 * The container's last pid: the highest pid now alive in its namespace. The
 * kernel's own (loadavg's last field, ns_last_pid) is the READER's namespace's
 * (task_active_pid_ns(current)), and the daemon is not in the container's.
 */
function lastPid(view: View): number {
  return view.proc.listPids().reduce((a, b) => Math.max(a, b), 0);
}

const MAX_SAMPLERS = 256;
const samplers = new Map<string, LoadSampler>();

function samplerOf(c: Container, own: HostProc): LoadSampler {
  let s = samplers.get(c.key);
  if (!s) {
    if (samplers.size >= MAX_SAMPLERS) {
      const [k, old] = samplers.entries().next().value as [string, LoadSampler];
      old.stop();
      samplers.delete(k);
    }
    const tasks = c.tasks;
    s = new LoadSampler(() => {
      const t = taskStates({ tasks }, own);
      return t.running + t.blocked;
    });
    samplers.set(c.key, s);
  }
  return s;
}
