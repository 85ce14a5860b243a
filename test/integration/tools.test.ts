/**
 * procps and coreutils against the emulated tree: each command runs in a private
 * mount namespace with the mount bound over /proc, and again in the same kind of
 * namespace on the host's /proc. The outputs must agree except for what
 * legitimately differs between two runs: the tool's own process (and its shell),
 * CPU/time/memory figures, process states, top's summary numbers, and the
 * work-item suffix of kworker names (the kernel renames them as they run).
 * Only processes that existed before the test are compared, and one that shows
 * in only one of the two runs must have exited in between.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { buildCProgram, killAllTargets, startTarget } from '../helpers/c-programs';
import { canMount, startMount, type Mount } from '../helpers/with-mount';

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** pid -> start time (field 22 of stat), for processes alive now. */
function snapshot(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      out.set(Number(name), stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** kworker/1:1-events_unbound -> kworker/1:1: the suffix is the work it is doing now. */
function normalizeComm(comm: string): string {
  return comm.replace(/^(\[?kworker\/[^-+\]]+)[-+][^\]]*/, '$1');
}

describe.skipIf(!canMount())('tools on the emulated /proc print what they print on the host', () => {
  let m: Mount;
  let tmp: string;
  let before: Map<number, string>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    m = await startMount();
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-tools-')));
    before = snapshot();
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await killAllTargets();
    await m?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** `cmd` in a private mount namespace, over the mount (ours) or the host's /proc. */
  function run(cmd: string, ours: boolean): string {
    const script = ours ? `mount --bind ${m.dir} /proc && ${cmd}` : cmd;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      encoding: 'latin1',
      maxBuffer: 64 << 20,
      timeout: 30_000,
    });
    expect({ cmd, ours, status: r.status, stderr: r.stderr }).toEqual({ cmd, ours, status: 0, stderr: '' });
    return r.stdout;
  }

  function runBoth(cmd: string): { ours: string; host: string } {
    return { ours: run(cmd, true), host: run(cmd, false) };
  }

  /** Old processes shown by the two runs: the same ones, or gone in between. */
  function compareProcesses(
    ours: Map<number, string>,
    host: Map<number, string>,
    same: (a: string, b: string) => boolean = (a, b) => a === b,
  ): number {
    const now = snapshot();
    const old = (pid: number): boolean => before.has(pid);
    const stillThere = (pid: number): boolean => now.get(pid) === before.get(pid);
    let compared = 0;
    for (const [pid, row] of ours) {
      if (!old(pid)) continue;
      if (host.has(pid)) {
        if (!same(row, host.get(pid)!)) expect({ pid, row }).toEqual({ pid, row: host.get(pid) });
        compared++;
      } else {
        expect({ pid, onlyOurs: row, alive: stillThere(pid) }).toEqual({ pid, onlyOurs: row, alive: false });
      }
    }
    for (const [pid, row] of host) {
      if (old(pid) && !ours.has(pid)) {
        expect({ pid, onlyHost: row, alive: stillThere(pid) }).toEqual({ pid, onlyHost: row, alive: false });
      }
    }
    // Every old process still alive is listed (ps -e, ps aux and top show all).
    for (const pid of before.keys()) if (stillThere(pid)) expect({ pid, listed: ours.has(pid) }).toEqual({ pid, listed: true });
    return compared;
  }

  test.skipIf(!has('ps'))('ps -eo pid,ppid,user,stat,comm: the same (pid, ppid, user, comm)', () => {
    const { ours, host } = runBoth('ps -eo pid,ppid,user,stat,comm');
    const parse = (text: string): Map<number, string> => {
      const [header, ...rows] = text.trimEnd().split('\n');
      expect(header!.trim().split(/\s+/)).toEqual(['PID', 'PPID', 'USER', 'STAT', 'COMMAND']);
      return new Map(
        rows.map((r) => {
          const [pid, ppid, user, , ...comm] = r.trim().split(/\s+/);
          return [Number(pid), `${ppid} ${user} ${normalizeComm(comm.join(' '))}`];
        }),
      );
    };
    const o = parse(ours);
    expect(o.get(1)).toBe(parse(host).get(1));
    // A process whose parent exited between the two runs was reparented: only then may ppid differ.
    const reparented = (a: string, b: string): boolean => {
      const [pa, ...ra] = a.split(' ');
      const [pb, ...rb] = b.split(' ');
      return ra.join(' ') === rb.join(' ') && [pa, pb].some((p) => !fs.existsSync(`/proc/${p}`));
    };
    expect(compareProcesses(o, parse(host), reparented)).toBeGreaterThan(10);
    // ps's own line: it reads its own stat, so it is running (R), as on the host.
    const selfState = (text: string): string[] =>
      text
        .split('\n')
        .map((r) => r.trim().split(/\s+/))
        .filter((f) => f[4] === 'ps' && !before.has(Number(f[0])))
        .map((f) => f[3]!.charAt(0));
    expect(selfState(host)).toEqual(['R']);
    expect(selfState(ours)).toEqual(selfState(host));
  });

  test.skipIf(!has('ps'))('ps aux: the same user, pid, tty, start and command line', () => {
    const { ours, host } = runBoth('ps aux');
    const parse = (text: string): Map<number, string> => {
      const [header, ...rows] = text.trimEnd().split('\n');
      expect(header!.trim().split(/\s+/)).toEqual(['USER', 'PID', '%CPU', '%MEM', 'VSZ', 'RSS', 'TTY', 'STAT', 'START', 'TIME', 'COMMAND']);
      return new Map(
        rows.map((r) => {
          const f = r.trim().split(/\s+/);
          return [Number(f[1]), `${f[0]} ${f[6]} ${f[8]} ${normalizeComm(f.slice(10).join(' '))}`];
        }),
      );
    };
    const o = parse(ours);
    // The daemon itself is listed with its command line.
    expect(o.get(m.daemon.pid!)).toMatch(/node .*dist\/mount\/cli\.js mount /);
    expect(compareProcesses(o, parse(host))).toBeGreaterThan(10);
  });

  test.skipIf(!has('top'))('top -b -n1: the same summary labels, columns and processes', () => {
    const { ours, host } = runBoth('top -b -n1 -w 512');
    const split = (text: string) => {
      const lines = text.split('\n');
      const h = lines.findIndex((l) => /^\s*PID\s+USER\s/.test(l));
      expect(h).toBeGreaterThan(0);
      // Labels only: numbers change width between runs (" 98.0 id" / "100.0 id"),
      // and the uptime may switch form ("59 min" / "1:00").
      const summary = lines
        .slice(0, h)
        .map((l) => l.replace(/^top - .* load average/, 'top - # load average').replace(/[\d.:\s]+/g, '#'));
      const rows = new Map(
        lines
          .slice(h + 1)
          .filter((l) => l.trim() !== '')
          .map((l) => {
            const f = l.trim().split(/\s+/);
            // PID USER PR NI VIRT RES SHR S %CPU %MEM TIME+ COMMAND
            return [Number(f[0]), `${f[1]} ${f[2]} ${f[3]} ${normalizeComm(f.slice(11).join(' '))}`];
          }),
      );
      return { summary, columns: lines[h]!.trim().split(/\s+/), rows };
    };
    const o = split(ours);
    const hst = split(host);
    expect(o.summary).toEqual(hst.summary);
    expect(o.columns).toEqual(hst.columns);
    expect(compareProcesses(o.rows, hst.rows)).toBeGreaterThan(10);
  });

  test.skipIf(!has('pmap'))('pmap and pmap -x of a parked process: exactly the host\'s output', async () => {
    const t = await startTarget('fd_target', [tmp]);
    const pid = Number(t.info.pid);
    process.kill(pid, 'SIGSTOP');
    try {
      for (const cmd of [`pmap ${pid}`, `pmap -x ${pid}`]) {
        const { ours, host } = runBoth(cmd);
        expect(host).toContain('fd_target');
        expect(ours).toBe(host);
      }
    } finally {
      process.kill(pid, 'SIGCONT');
      await t.kill();
    }
  });

  /** maps_target (with a SysV segment) parked; returns pmap's output for both trees. */
  async function pmapOfMapsTarget(cmd: string): Promise<{ ours: string; host: string }> {
    const d = fs.mkdtempSync(path.join(tmp, 'maps-'));
    const child = spawn(buildCProgram('maps_target'), [d, '--many', '200'], { stdio: ['pipe', 'pipe', 'ignore'] });
    children.push(child);
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const mm = /READY (\d+)/.exec(out);
        if (mm) resolve(Number(mm[1]));
      });
      child.once('exit', () => reject(new Error('maps_target exited')));
    });
    try {
      return runBoth(`${cmd} ${pid}`);
    } finally {
      child.stdin!.end();
    }
  }

  // pmap names SysV segments "[ shmid=0x.. ]" when their device minor matches the
  // one it learns by attaching a segment of its own AFTER opening
  // /proc/self/maps (procps discover_shm_minor). The kernel renders maps at read
  // time and shows that new segment; procfuse renders at open, so the segment is
  // missing, pmap learns no minor and prints the raw "SYSV00000000 (deleted)".
  test.skipIf(!has('pmap'))("pmap and pmap -x of a process with a SysV segment: exactly the host's (maps is generated at read)", async () => {
    for (const cmd of ['pmap', 'pmap -x']) {
      const { ours, host } = await pmapOfMapsTarget(cmd);
      expect(ours).toBe(host);
      expect(ours).toMatch(/shmid=0x/);
    }
  });

  test.skipIf(!has('cat'))('cat /proc/self/status: the cat itself, with the host\'s keys and stable values', () => {
    const { ours, host } = runBoth('echo $$; exec cat /proc/self/status');
    const parse = (text: string) => {
      const [pid, ...lines] = text.trimEnd().split('\n');
      return { pid: pid!, fields: new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()])) };
    };
    const o = parse(ours);
    const h = parse(host);
    expect([...o.fields.keys()]).toEqual([...h.fields.keys()]);
    for (const [p, f] of [o, h].map((x) => [x.pid, x.fields] as const)) {
      expect([f.get('Pid'), f.get('Tgid'), f.get('NSpid')]).toEqual([p, p, p]);
    }
    const stable = ['Name', 'Umask', 'State', 'Uid', 'Gid', 'FDSize', 'Groups', 'Threads', 'SigBlk', 'SigIgn', 'SigCgt', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp', 'Cpus_allowed_list', 'Mems_allowed_list'];
    expect(stable.map((k) => `${k}: ${o.fields.get(k)}`)).toEqual(stable.map((k) => `${k}: ${h.fields.get(k)}`));
  });

  test.skipIf(!has('ls'))('ls -l /proc/self/fd: the same fds, modes, sizes and targets', () => {
    const out = path.join(tmp, 'ls.out');
    const err = path.join(tmp, 'ls.err');
    const read = (ours: boolean): string => {
      run(`echo $$ >${out}.pid; exec ls -l /proc/self/fd >${out} 2>${err} </dev/null`, ours);
      const pid = fs.readFileSync(`${out}.pid`, 'utf8').trim();
      expect(fs.readFileSync(err, 'utf8')).toBe('');
      return fs
        .readFileSync(out, 'latin1')
        .replaceAll(`/proc/${pid}/`, '/proc/SELF/')
        .replace(/ \w{3} [ \d]\d (\d\d:\d\d|\d{4}) /g, ' DATE ');
    };
    const ours = read(true);
    const host = read(false);
    expect(host).toContain('-> /proc/SELF/fd');
    expect(ours).toBe(host);
  });

  test.skipIf(!has('pgrep'))('pgrep <name> finds the same process', async () => {
    const name = `pfsleep${process.pid % 100000}`;
    const bin = path.join(tmp, name);
    fs.symlinkSync('/usr/bin/sleep', bin);
    const child = spawn(bin, ['600'], { stdio: 'ignore' });
    children.push(child);
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !fs.readFileSync(`/proc/${child.pid}/comm`, 'utf8').startsWith(name)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const { ours, host } = runBoth(`pgrep ${name}`);
    expect(host).toBe(`${child.pid}\n`);
    expect(ours).toBe(host);
    child.kill('SIGKILL');
  });
});
