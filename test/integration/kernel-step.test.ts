/**
 * Checks at the kernel's step, side by side with the host's /proc: O_DIRECT is
 * refused at open; stat's masking is decided for the reader of each read;
 * fdinfo/N is checked again at open; a non-dumpable process may list its own
 * fd/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { canMount, startMount, type Mount } from '../helpers/with-mount';

const PY = '/usr/bin/python3';
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

function py(script: string, args: string[], who: string[] = []): { out: string; err: string; status: number | null } {
  const cmd = who.length ? 'setpriv' : PY;
  const argv = who.length ? [...who, PY, '-c', script, ...args] : ['-c', script, ...args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 20_000 });
  return { out: r.stdout.trim(), err: r.stderr.trim(), status: r.status };
}

/** Resolves with the first line `child` prints. */
function firstLine(child: ChildProcess): Promise<string> {
  const rl = readline.createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`exited (${c}) before printing`)));
  });
}

describe.skipIf(!canMount())('checks at the kernel\'s step', () => {
  let m: Mount;
  const children: ChildProcess[] = [];
  let scratch: string;

  beforeAll(async () => {
    m = await startMount();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-step-'));
    fs.chmodSync(scratch, 0o755);
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await m?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('O_DIRECT opens fail with EINVAL, as on procfs (do_dentry_open: no FMODE_CAN_ODIRECT)', () => {
    const script = [
      'import os, sys',
      'for p in sys.argv[1:]:',
      '    try:',
      '        os.close(os.open(p, os.O_RDONLY | os.O_DIRECT)); print("ok")',
      '    except OSError as e: print(e.errno)',
    ].join('\n');
    const files = ['uptime', 'self/status', 'self/maps', 'self/mem', 'self/stat', 'kallsyms'];
    const ours = py(script, files.map((f) => `${m.dir}/${f}`)).out;
    const host = py(script, files.map((f) => `/proc/${f}`)).out;
    expect(ours).toBe(host);
    expect(ours.split('\n')).toEqual(files.map(() => String(os.constants.errno.EINVAL)));
  });

  test('stat read through an fd opened by root, after the reader dropped to uid 65534: masked, as decided at read', async () => {
    const target = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(target);
    // Opened as root (may read), read after setuid(65534) (may not): do_task_stat
    // decides at the read, for current.
    const script = [
      'import os, sys',
      'f = os.open(sys.argv[1], os.O_RDONLY)',
      'os.setgroups([]); os.setgid(65534); os.setuid(65534)',
      'text = os.read(f, 4096).decode()',
      'print(" ".join(text[text.rindex(")") + 2:].split()[23:]))',
    ].join('\n');
    const ours = py(script, [`${m.dir}/${target.pid}/stat`]).out;
    const host = py(script, [`/proc/${target.pid}/stat`]).out;
    // fields 26.. (start_code onward): the masked ones are 1/0 on both
    const fields = (s: string) => s.split(' ');
    expect(fields(ours)[0]).toBe('1'); // start_code
    expect(fields(ours)[2]).toBe('0'); // start_stack
    expect(fields(ours).slice(0, 5)).toEqual(fields(host).slice(0, 5));
  });

  test('fdinfo/N reopened after the task exec\'d a setuid program: EACCES at open (seq_fdinfo_open)', async () => {
    const suid = path.join(scratch, 'suid-sleep');
    fs.copyFileSync('/bin/sleep', suid);
    fs.chownSync(suid, 0, 0);
    fs.chmodSync(suid, 0o4755);
    const target = spawn('setpriv', [...NOBODY, 'sh', '-c', `echo ready; read x; exec ${suid} 60`], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(target);
    await firstLine(target);
    const pid = target.pid!;
    // Each reader opens fdinfo/0 while it may, waits, then reopens the same
    // file through its own /proc/self/fd/5 (an open of the inode, no lookup).
    const reader = (file: string) => {
      const c = spawn('setpriv', [...NOBODY, 'sh', '-c', `exec 5<${file}; echo opened; read x; exec cat /proc/self/fd/5`], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(c);
      return c;
    };
    const ours = reader(`${m.dir}/${pid}/fdinfo/0`);
    const host = reader(`/proc/${pid}/fdinfo/0`);
    await Promise.all([firstLine(ours), firstLine(host)]);
    target.stdin!.write('go\n');
    // wait for the exec (the suid image: euid 0)
    for (let i = 0; i < 100; i++) {
      const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^Uid:\t65534\t0\t/m.test(st)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const outcome = async (c: ChildProcess) => {
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
      c.stdin!.write('go\n');
      const code = await exited;
      return { code, err: err.replace(/^cat: [^:]+: /, '').trim() };
    };
    const [o, h] = [await outcome(ours), await outcome(host)];
    expect(h.err).toBe('Permission denied');
    expect(o).toEqual(h);
  });

  test('a non-dumpable process lists its own fd/ (proc_fd_permission: same thread group)', () => {
    const script = [
      'import ctypes, os, sys',
      'ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0',
      'try: print(sorted(int(x) for x in os.listdir(sys.argv[1] + "/self/fd"))[:3])',
      'except OSError as e: print(e.strerror)',
    ].join('\n');
    const ours = py(script, [m.dir], NOBODY);
    const host = py(script, ['/proc'], NOBODY);
    expect(host.out).toBe('[0, 1, 2]');
    expect(ours.out).toBe(host.out);
  });
});

describe.skipIf(!canMount())('the kernel judges ptrace-mode opens as the reader', () => {
  let m: Mount;
  const children: ChildProcess[] = [];
  /** uid 0 whose exec leaves it without capabilities: root in a container with few capabilities. */
  const CAPLESS_ROOT = ['--bounding-set=-all', '--inh-caps=-all'];

  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await m?.stop();
  });

  const outcome = (who: string[], argv: string[]) => {
    const r = spawnSync('setpriv', [...who, ...argv], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, out: r.stdout, err: r.stderr.replace(/^[a-z]+: [^:]+: /gm, '').trim() };
  };

  test('uid 0 without capabilities reads maps, environ, fd links of another capless uid-0 process, as on the host', () => {
    const target = spawn('setpriv', [...CAPLESS_ROOT, 'sleep', '60'], { stdio: 'ignore' });
    children.push(target);
    // setpriv execs sleep: wait for the image
    for (let i = 0; i < 100 && !fs.readFileSync(`/proc/${target.pid}/comm`, 'utf8').startsWith('sleep'); i++) {
      spawnSync('sleep', ['0.05']);
    }
    const pid = target.pid!;
    for (const argv of [
      ['head', '-1'],
      ['head', '-c', '64'],
    ]) {
      for (const f of argv.length === 2 ? ['maps', 'smaps', 'smaps_rollup'] : ['environ', 'auxv']) {
        const ours = outcome(CAPLESS_ROOT, [...argv, `${m.dir}/${pid}/${f}`]);
        const host = outcome(CAPLESS_ROOT, [...argv, `/proc/${pid}/${f}`]);
        expect(host.status, `${f}: ${host.err}`).toBe(0);
        expect(ours, f).toEqual(host);
      }
    }
    for (const l of ['exe', 'cwd', 'fd/0']) {
      const ours = outcome(CAPLESS_ROOT, ['readlink', `${m.dir}/${pid}/${l}`]);
      const host = outcome(CAPLESS_ROOT, ['readlink', `/proc/${pid}/${l}`]);
      expect(host.status, `${l}: ${host.err}`).toBe(0);
      expect(ours, l).toEqual(host);
    }
    // and uid 65534 is still refused, as on the host
    const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
    expect(outcome(nobody, ['head', '-1', `${m.dir}/${pid}/maps`])).toEqual(outcome(nobody, ['head', '-1', `/proc/${pid}/maps`]));
    expect(outcome(nobody, ['readlink', `${m.dir}/${pid}/exe`]).status).toBe(1);
  });
});
