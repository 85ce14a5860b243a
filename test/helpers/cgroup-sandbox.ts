/**
 * Real v1 cgroups for the resource tests (this machine mounts each controller
 * as its own v1 hierarchy), and a pid namespace whose init runs in them:
 * `sh` joins the cgroups, then execs `unshare --pid --fork`. Clients run in the
 * same cgroups and namespace with the mount bound over their /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { initOf } from './pid-sandbox';

const CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'cpuset', 'blkio'] as const;
/** This machine's unified hierarchy (no controllers, but PSI and cpu.stat per cgroup). */
const UNIFIED = path.join('/sys/fs/cgroup', 'unified');
const ROOT = '/sys/fs/cgroup';

/** Why cgroup tests cannot run here, or undefined when they can. */
export function cgroupSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const c of CONTROLLERS) {
    if (!fs.existsSync(path.join(ROOT, c, 'tasks'))) return `no v1 ${c} hierarchy at ${ROOT}/${c}`;
  }
  return undefined;
}

export interface Limits {
  memoryBytes?: number;
  cpus?: string;
  /** cfs_quota_us, cfs_period_us */
  quota?: [number, number];
  /** also a cgroup in the unified hierarchy (for the *.pressure files) */
  unified?: boolean;
}

export interface Cgroup {
  /** path within every hierarchy, e.g. /procfuse-test-123 */
  path: string;
  procsFiles: string[];
  dir(controller: (typeof CONTROLLERS)[number] | 'unified'): string;
  remove(): void;
}

export function makeCgroup(limits: Limits): Cgroup {
  const name = `/procfuse-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const dir = (c: string) => path.join(ROOT, c, name);
  const all: string[] = [...CONTROLLERS, ...(limits.unified && fs.existsSync(path.join(UNIFIED, 'cgroup.procs')) ? ['unified'] : [])];
  for (const c of all) fs.mkdirSync(dir(c));
  // A cpuset takes no task before it has CPUs and memory nodes.
  fs.writeFileSync(path.join(dir('cpuset'), 'cpuset.mems'), fs.readFileSync(path.join(ROOT, 'cpuset', 'cpuset.mems')));
  fs.writeFileSync(path.join(dir('cpuset'), 'cpuset.cpus'), limits.cpus ?? fs.readFileSync(path.join(ROOT, 'cpuset', 'cpuset.cpus')));
  if (limits.memoryBytes !== undefined) fs.writeFileSync(path.join(dir('memory'), 'memory.limit_in_bytes'), String(limits.memoryBytes));
  if (limits.quota) {
    fs.writeFileSync(path.join(dir('cpu'), 'cpu.cfs_period_us'), String(limits.quota[1]));
    fs.writeFileSync(path.join(dir('cpu'), 'cpu.cfs_quota_us'), String(limits.quota[0]));
  }
  return {
    path: name,
    procsFiles: all.map((c) => path.join(dir(c), 'cgroup.procs')),
    dir,
    remove() {
      // Whatever is left in them is ours: kill it, then rmdir once they are empty.
      const end = Date.now() + 5000;
      for (const c of all) {
        for (;;) {
          let pids: string[] = [];
          try {
            pids = fs.readFileSync(path.join(dir(c), 'cgroup.procs'), 'latin1').split('\n').filter(Boolean);
          } catch {
            break;
          }
          for (const p of pids) {
            try {
              process.kill(Number(p), 'SIGKILL');
            } catch {
              // gone
            }
          }
          try {
            fs.rmdirSync(dir(c));
            break;
          } catch {
            if (Date.now() > end) break;
            spawnSync('sleep', ['0.05']);
          }
        }
      }
    },
  };
}

const JOIN = 'for f in $CGROUP_PROCS; do echo $$ > "$f" || exit 97; done';

export interface CgroupSandbox {
  init: number;
  nsPath: string;
  /** runs a shell script inside the namespace and the cgroups, with `proc` (if given) bound over /proc */
  sh(script: string, proc?: string): { stdout: string; stderr: string; status: number | null };
  stop(): void;
}


export async function startCgroupSandbox(cg: Cgroup, script: string, children = 0): Promise<CgroupSandbox> {
  const env = { ...process.env, CGROUP_PROCS: cg.procsFiles.join(' ') };
  const child: ChildProcess = spawn('sh', ['-c', `${JOIN}; exec unshare --pid --fork --kill-child sh -c "$0"`, script], { stdio: 'ignore', env });
  const init = await initOf(child.pid!, children);
  const nsPath = `/proc/${init}/ns/pid`;
  return {
    init,
    nsPath,
    sh(inner, proc) {
      const bind = proc ? `mount --bind "$PROC" /proc || exit 98; ` : '';
      const r = spawnSync(
        'sh',
        ['-c', `${JOIN}; exec nsenter --pid=${nsPath} -- unshare --mount --fork sh -c "$0" `, `${bind}${inner}`],
        { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL', env: { ...env, PROC: proc ?? '' } },
      );
      return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
    },
    stop() {
      child.kill('SIGKILL');
    },
  };
}
