/**
 * `procfuse run` as a sandbox: its own pid namespace shown by its /proc (the
 * kernel's procfs mounted with pidns= of the same namespace is the oracle), a
 * /proc it cannot unmount or get under, a daemon it can neither see nor reach,
 * and the ids it was asked for.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, describe, expect, test } from 'vitest';

import { canMount, CLI, startMount } from '../helpers/with-mount';

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const started = new Set<ChildProcess>();
afterEach(() => {
  for (const p of started) p.kill('SIGKILL');
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-sandbox-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function procfuse(args: string[], onStdout?: (all: string, p: ChildProcess) => void): { proc: ChildProcess; done: Promise<Result> } {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    onStdout?.(stdout, proc);
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Result>((resolve) =>
    proc.on('exit', (code, signal) => {
      started.delete(proc);
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    }),
  );
  return { proc, done };
}

/** `procfuse run [opts] -- sh -c script`, with the daemon's log at `log`. */
const sandboxed = (script: string, opts: string[] = [], log = path.join(tmp, `d${Math.random()}.log`)): Promise<Result & { log: string }> =>
  procfuse(['run', '--log', log, ...opts, '--', 'sh', '-c', script]).done.then((r) => ({ ...r, log }));

function daemonPid(log: string): number {
  const m = /serving \S+ \(pid (\d+),/.exec(fs.readFileSync(log, 'utf8'));
  if (!m) throw new Error(`no "serving" line in ${log}`);
  return Number(m[1]);
}

/** Host pids of the children of `pid` (all its threads'). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    out.push(...fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  }
  return out;
}

const comm = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

/** The host pid of the init of the sandbox of the `procfuse run` process `runPid`. */
function sandboxInit(runPid: number): number {
  const outer = childrenOf(runPid).find((p) => comm(p) === 'procfuse-sandbo');
  if (outer === undefined) throw new Error('no procfuse-sandbox child');
  const init = childrenOf(outer)[0];
  if (init === undefined) throw new Error('the sandbox has no init');
  return init;
}

/** Reads `files` (relative paths) through the kernel's procfs mounted with pidns= of `initPid`'s namespace. */
function kernelView(initPid: number, files: string[]): string[] {
  const dir = fs.mkdtempSync(path.join(tmp, 'kproc-'));
  try {
    const sep = '@@procfuse-test@@';
    const script = `mount -t proc -o pidns=/proc/${initPid}/ns/pid proc "$1" && shift && for f; do cat "$f"; echo '${sep}'; done`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', dir, ...files.map((f) => `${dir}/${f}`)], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`kernel procfs with pidns=: ${r.stderr}`);
    return r.stdout.split(`${sep}\n`).slice(0, files.length);
  } finally {
    fs.rmdirSync(dir);
  }
}

const hasTool = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

const PID_LINES = /^(Tgid|Pid|PPid|TracerPid|NStgid|NSpid|NSpgid|NSsid):.*$/gm;
/** stat fields 1 (pid), 4 (ppid), 5 (pgrp), 6 (session), 8 (tpgid); comm may hold spaces */
function statPids(stat: string): string[] {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [stat.slice(0, stat.indexOf(' ')), rest[1]!, rest[2]!, rest[3]!, rest[5]!];
}

describe.skipIf(!canMount())('procfuse run: the sandbox', () => {
  test('`umount /proc` fails (the mount is locked) and /proc stays procfuse; a kernel procfs cannot be mounted either', { timeout: 30_000 }, async () => {
    const r = await sandboxed(
      'umount /proc; echo "umount=$?"; umount -l /proc; echo "umount -l=$?"; ' +
        'mkdir -p /tmp/$$.k && mount -t proc proc /tmp/$$.k; echo "mount proc=$?"; rmdir /tmp/$$.k; ' +
        'grep " /proc " /proc/self/mountinfo | tail -1',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('umount=32\n');
    expect(r.stdout).toContain('umount -l=32\n');
    expect(r.stdout).toContain('mount proc=32\n');
    // do_umount() answers a MNT_LOCKED mount with EINVAL, which umount(8) words so
    expect(r.stderr).toContain('umount: /proc: not mounted');
    expect(r.stdout).toMatch(/ \/proc \S+ .*- fuse\.procfuse procfuse /);
  });

  test('the init (pid 1), which the command could ptrace, holds no capability: driving it gains nothing', { timeout: 30_000 }, async () => {
    const r = await sandboxed('grep -E "^Cap(Prm|Eff|Inh|Amb)" /proc/1/status | tr -s "\t" " "');
    expect(r.stdout).toBe('CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapAmb: 0000000000000000\n');
  });

  test('no procfs, no other procfuse mount and no fusectl mount is left anywhere else in the sandbox', { timeout: 30_000 }, async () => {
    // another procfuse mount with the host's view, as other runs and tests make them
    const other = await startMount();
    try {
      const r = await sandboxed(`cat /proc/self/mountinfo; ls ${other.dir} | wc -l`);
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => / - (proc|fuse\.procfuse|fusectl) /.test(l));
      // only the host's procfs under our mount at /proc remains (covered, locked), and ours
      expect(lines.map((l) => `${l.split(' ')[4]} ${l.split(' - ')[1]!.split(' ')[0]}`)).toEqual(['/proc proc', '/proc fuse.procfuse']);
      expect(r.stdout.trim().split('\n').at(-1)).toBe('0');
      // the host still has it
      expect(fs.readdirSync(other.dir).length).toBeGreaterThan(3);
    } finally {
      await other.stop();
    }
  });

  test('the daemon cannot be signalled from inside (it is outside the pid namespace)', { timeout: 30_000 }, async () => {
    const log = path.join(tmp, 'kill.log');
    const r = await sandboxed(
      `d=$(sed -n 's/.*serving .* (pid \\([0-9]*\\),.*/\\1/p' ${log}); kill -0 "$d"; echo "kill=$?"; kill -9 "$d" 2>/dev/null; echo "$d"`,
      [],
      log,
    );
    expect(r.code).toBe(0);
    const [killed, d] = r.stdout.trim().split('\n');
    expect(Number(d)).toBe(daemonPid(log));
    expect(killed).toBe('kill=1');
  });

  test('views: the root lists exactly the sandbox\'s processes under their namespace pids; self is the namespace pid; the daemon and other host pids are ENOENT', { timeout: 30_000 }, async () => {
    const log = path.join(tmp, 'views.log');
    const r = await sandboxed(
      `sleep 30 & a=$!; sleep 30 & b=$!; echo "$a $b"; echo /proc/[0-9]*; cd -P /proc/self && pwd; ` +
        `d=$(sed -n 's/.*serving .* (pid \\([0-9]*\\),.*/\\1/p' ${log}); ` +
        `test -e /proc/$d && echo "daemon visible" || echo "daemon ENOENT"; ` +
        `test -e /proc/${process.pid} && echo "host visible" || echo "host ENOENT"; kill $a $b`,
      [],
      log,
    );
    expect(r.code).toBe(0);
    const [pids, listed, self, daemon, host] = r.stdout.trim().split('\n');
    const [a, b] = pids!.split(' ').map(Number);
    expect(listed!.split(' ').map((p) => Number(p.slice('/proc/'.length))).sort((x, y) => x - y)).toEqual([1, 2, a!, b!].sort((x, y) => x - y));
    // the shell's own cd resolves the link: its own pid
    expect(self).toBe('/proc/2');
    expect(daemon).toBe('daemon ENOENT');
    expect(host).toBe('host ENOENT');
  });

  test('views: status and stat pid fields, and a child\'s maps, equal the kernel\'s procfs mounted with pidns= of the sandbox', { timeout: 30_000 }, async () => {
    const out = path.join(tmp, 'ours');
    let init = 0;
    let kernel: string[] = [];
    const { done } = procfuse(
      ['run', '--', 'sh', '-c', `sleep 30 & a=$!; until [ "$(cat /proc/$a/comm)" = sleep ]; do :; done; echo $a > ${out}.pid; for f in 1/status 1/stat $$/status $$/stat $a/status $a/stat $a/maps; do cat /proc/$f; echo @@; done > ${out}; echo ready; wait`],
      (all, p) => {
        if (all !== 'ready\n' || init) return;
        init = sandboxInit(p.pid!);
        const a = fs.readFileSync(`${out}.pid`, 'utf8').trim();
        kernel = kernelView(init, ['1/status', '1/stat', '2/status', '2/stat', `${a}/status`, `${a}/stat`, `${a}/maps`]);
        p.kill('SIGTERM');
      },
    );
    const r = await done;
    expect(r.code).toBe(128 + 15);
    const ours = fs.readFileSync(out, 'utf8').split('@@\n').slice(0, 7);
    expect(kernel).toHaveLength(7);
    // a child's maps by its namespace pid (read once it has exec'd sleep; an fd
    // opened before the exec reads nothing, on both): byte for byte the kernel's
    expect(ours[6]).toBe(kernel[6]);
    for (let i = 0; i < 6; i += 2) {
      expect(ours[i]!.match(PID_LINES)).toEqual(kernel[i]!.match(PID_LINES));
      expect(statPids(ours[i + 1]!)).toEqual(statPids(kernel[i + 1]!));
    }
    // the namespace's init has PPid 0; the command is pid 2, its child
    expect(ours[0]).toMatch(/^PPid:\s+0$/m);
    expect(ours[2]).toMatch(/^Pid:\s+2$/m);
    expect(ours[2]).toMatch(/^PPid:\s+1$/m);
  });

  test('--user UID:GID runs the command with those ids; DAC applies to it', { timeout: 30_000 }, async () => {
    const r = await sandboxed('id -u; id -g; id -G; cat /etc/shadow >/dev/null 2>&1 && echo read || echo denied', ['--user', '1000:1001']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1000\n1001\n1001\ndenied\n');
  });

  test('root in the sandbox keeps file access and ptrace, but its bounding set has no CAP_SYS_ADMIN: no mount, no new mount namespace', { timeout: 30_000 }, async () => {
    const r = await sandboxed(
      'cat /etc/shadow >/dev/null && echo shadow; d=$(mktemp -d); chown 1234:1234 $d && echo chown; ' +
        'mount -t tmpfs none $d 2>/dev/null || echo "no mount"; unshare -m true 2>/dev/null || echo "no unshare -m"; rm -rf $d; ' +
        'grep CapBnd /proc/self/status',
    );
    expect(r.stdout).toBe('shadow\nchown\nno mount\nno unshare -m\nCapBnd:\t00000000a80c05fb\n');
  });

  test.skipIf(!hasTool('gdb') || !hasTool('eu-stack'))('gdb -p and eu-stack -p attach to a child by its namespace pid and name its frames', { timeout: 60_000 }, async () => {
    const r = await sandboxed(
      'sleep 30 & p=$!; sleep 0.3; echo "pid=$p"; gdb -q -p $p -batch -ex bt 2>/dev/null | grep "^#0"; eu-stack -p $p 2>&1 | head -3; kill $p',
    );
    expect(r.code).toBe(0);
    const [pid, gdb, eu1, eu2, eu3] = r.stdout.trim().split('\n');
    const p = pid!.slice('pid='.length);
    expect(Number(p)).toBeLessThan(10);
    expect(gdb).toMatch(/^#0 .*clock_nanosleep/);
    expect(eu1).toBe(`PID ${p} - process`);
    expect(eu2).toBe(`TID ${p}:`);
    expect(eu3).toMatch(/clock_nanosleep/);
  });

  test('--userns maps only the caller to root: other owners are the overflow id', { timeout: 30_000 }, async () => {
    const f = path.join(tmp, 'owned-by-1234');
    fs.writeFileSync(f, '');
    fs.chownSync(f, 1234, 1234);
    const r = await sandboxed(`id -u; stat -c '%u %g' /etc/passwd ${f}; cat /proc/self/uid_map 2>/dev/null | tr -s ' '`, ['--userns']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['0', '0 0', '65534 65534']);
  });

  test('`unshare -r` works inside: uid_map is written with the writer\'s credentials (as root, and as --user 1000)', { timeout: 30_000 }, async () => {
    for (const [opts, outside] of [[[], '0'], [['--user', '1000'], '1000']] as const) {
      const r = await sandboxed(`unshare -r sh -c 'id -u; tr -s " " < /proc/self/uid_map'`, [...opts]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`0\n 0 ${outside} 1\n`);
    }
  });

  test('--user with an id the user namespace does not map fails cleanly with 125', { timeout: 30_000 }, async () => {
    const r = await sandboxed('echo never', ['--userns', '--user', '1000']);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/procfuse: run: setresgid \(is the gid mapped\?\): Invalid argument/);
  });

  test('SIGHUP and SIGINT sent to run reach the command (through the sandbox and its init)', { timeout: 30_000 }, async () => {
    for (const sig of ['SIGHUP', 'SIGINT'] as const) {
      const { done } = procfuse(['run', '--', 'sh', '-c', `trap 'echo got; exit 3' ${sig.slice(3)}; echo started; while :; do sleep 0.1; done`], (all, p) => {
        if (all === 'started\n') p.kill(sig);
      });
      const r = await done;
      expect(r.stdout).toBe('started\ngot\n');
      expect(r.code).toBe(3);
    }
  });
});
