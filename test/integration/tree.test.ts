/**
 * The procfs skeleton, side by side with the host's /proc: self, thread-self,
 * the process listing, task/, pid-name parsing, owners, and daemon lifecycle.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { buildCProgram } from '../helpers/c-programs';
import { canMount, CLI, fuseMountAt, startMount, type Mount } from '../helpers/with-mount';

/** Starts a program that prints one JSON line first; killed in teardown. */
async function startJson<T>(bin: string, args: string[], children: ChildProcess[]): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const rl = readline.createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`${bin} exited (${c}) before printing`)));
  });
  return { child, info: JSON.parse(line) as T };
}

/** errno name of a failing lstat, or 'ok'. */
function lstatErr(p: string): string {
  try {
    fs.lstatSync(p);
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

describe.skipIf(!canMount())('procfs skeleton', () => {
  let m: Mount;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await m?.stop();
  });

  test('readlink self gives each of three callers its own pid, as the host does', () => {
    for (let i = 0; i < 3; i++) {
      // `exec` keeps the shell's pid, so the readlink caller's pid is known.
      const out = execFileSync('sh', ['-c', `echo $$; exec readlink ${m.dir}/self`], { encoding: 'utf8' }).split('\n');
      expect(out[1]).toBe(out[0]);
      const host = execFileSync('sh', ['-c', 'echo $$; exec readlink /proc/self'], { encoding: 'utf8' }).split('\n');
      expect(host[1]).toBe(host[0]);
    }
  });

  test('self from a non-leader thread names the thread group; thread-self names the thread', async () => {
    const bin = buildCProgram('threads');
    const { child, info } = await startJson<{ pid: number; tids: number[]; self: string; threadSelf: string }>(
      bin,
      ['2', m.dir],
      children,
    );
    expect(info.tids[0]).not.toBe(info.pid);
    expect(info.self).toBe(String(info.pid));
    expect(info.threadSelf).toBe(`${info.pid}/task/${info.tids[0]}`);
    // The same program against the host's /proc says the same.
    const { info: hostInfo } = await startJson<{ pid: number; tids: number[]; self: string; threadSelf: string }>(
      bin,
      ['2', '/proc'],
      children,
    );
    expect(hostInfo.self).toBe(String(hostInfo.pid));
    expect(hostInfo.threadSelf).toBe(`${hostInfo.pid}/task/${hostInfo.tids[0]}`);
    child.stdin!.end();
  });

  test('the listing has a fresh child and loses it right after it is reaped', async () => {
    const child = spawn('sleep', ['60']);
    children.push(child);
    const pid = child.pid!;
    expect(fs.readdirSync(m.dir)).toContain(String(pid));
    expect(fs.readdirSync('/proc')).toContain(String(pid));
    const reaped = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await reaped; // node has waited for it: the pid is gone
    expect(fs.readdirSync('/proc')).not.toContain(String(pid));
    expect(fs.readdirSync(m.dir)).not.toContain(String(pid));
    expect(lstatErr(path.join(m.dir, String(pid)))).toBe('ENOENT');
  });

  test('the root lists self, thread-self and exactly the host thread-group leaders', () => {
    const ours = fs.readdirSync(m.dir, { withFileTypes: true });
    expect(ours.find((d) => d.name === 'self')?.isSymbolicLink()).toBe(true);
    expect(ours.find((d) => d.name === 'thread-self')?.isSymbolicLink()).toBe(true);
    const pids = (names: string[]) => new Set(names.filter((n) => /^\d+$/.test(n)));
    const before = pids(fs.readdirSync('/proc'));
    const mine = pids(ours.map((d) => d.name));
    const after = pids(fs.readdirSync('/proc'));
    // Processes may come and go while we list: compare the stable ones.
    for (const p of before) if (after.has(p)) expect(mine.has(p)).toBe(true);
    for (const p of mine) expect(before.has(p) || after.has(p)).toBe(true);
    for (const d of ours.filter((d) => /^\d+$/.test(d.name))) expect(d.isDirectory()).toBe(true);
  });

  test('task/ of a multi-threaded child lists its tids, like the host', async () => {
    const { child, info } = await startJson<{ pid: number; tids: number[] }>(buildCProgram('threads'), ['5'], children);
    const ours = fs.readdirSync(path.join(m.dir, String(info.pid), 'task')).map(Number).sort((a, b) => a - b);
    const host = fs.readdirSync(`/proc/${info.pid}/task`).map(Number).sort((a, b) => a - b);
    expect(ours).toEqual(host);
    expect(ours).toEqual([info.pid, ...info.tids].sort((a, b) => a - b));
    // task/<tid> of another thread group is not there (proc_task_lookup).
    expect(lstatErr(path.join(m.dir, String(info.pid), 'task', '1'))).toBe('ENOENT');
    // A thread's own directory has no task/ (tid_base_stuff).
    expect(lstatErr(path.join(m.dir, String(info.pid), 'task', String(info.tids[0]), 'task'))).toBe('ENOENT');
    // /proc/<tid> of a non-leader resolves although the listing does not show it.
    expect(lstatErr(path.join(m.dir, String(info.tids[0])))).toBe('ok');
    expect(lstatErr(`/proc/${info.tids[0]}`)).toBe('ok');
    expect(fs.readdirSync(m.dir)).not.toContain(String(info.tids[0]));
    // nlink of task/ grows with the threads, as on the host.
    expect(fs.statSync(path.join(m.dir, String(info.pid), 'task')).nlink).toBe(
      fs.statSync(`/proc/${info.pid}/task`).nlink,
    );
    child.stdin!.end();
  });

  test.each(['0', '00123', '+5', '-1', '1e3', '4294967296', '99999999', '01', 'abc', ' 1', '1 '])(
    'pid name %j gives ENOENT, as on the host',
    (name) => {
      expect(lstatErr(path.join(m.dir, name))).toBe('ENOENT');
      expect(lstatErr(path.join('/proc', name))).toBe('ENOENT');
    },
  );

  test('a process that exited gives ENOENT at once (no cached entry)', async () => {
    const child = spawn('sleep', ['60']);
    children.push(child);
    const dir = path.join(m.dir, String(child.pid));
    expect(lstatErr(dir)).toBe('ok');
    expect(lstatErr(path.join(dir, 'status'))).toBe('ok');
    const reaped = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await reaped;
    expect(lstatErr(dir)).toBe('ENOENT');
    expect(lstatErr(path.join(dir, 'status'))).toBe('ENOENT');
  });

  test('owners, modes and link counts match the host for a process of another uid', async () => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '60']);
    children.push(child);
    await new Promise((r) => setTimeout(r, 200)); // setpriv has exec'd sleep
    const pid = String(child.pid);
    for (const rel of ['', 'task', 'status', 'cmdline', 'comm', 'stat', 'statm']) {
      const ours = fs.lstatSync(path.join(m.dir, pid, rel));
      const host = fs.lstatSync(path.join('/proc', pid, rel));
      expect({ rel, mode: ours.mode, uid: ours.uid, gid: ours.gid }).toEqual({
        rel,
        mode: host.mode,
        uid: host.uid,
        gid: host.gid,
      });
      expect(ours.uid).toBe(65534);
    }
    const self = fs.lstatSync(path.join(m.dir, 'self'));
    expect(self.isSymbolicLink()).toBe(true);
    expect(self.uid).toBe(0);
    expect(self.mode & 0o777).toBe(0o777);
    child.kill('SIGKILL');
  });

  test('stat hides the address-space layout from a reader without access, as the kernel does', async () => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '60']);
    children.push(child);
    await new Promise((r) => setTimeout(r, 200));
    const asOther = (p: string) =>
      execFileSync('setpriv', ['--reuid=65533', '--regid=65533', '--clear-groups', '--inh-caps=-all', 'cat', p], {
        encoding: 'latin1',
      });
    const kernel = asOther(`/proc/${child.pid}/stat`);
    const ours = asOther(path.join(m.dir, String(child.pid), 'stat'));
    expect(ours).toBe(kernel);
    expect(kernel.split(' ')[25]).toBe('1'); // start_code is masked...
    // ...while root sees the real layout, through both.
    const rootView = fs.readFileSync(path.join(m.dir, String(child.pid), 'stat'), 'latin1');
    expect(rootView.split(' ')[25]).not.toBe('1');
    expect(rootView).toBe(fs.readFileSync(`/proc/${child.pid}/stat`, 'latin1'));
    child.kill('SIGKILL');
  });

  test('stat of a task whose credentials we cannot read (pid 1 here) is masked as the kernel masks it', () => {
    const layout = (t: string) => {
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      return [...f.slice(23, 28), f[32], ...f.slice(42, 50)].join(' '); // fields 26-30, 35, 45-52
    };
    const kernel = fs.readFileSync('/proc/1/stat', 'latin1');
    const ours = fs.readFileSync(path.join(m.dir, '1', 'stat'), 'latin1');
    expect(layout(ours)).toBe(layout(kernel));
  });

  test('/proc/net (a link to self/net) lists what the host lists; its files read', () => {
    expect(fs.readlinkSync(path.join(m.dir, 'net'))).toBe(fs.readlinkSync('/proc/net'));
    expect(fs.readdirSync(path.join(m.dir, 'net')).sort()).toEqual(fs.readdirSync('/proc/net').sort());
    const header = (p: string) => fs.readFileSync(p, 'latin1').split('\n').slice(0, 2).join('\n');
    expect(header(path.join(m.dir, 'net', 'dev'))).toBe(header('/proc/net/dev'));
  });

  test('ls -l, stat and find accept the tree', () => {
    const pid = String(process.pid);
    const ls = spawnSync('ls', ['-l', path.join(m.dir, pid)], { encoding: 'utf8' });
    expect(ls.status).toBe(0);
    expect(ls.stdout).toMatch(/^dr-xr-xr-x .* task$/m);
    const find = spawnSync('find', [path.join(m.dir, pid)], { encoding: 'utf8' });
    expect(find.status).toBe(0);
    expect(find.stdout.split('\n')).toContain(path.join(m.dir, pid, 'task', pid, 'status'));
    const st = spawnSync('stat', ['-c', '%F %a %U', path.join(m.dir, pid, 'status')], { encoding: 'utf8' });
    expect(st.stdout.trim()).toBe('regular empty file 444 root');
  });

  test('status read through the mount is the host file of the same process', () => {
    // cat runs as its own process: its /self/status names it.
    const out = execFileSync('sh', ['-c', `exec cat ${m.dir}/self/status`], { encoding: 'utf8' });
    expect(out).toMatch(/^Name:\tcat$/m);
    const pid = Number(/^Pid:\t(\d+)$/m.exec(out)![1]);
    const tgid = Number(/^Tgid:\t(\d+)$/m.exec(out)![1]);
    expect(tgid).toBe(pid);
  });

  test('procfs refuses to create or remove entries', () => {
    const code = (f: () => void) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as NodeJS.ErrnoException).code;
      }
    };
    expect(code(() => fs.mkdirSync(path.join(m.dir, 'x')))).toBe('EPERM');
    expect(code(() => fs.writeFileSync(path.join(m.dir, 'x'), ''))).toBe('EACCES');
    expect(code(() => fs.rmdirSync(path.join(m.dir, String(process.pid))))).toBe('EPERM');
    expect(code(() => fs.mkdirSync('/proc/x'))).toBe('ENOENT');
  });
});

