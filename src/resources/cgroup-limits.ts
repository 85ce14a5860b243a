/**
 * `procfuse run --cgroup memory=256M,cpus=0-1,cpu=1.5`: a new cgroup for the
 * command, with those limits, in every hierarchy the limits need (v1 memory,
 * cpuset, cpu and cpuacct where they are mounted apart, as on this machine;
 * otherwise the unified hierarchy's memory.max, cpuset.cpus, cpu.max).
 */
import fs from 'node:fs';
import path from 'node:path';

import { parseCgroupMounts } from './cgroup-paths';
import { parseCpuList } from './cgroup-values';

export interface CgroupLimits {
  memoryBytes?: number;
  /** a cpu list, as cpuset.cpus takes it */
  cpus?: string;
  /** CPUs of bandwidth (cpu.max quota / period) */
  cpu?: number;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
/** cpu.max's default period (sched_cfs_bandwidth_period default, 100 ms). */
export const CPU_PERIOD_US = 100_000;

/** Parses the spec; throws a message naming the bad part. Pure. */
export function parseCgroupLimits(spec: string): CgroupLimits {
  const out: CgroupLimits = {};
  for (const part of spec.split(',')) {
    if (part === '') continue;
    const [k, v] = part.split('=', 2) as [string, string | undefined];
    if (v === undefined || v === '') throw new Error(`--cgroup ${part}: needs a value (memory=, cpus= or cpu=)`);
    switch (k) {
      case 'memory': {
        const m = /^([0-9]+)([kmgt]?)$/i.exec(v);
        if (!m || Number(m[1]) === 0) throw new Error(`--cgroup memory=${v}: a size like 256M`);
        out.memoryBytes = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
        break;
      }
      case 'cpus':
        if (!/^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/.test(v.replace(/:/g, ',')) || parseCpuList(v.replace(/:/g, ',')).length === 0) {
          throw new Error(`--cgroup cpus=${v}: a cpu list like 0-1 or 0:2 (':' separates CPUs here)`);
        }
        out.cpus = v.replace(/:/g, ',');
        break;
      case 'cpu': {
        const n = Number(v);
        if (!/^[0-9]*\.?[0-9]+$/.test(v) || !(n >= 0.01) || n > 4096) throw new Error(`--cgroup cpu=${v}: a number of CPUs like 0.5 or 2`);
        out.cpu = n;
        break;
      }
      default:
        throw new Error(`--cgroup ${part}: unknown limit (memory=, cpus=, cpu=)`);
    }
  }
  return out;
}

export interface MadeCgroup {
  /** its path below each hierarchy's root: what -o cgroup= takes */
  path: string;
  /** the cgroup.procs files a process writes its pid to, to join */
  procsFiles: string[];
  /** kills what is left in it and removes it */
  remove(): void;
}

const V1 = ['memory', 'cpuset', 'cpu', 'cpuacct'] as const;

export function makeCgroup(name: string, limits: CgroupLimits): MadeCgroup {
  const mounts = parseCgroupMounts(fs.readFileSync('/proc/self/mounts', 'latin1'));
  const cgPath = `/${name}`;
  const dirs: string[] = [];
  const write = (dir: string, file: string, value: string) => fs.writeFileSync(path.join(dir, file), value);
  const made: MadeCgroup = {
    path: cgPath,
    procsFiles: [],
    remove() {
      for (const d of dirs.reverse()) removeDir(d);
    },
  };
  try {
    const v1 = V1.filter((c) => mounts.v1.has(c));
    // One directory per distinct v1 hierarchy (cpu and cpuacct may share one).
    const v1Dirs = new Map<string, string>();
    for (const c of v1) v1Dirs.set(c, path.join(mounts.v1.get(c)!, cgPath));
    for (const d of new Set(v1Dirs.values())) {
      fs.mkdirSync(d);
      dirs.push(d);
    }
    const v2Needed = V1.some((c) => !mounts.v1.has(c)) && mounts.v2 !== undefined;
    const v2 = v2Needed ? path.join(mounts.v2!, cgPath) : undefined;
    if (v2) {
      fs.mkdirSync(v2);
      dirs.push(v2);
    }
    const cpuset = v1Dirs.get('cpuset');
    if (cpuset) {
      // A v1 cpuset takes no task before it has CPUs and memory nodes.
      const parent = path.dirname(cpuset);
      write(cpuset, 'cpuset.mems', fs.readFileSync(path.join(parent, 'cpuset.mems'), 'latin1'));
      write(cpuset, 'cpuset.cpus', limits.cpus ?? fs.readFileSync(path.join(parent, 'cpuset.cpus'), 'latin1'));
    } else if (limits.cpus !== undefined && v2) write(v2, 'cpuset.cpus', limits.cpus);
    if (limits.memoryBytes !== undefined) {
      const mem = v1Dirs.get('memory');
      if (mem) write(mem, 'memory.limit_in_bytes', String(limits.memoryBytes));
      else if (v2) write(v2, 'memory.max', String(limits.memoryBytes));
      else throw new Error('no memory controller');
    }
    if (limits.cpu !== undefined) {
      const quota = Math.round(limits.cpu * CPU_PERIOD_US);
      const cpu = v1Dirs.get('cpu');
      if (cpu) {
        write(cpu, 'cpu.cfs_period_us', String(CPU_PERIOD_US));
        write(cpu, 'cpu.cfs_quota_us', String(quota));
      } else if (v2) write(v2, 'cpu.max', `${quota} ${CPU_PERIOD_US}`);
      else throw new Error('no cpu controller');
    }
    made.procsFiles = dirs.map((d) => path.join(d, 'cgroup.procs'));
    return made;
  } catch (e) {
    made.remove();
    throw new Error(`cannot make cgroup ${cgPath}: ${(e as Error).message}`);
  }
}

/** Kills the processes left in `dir` (the run's own command tree) and removes it. */
function removeDir(dir: string): void {
  for (let i = 0; i < 100; i++) {
    let pids: number[] = [];
    try {
      pids = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'latin1').split('\n').filter(Boolean).map(Number);
    } catch {
      return; // gone
    }
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // exited
      }
    }
    try {
      fs.rmdirSync(dir);
      return;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // the killed are still exiting
    }
  }
}
