/**
 * procfuse-runtime with Debian's runc, for real: a busybox-static bundle made
 * with `runc spec`, run and create/start/kill/delete. The container's /proc is
 * procfuse, runc's own procfs checks pass, ps/maps/mem work inside, and nothing
 * of ours (mount, daemon, state) is left afterwards.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { canMount } from '../helpers/with-mount';

const ROOT = path.resolve(__dirname, '../..');
/** the executable containerd and Docker are given (mount/procfuse-runtime runs dist/mount/runtime-cli.js) */
const RUNTIME = path.join(ROOT, 'mount/procfuse-runtime');
const STATE_ROOT = '/run/procfuse-runtime';

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const BUSYBOX = '/bin/busybox';
const staticBusybox = (): boolean => {
  try {
    return !execFileSync('file', ['-L', BUSYBOX], { encoding: 'utf8' }).includes('dynamically');
  } catch {
    return fs.existsSync(BUSYBOX);
  }
};
const usable = canMount() && have('runc') && staticBusybox();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** procfuse-runtime with a runc --root of our own (no clash with anybody's containers) */
function runtime(runcRoot: string, args: string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    const p = spawn(RUNTIME, ['--root', runcRoot, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PROCFUSE_NODE: process.execPath },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'exit', not 'close': after create, the container holds runc's stdio (our pipes) until it ends
    p.on('exit', (code) => setTimeout(() => resolve({ code, stdout, stderr }), 50));
  });
}

const ourMounts = (): string[] =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(STATE_ROOT));

const ourProcesses = (id: string): number[] =>
  fs.readdirSync('/proc').filter((n) => {
    try {
      return /^[0-9]+$/.test(n) && fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').includes(`-${id}/`);
    } catch {
      return false;
    }
  }).map(Number);

