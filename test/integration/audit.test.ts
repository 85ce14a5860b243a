/**
 * `--audit FILE`: one JSON line per open of a protected file, with who, whose,
 * which file, the decision and its rule; SIGHUP reopens the file (logrotate).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { canMount, startMount, type Mount } from '../helpers/with-mount';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

interface Line {
  time: string;
  caller: { tid: number; pid: number; uid: number; gid: number };
  view: string;
  file: string;
  target?: { pid: number; startTime: string };
  decision: 'allow' | 'deny';
  errno?: string;
  rule: string;
  kernel?: string;
  policy?: string;
}

const lines = (file: string): Line[] =>
  fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : [];

async function until<T>(f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!canMount())('--audit', () => {
  let m: Mount;
  let dir: string;
  let file: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-audit-'));
    file = path.join(dir, 'audit.jsonl');
    m = await startMount(['--audit', file]);
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await m?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('who read whose maps, environ and mem, kallsyms and mtrr: one line each, with the decision and its rule', async () => {
    const target = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(target);
    const pid = target.pid!;
    const as = (who: string[], f: string) => spawnSync('setpriv', [...who, 'head', '-c', '16', f], { timeout: 10_000 });
    as(NOBODY, `${m.dir}/${pid}/maps`); // denied: root's process
    as([], `${m.dir}/${pid}/environ`); // root: allowed
    as([], `${m.dir}/${pid}/mem`); // opened (the read fails: nothing mapped at 0)
    as(NOBODY, `${m.dir}/kallsyms`); // allowed, addresses hidden by the kernel
    as(NOBODY, `${m.dir}/mtrr`); // EPERM where the machine has MTRRs
    as(NOBODY, `${m.dir}/uptime`); // not protected: not audited
    const got = await until(() => {
      const l = lines(file);
      return l.some((x) => x.file === 'kallsyms') ? l : undefined;
    });
    const maps = got.find((l) => l.file === 'maps' && l.target?.pid === pid)!;
    expect(maps).toMatchObject({ decision: 'deny', errno: 'EACCES', rule: 'kernel', kernel: 'EACCES', caller: { uid: 65534 } });
    expect(maps.target!.startTime).toMatch(/^\d+$/);
    expect(maps.policy).toMatch(/^EACCES/);
    expect(got.find((l) => l.file === 'environ' && l.target?.pid === pid)).toMatchObject({ decision: 'allow', caller: { uid: 0 } });
    expect(got.find((l) => l.file === 'mem' && l.target?.pid === pid)).toMatchObject({ decision: 'allow' });
    expect(got.find((l) => l.file === 'kallsyms')).toMatchObject({ decision: 'allow', rule: 'kernel', caller: { uid: 65534 } });
    if (fs.existsSync('/proc/mtrr')) expect(got.find((l) => l.file === 'mtrr')).toMatchObject({ decision: 'deny', errno: 'EPERM' });
    expect(got.some((l) => l.file === 'uptime')).toBe(false);
    for (const l of got) expect(Number.isNaN(Date.parse(l.time))).toBe(false);
  });

  test('SIGHUP reopens the audit file: after a rotation new lines go to the new file', async () => {
    fs.renameSync(file, `${file}.1`);
    m.daemon.kill('SIGHUP');
    await until(() => (m.log().includes('reopened') ? true : undefined));
    spawnSync('head', ['-c', '16', `${m.dir}/kallsyms`], { timeout: 10_000 });
    const fresh = await until(() => (lines(file).length > 0 ? lines(file) : undefined));
    expect(fresh.map((l) => l.file)).toEqual(['kallsyms']);
    expect(fs.existsSync(m.dir + '/self')).toBe(true); // still serving
  });
});