describe.skipIf(!canMount())('daemon lifecycle', () => {
  test('SIGTERM unmounts cleanly and the daemon exits 0', async () => {
    const m = await startMount();
    try {
      expect(fuseMountAt(m.dir)).toBeDefined();
      const code = new Promise<number | null>((r) => m.daemon.once('exit', (c) => r(c)));
      m.daemon.kill('SIGTERM');
      expect(await code).toBe(0);
      expect(fuseMountAt(m.dir)).toBeUndefined();
    } finally {
      await m.stop();
    }
  });

  test('SIGTERM while a process holds a file open on the mount: the daemon still exits, nothing hangs', async () => {
    const m = await startMount();
    const holder = spawn('sh', ['-c', `exec sleep 60 < ${m.dir}/self/status`]);
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(fs.readlinkSync(`/proc/${holder.pid}/fd/0`)).toMatch(/\/status$/);
      const code = new Promise<number | null>((r) => m.daemon.once('exit', (c) => r(c)));
      const t0 = Date.now();
      m.daemon.kill('SIGTERM');
      expect(await code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(fuseMountAt(m.dir)).toBeUndefined();
    } finally {
      holder.kill('SIGKILL');
      await m.stop();
    }
  });

  test('after SIGKILL the next mount on the same dir clears the stale mount', async () => {
    const dir = fs.mkdtempSync('/tmp/procfuse-test-');
    try {
      const first = await startMount([], dir);
      const gone = new Promise<void>((r) => first.daemon.once('exit', () => r()));
      first.daemon.kill('SIGKILL');
      await gone;
      expect(lstatErr(dir)).toBe('ENOTCONN');
      const second = await startMount([], dir);
      try {
        expect(second.log()).toMatch(/clearing a stale mount/);
        const out = execFileSync('sh', ['-c', `echo $$; exec readlink ${dir}/self`], { encoding: 'utf8' }).split('\n');
        expect(out[1]).toBe(out[0]);
      } finally {
        await second.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an external unmount makes the daemon exit', async () => {
    const m = await startMount();
    try {
      const code = new Promise<number | null>((r) => m.daemon.once('exit', (c) => r(c)));
      const r = spawnSync(process.execPath, [CLI, 'unmount', m.dir], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(await code).toBe(0);
    } finally {
      await m.stop();
    }
  });

  test('--max-read caps each FUSE read; the data is unchanged', async () => {
    const m = await startMount(['--max-read', '65536', '--fuse-debug']);
    try {
      // The largest readable mapping of this process, read through both.
      let best: [bigint, bigint] = [0n, 0n];
      for (const l of fs.readFileSync('/proc/self/maps', 'latin1').split('\n')) {
        const r = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(l);
        if (!r) continue;
        const a = BigInt(`0x${r[1]}`);
        const b = BigInt(`0x${r[2]}`);
        if (b - a > best[1] - best[0]) best = [a, b];
      }
      const len = Math.min(1 << 20, Number(best[1] - best[0]));
      const read = (p: string) => {
        const fd = fs.openSync(p, 'r');
        try {
          const buf = Buffer.alloc(len);
          return buf.subarray(0, fs.readSync(fd, buf, 0, len, best[0]));
        } finally {
          fs.closeSync(fd);
        }
      };
      const ours = read(path.join(m.dir, String(process.pid), 'mem'));
      expect(ours.length).toBe(len);
      expect(ours.equals(read(`/proc/${process.pid}/mem`))).toBe(true);
      // libfuse's trace reaches us through the daemon's stderr pipe: let it arrive.
      for (let i = 0; i < 50 && (m.log().match(/outsize: 65552/g) ?? []).length < len / 65536; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const sizes = [...m.log().matchAll(/opcode: READ \(15\)[^\n]*\n\s+unique: \d+, success, outsize: (\d+)/g)].map((x) => Number(x[1]));
      expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(len / 65536));
      expect(Math.max(...sizes)).toBe(65536 + 16); // payload + fuse_out_header
    } finally {
      await m.stop();
    }
  });

  test('clear errors for bad mountpoints', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    let r = run('mount', '/etc/hostname');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('procfuse: cannot mount /etc/hostname: not a directory\n');
    r = run('mount', '/no/such/dir');
    expect(r.stderr).toBe('procfuse: cannot mount /no/such/dir: no such directory\n');
    r = run('mount');
    expect(r.status).toBe(2);
    r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/exit status/);
    r = run('frobnicate');
    expect(r.status).toBe(2);
  });
});