async function eventually(check: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe.skipIf(!usable)('procfuse-runtime (runc, busybox-static bundle)', () => {
  let base: string;
  let bundle: string;
  let runcRoot: string;
  const ids: string[] = [];

  /** Writes config.json's process.args. */
  function setArgs(args: string[]): void {
    const file = path.join(bundle, 'config.json');
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { process: { args: string[]; terminal: boolean } };
    c.process.args = args;
    c.process.terminal = false;
    fs.writeFileSync(file, JSON.stringify(c, null, 2));
  }
  const newId = (): string => {
    const id = `pft-${process.pid}-${ids.length}`;
    ids.push(id);
    return id;
  };
  async function expectNothingLeft(id: string): Promise<void> {
    expect(await eventually(() => ourMounts().length === 0)).toBe(true);
    expect(await eventually(() => ourProcesses(id).length === 0)).toBe(true);
    expect(fs.readdirSync(STATE_ROOT).filter((d) => d.endsWith(`-${id}`))).toEqual([]);
    const list = spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' });
    expect(list.stdout.split('\n')).not.toContain(id);
  }

  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-runtime-'));
    bundle = path.join(base, 'bundle');
    runcRoot = path.join(base, 'runc-root');
    const rootfs = path.join(bundle, 'rootfs');
    for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    for (const applet of ['sh', 'ps', 'cat', 'head', 'dd', 'od', 'grep', 'readlink', 'sleep', 'ls', 'echo', 'test', 'tr']) {
      fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
    }
    execFileSync('runc', ['spec'], { cwd: bundle });
    fs.mkdirSync(STATE_ROOT, { recursive: true });
  });
  afterAll(() => {
    // through the runtime, so that a test that failed midway leaves none of our
    // state or daemons either
    for (const id of ids) {
      spawnSync(RUNTIME, ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore', env: { ...process.env, PROCFUSE_NODE: process.execPath } });
      spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
      for (const d of fs.readdirSync(STATE_ROOT).filter((n) => n.endsWith(`-${id}`))) fs.rmSync(path.join(STATE_ROOT, d), { recursive: true, force: true });
    }
    fs.rmSync(base, { recursive: true, force: true });
  });

  test('run: /proc is procfuse; ps, /proc/self/maps and /proc/self/mem work; maskedPaths/readonlyPaths re-applied; exit status; nothing left', { timeout: 60_000 }, async () => {
    setArgs([
      'sh',
      '-c',
      'ps -o pid,comm; echo "self=$(readlink /proc/self)"; head -1 /proc/self/maps; ' +
        // the first page of busybox, at the start of its first mapping (0x400000, not PIE)
        'dd if=/proc/self/mem bs=4096 skip=1024 count=1 2>/dev/null | head -c 4 | od -An -c | tr -s " "; ' +
        'grep -E " /proc(/sys)? " /proc/self/mountinfo; echo "keys=$(wc -c < /proc/keys) $(grep -c " /proc/keys " /proc/self/mountinfo)"; exit 3',
    ]);
    const id = newId();
    const r = await runtime(runcRoot, ['run', id], bundle);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^[0-9a-f]+-[0-9a-f]+ r--p 00000000 \S+ \d+ +\/bin\/busybox$/m);
    expect(r.stdout).toContain(' 177 E L F\n');
    const mounts = r.stdout.split('\n').filter((l) => / - \S+ \S+ /.test(l));
    // the top mount at /proc is ours, over runc's procfs
    expect(mounts.filter((l) => l.split(' ')[4] === '/proc').at(-1)).toMatch(/ - fuse\.procfuse procfuse /);
    // runc spec's readonlyPaths has /proc/sys: bound read-only again on top of ours
    const sys = mounts.filter((l) => l.split(' ')[4] === '/proc/sys').at(-1);
    expect(sys?.split(' ')[5]).toMatch(/^ro,/);
    // and maskedPaths' /proc/keys (a file ours serves) has /dev/null over it again
    expect(r.stdout).toMatch(/^keys=0 [1-9]$/m);
    await expectNothingLeft(id);
  });

  test('views: inside the container ps shows only the container\'s processes, pid 1 is its init, host pids are ENOENT', { timeout: 60_000 }, async () => {
    setArgs(['sh', '-c', `ps -o pid,comm; echo "self=$(readlink /proc/self)"; test -e /proc/${process.pid} && echo host-visible || echo host-ENOENT`]);
    const id = newId();
    const r = await runtime(runcRoot, ['run', id], bundle);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^PID\s+COMMAND$/);
    // sh is pid 1; ps (a fork of it) is the only other process
    expect(lines.slice(1, -2).map((l) => l.trim().split(/\s+/))).toEqual([['1', 'sh'], [expect.stringMatching(/^\d+$/), 'ps']]);
    expect(lines.at(-2)).toMatch(/^self=\d+$/);
    expect(lines.at(-1)).toBe('host-ENOENT');
    await expectNothingLeft(id);
  });

  test('create, state, start, kill, delete pass through; the view is in place once start returns; delete leaves nothing', { timeout: 60_000 }, async () => {
    setArgs(['sleep', '30']);
    const id = newId();
    const created = await runtime(runcRoot, ['create', '--bundle', bundle, id], base);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const state = async (): Promise<{ status: string; pid: number }> =>
      JSON.parse((await runtime(runcRoot, ['state', id], base)).stdout) as { status: string; pid: number };
    const s1 = await state();
    expect(s1.status).toBe('created');
    // no mount of ours on the host: the injector holds the only copy until start
    expect(ourMounts()).toEqual([]);
    const started = await runtime(runcRoot, ['start', id], base);
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect((await state()).status).toBe('running');
    // the container's init now sees procfuse at /proc (read from the host's procfs)
    const mi = fs.readFileSync(`/proc/${s1.pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.split(' ')[4] === '/proc');
    expect(mi.at(-1)).toMatch(/ - fuse\.procfuse procfuse /);
    // status and stat of the container's pid 1 through ours (read in its mount
    // namespace) equal the kernel's procfs mounted with pidns= of the container
    // (busybox head, not cat: see the sendfile test below)
    const ours = spawnSync('nsenter', ['-t', String(s1.pid), '-m', 'head', '-q', '-n', '100', '/proc/1/status', '/proc/1/stat'], { encoding: 'utf8' });
    const kdir = fs.mkdtempSync(path.join(base, 'kproc-'));
    const kernel = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t proc -o pidns=/proc/${s1.pid}/ns/pid proc ${kdir} && cat ${kdir}/1/status ${kdir}/1/stat`],
      { encoding: 'utf8' },
    );
    fs.rmdirSync(kdir);
    expect(ours.status).toBe(0);
    expect(kernel.status).toBe(0);
    const pidLines = (t: string) => t.match(/^(Tgid|Pid|PPid|TracerPid|NStgid|NSpid|NSpgid|NSsid):.*$/gm);
    const statPids = (t: string) => {
      const stat = t.trim().split('\n').at(-1)!;
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return [stat.split(' ')[0], rest[1], rest[2], rest[3], rest[5]];
    };
    expect(pidLines(ours.stdout)).toEqual(pidLines(kernel.stdout));
    expect(pidLines(ours.stdout)).toContain('Pid:\t1');
    expect(statPids(ours.stdout)).toEqual(statPids(kernel.stdout));
    expect((await runtime(runcRoot, ['kill', id, 'KILL'], base)).code).toBe(0);
    expect(await eventually(() => !fs.existsSync(`/proc/${s1.pid}/stat`) || /^\S+ \S+ Z/.test(fs.readFileSync(`/proc/${s1.pid}/stat`, 'utf8')))).toBe(true);
    const deleted = await runtime(runcRoot, ['delete', id], base);
    expect(deleted.code).toBe(0);
    await expectNothingLeft(id);
  });

  test('run: SIGTERM to the runtime reaches the container\'s init, and its status is the run\'s', { timeout: 60_000 }, async () => {
    setArgs(['sh', '-c', 'trap "echo got TERM; exit 9" TERM; echo ready; while :; do sleep 0.1; done']);
    const id = newId();
    const r = await new Promise<Result>((resolve) => {
      const p = spawn(RUNTIME, ['--root', runcRoot, 'run', id], {
        cwd: bundle,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PROCFUSE_NODE: process.execPath },
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout === 'ready\n') p.kill('SIGTERM');
      });
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => setTimeout(() => resolve({ code, stdout, stderr }), 50));
    });
    expect(r.stdout).toBe('ready\ngot TERM\n');
    expect(r.code).toBe(9);
    await expectNothingLeft(id);

  });

  test('run: a container killed by SIGKILL (runtime kill ID KILL) gives 137', { timeout: 60_000 }, async () => {
    setArgs(['sh', '-c', 'echo ready; sleep 30']);
    const id = newId();
    const r = await new Promise<Result>((resolve) => {
      const p = spawn(RUNTIME, ['--root', runcRoot, 'run', id], {
        cwd: bundle,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PROCFUSE_NODE: process.execPath },
      });
      let stdout = '';
      p.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout === 'ready\n') void runtime(runcRoot, ['kill', id, 'KILL'], base);
      });
      p.on('exit', (code) => setTimeout(() => resolve({ code, stdout, stderr: '' }), 50));
    });
    expect(r.code).toBe(128 + 9);
    await expectNothingLeft(id);
  });

  test('create or run with the id of an existing container fails and leaves that container and its view alone', { timeout: 60_000 }, async () => {
    setArgs(['sleep', '30']);
    const id = newId();
    expect((await runtime(runcRoot, ['create', '--bundle', bundle, id], base)).code).toBe(0);
    const before = fs.readdirSync(STATE_ROOT).filter((d) => d.endsWith(`-${id}`));
    expect(before).toHaveLength(1);
    for (const args of [['create', '--bundle', bundle, id], ['run', id]]) {
      const r = await runtime(runcRoot, args, bundle);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`procfuse-runtime: container with id ${id} exists\n`);
    }
    expect(fs.readdirSync(STATE_ROOT).filter((d) => d.endsWith(`-${id}`))).toEqual(before);
    expect(fs.readFileSync(path.join(STATE_ROOT, before[0]!, 'inject.status'), 'utf8')).toBe('created ' + JSON.parse((await runtime(runcRoot, ['state', id], base)).stdout).pid + '\narmed\n');
    expect((await runtime(runcRoot, ['start', id], base)).code).toBe(0);
    expect((await runtime(runcRoot, ['delete', '--force', id], base)).code).toBe(0);
    await expectNothingLeft(id);
  });

  // busybox cat copies with sendfile(2); on a FUSE file opened with
  // FOPEN_DIRECT_IO the kernel splices through the page cache up to i_size
  // (fs/fuse/file.c fuse_splice_read -> filemap_splice_read), and procfs files
  // have size 0, so sendfile answers EOF at once (docs/known-differences.md).
  test.fails('busybox cat /proc/self/maps prints the maps (fails: sendfile on a size-0 FUSE direct_io file is EOF)', { timeout: 60_000 }, async () => {
    setArgs(['sh', '-c', 'cat /proc/self/maps | head -1; head -1 /proc/self/maps']);
    const id = newId();
    const r = await runtime(runcRoot, ['run', id], bundle);
    await expectNothingLeft(id);
    const [viaCat, viaHead] = r.stdout.split('\n');
    expect(viaHead).toMatch(/\/bin\/busybox$/); // read(2) works
    expect(viaCat).toBe(viaHead);
  });

  test('a failing runc create passes its status through and leaves nothing', { timeout: 60_000 }, async () => {
    const id = newId();
    const r = await runtime(runcRoot, ['create', '--bundle', path.join(base, 'no-such-bundle'), id], base);
    expect(r.code).not.toBe(0);
    await expectNothingLeft(id);
  });
});
