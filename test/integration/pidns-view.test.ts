/**
 * Pid-namespace views, side by side with the kernel's own procfs mounted for the
 * same namespace (mount -t proc -o pidns=..., with the same hidepid/subset
 * options), read by the same process inside the namespace.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, test } from 'vitest';

import { mountKernelProc, startPidSandbox, type PidSandbox } from '../helpers/pid-sandbox';
import { canMount, startMount, type Mount } from '../helpers/with-mount';

const DUMP = path.resolve(__dirname, '../fixtures/js/proc-view-dump.js');
const T = { timeout: 60_000 };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sandbox(script = 'sleep 1000 & sleep 1000 & wait', children = 2): Promise<PidSandbox> {
  const s = await startPidSandbox(script, children);
  cleanups.push(() => s.stop());
  return s;
}
async function mount(args: string[]): Promise<Mount> {
  const m = await startMount(args);
  cleanups.push(() => m.stop());
  return m;
}
function kernelProc(nsPath: string, options = ''): string {
  const k = mountKernelProc(nsPath, options);
  cleanups.push(() => k.stop());
  return k.dir;
}
type Dump = Record<string, { pids: string[]; others: string[]; self: unknown; threadSelf: unknown; procs: Record<string, unknown> }>;
/** One process inside the namespace dumps both trees. */
function dumpIn(s: PidSandbox, roots: string[], as?: { uid: number; gid: number }): Dump {
  const r = s.run([process.execPath, DUMP, ...roots], as);
  if (r.status !== 0) throw new Error(`dump failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Dump;
}
/** The dump with self/thread-self numbers made relative: two reads by one process agree on them. */
function same(d: Dump, a: string, b: string): void {
  expect(d[b]).toEqual(d[a]);
}

describe.skipIf(!canMount())('pid-namespace views', () => {
  test('-o pidns=PID: listing, self, thread-self, task/ and every pid field equal the kernel procfs of that namespace', T, async () => {
    const s = await sandbox();
    const m = await mount(['-o', `pidns=${s.init}`]);
    const ref = kernelProc(s.nsPath);
    const d = dumpIn(s, [ref, m.dir]);
    same(d, ref, m.dir);
    // init, its two sleepers, nsenter's child (the dumper) — nothing of the host.
    expect(d[m.dir]!.pids.map(Number).every((n) => n < 10)).toBe(true);
    expect(d[m.dir]!.pids).toContain('1');
    expect((d[m.dir]!.procs['1'] as { stat: string[] }).stat.slice(0, 2)).toEqual(['1', '0']); // the init has PPid 0
  });

  test('a pidns= given as a namespace file works the same as its pid', T, async () => {
    const s = await sandbox();
    const m = await mount(['-o', `pidns=${s.nsPath}`]);
    const ref = kernelProc(s.nsPath);
    same(dumpIn(s, [ref, m.dir]), ref, m.dir);
  });

  test('a caller outside the namespace: self dangles (ENOENT), host pids are ENOENT, 1 is the sandbox init', T, async () => {
    const s = await sandbox();
    const m = await mount(['-o', `pidns=${s.init}`]);
    const r = spawnSync('sh', ['-c', `readlink ${m.dir}/self; echo "rc=$?"; cat ${m.dir}/${process.pid}/status 2>&1 | head -1; tr '\\0' ' ' < ${m.dir}/1/cmdline`], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^rc=1\n/);
    expect(r.stdout).toMatch(/No such file or directory/);
    expect(r.stdout).toMatch(/sh -c sleep 1000/);
  });

  test('-o pidns=caller: two sandboxes served by one mount see disjoint worlds, each its kernel procfs', T, async () => {
    const a = await sandbox('sleep 1000 & sleep 1000 & wait', 2);
    const b = await sandbox('sleep 1001 & wait', 1);
    const m = await mount(['-o', 'pidns=caller']);
    const refA = kernelProc(a.nsPath);
    const refB = kernelProc(b.nsPath);
    const da = dumpIn(a, [refA, m.dir]);
    const db = dumpIn(b, [refB, m.dir]);
    same(da, refA, m.dir);
    same(db, refB, m.dir);
    const cmdline = (s: PidSandbox) => s.run(['sh', '-c', `tr '\\0' ' ' < ${m.dir}/1/cmdline`]).stdout;
    expect(cmdline(a)).toMatch(/sleep 1000 & sleep 1000/);
    expect(cmdline(b)).toMatch(/sleep 1001/);
    // The host, in the daemon's namespace, still sees the host.
    expect(fs.readdirSync('/proc').filter((n) => n === String(a.init)).length).toBe(1);
    const host = spawnSync('ls', [m.dir], { encoding: 'utf8' }).stdout.split('\n');
    expect(host).toContain(String(a.init));
    expect(host).toContain(String(process.pid));
  });

  for (const hidepid of ['invisible', 'noaccess', 'ptraceable']) {
    test(`hidepid=${hidepid} for uid 65534 equals the kernel's procfs with hidepid=${hidepid}`, T, async () => {
      // One root sleeper, one uid-65534 sleeper.
      const s = await sandbox('sleep 1000 & setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1000 & wait', 2);
      const m = await mount(['-o', `pidns=${s.init},hidepid=${hidepid}`]);
      const ref = kernelProc(s.nsPath, `hidepid=${hidepid}`);
      const d = dumpIn(s, [ref, m.dir], { uid: 65534, gid: 65534 });
      same(d, ref, m.dir);
      if (hidepid === 'noaccess') expect(d[m.dir]!.pids).toContain('1');
      else expect(d[m.dir]!.pids).not.toContain('1');
    });
  }

  test('gid= exempts its members from hidepid, as the kernel does', T, async () => {
    const s = await sandbox();
    const m = await mount(['-o', `pidns=${s.init},hidepid=invisible,gid=4242`]);
    const ref = kernelProc(s.nsPath, 'hidepid=invisible,gid=4242');
    const d = dumpIn(s, [ref, m.dir], { uid: 65534, gid: 4242 });
    same(d, ref, m.dir);
    expect(d[m.dir]!.pids).toContain('1');
  });

  test('subset=pid lists and resolves only processes, self and thread-self, as the kernel does', T, async () => {
    const s = await sandbox();
    const m = await mount(['-o', `pidns=${s.init},subset=pid`]);
    const ref = kernelProc(s.nsPath, 'subset=pid');
    const d = dumpIn(s, [ref, m.dir]);
    same(d, ref, m.dir);
    expect(d[m.dir]!.others).toEqual(['self', 'thread-self']);
    expect(s.run(['cat', `${m.dir}/uptime`]).stderr).toMatch(/No such file/);
  });

  test('maps and mem of a process by its namespace pid equal the kernel procfs of that namespace', T, async () => {
    const s = await sandbox();
    const m = await mount(['-o', `pidns=${s.init}`]);
    const ref = kernelProc(s.nsPath);
    const script = `
      const fs = require('fs');
      const out = {};
      for (const root of process.argv.slice(1)) {
        const maps = fs.readFileSync(root + '/2/maps', 'latin1');
        const start = BigInt('0x' + maps.split('-')[0]);
        const fd = fs.openSync(root + '/2/mem', 'r');
        const b = Buffer.alloc(64);
        const n = fs.readSync(fd, b, 0, 64, start);
        fs.closeSync(fd);
        out[root] = { maps, mem: b.subarray(0, n).toString('hex') };
      }
      process.stdout.write(JSON.stringify(out));`;
    const r = s.run([process.execPath, '-e', script, ref, m.dir]);
    expect(r.status).toBe(0);
    const d = JSON.parse(r.stdout) as Record<string, { maps: string; mem: string }>;
    expect(d[m.dir]!.maps.length).toBeGreaterThan(100);
    expect(d[m.dir]).toEqual(d[ref]);
    expect(d[m.dir]!.mem.startsWith('7f454c46')).toBe(true); // the ELF header of sleep
  });

  test('pids started and reaped in a loop: /proc/<n>/status always names n, never another process', T, async () => {
    const s = await sandbox();
    const m = await mount(['-o', `pidns=${s.init}`]);
    const script = `
      const fs = require('fs'); const { spawn } = require('child_process');
      let churn = true; const kids = [];
      (function loop() { if (!churn) return; const c = spawn('true'); c.on('exit', loop); })();
      let checked = 0, wrong = [];
      const end = Date.now() + 1500;
      while (Date.now() < end) {
        for (let n = 2; n < 80; n++) {
          let text; try { text = fs.readFileSync(process.argv[1] + '/' + n + '/status', 'latin1'); } catch { continue; }
          const pid = /\\nPid:\\t(\\d+)/.exec(text);
          checked++;
          if (!pid || Number(pid[1]) !== n) wrong.push(n + ':' + (pid && pid[1]));
        }
      }
      churn = false;
      process.stdout.write(JSON.stringify({ checked, wrong }));
      process.exit(0);`;
    const r = s.run([process.execPath, '-e', script, m.dir]);
    expect(r.status).toBe(0);
    const { checked, wrong } = JSON.parse(r.stdout) as { checked: number; wrong: string[] };
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });

  test('ps, pgrep and kill inside a new pid namespace with the mount over /proc answer as with its own procfs', T, async () => {
    const m = await mount(['-o', 'pidns=caller']);
    // Numbers are compared through the shell's own $! (a pid taken in between would shift them);
    // ps runs once both sleepers have exec'd (a child not yet exec'd is still 'sh').
    const body =
      'sleep 1000 & a=$!; sleep 1001 & b=$!; while [ "$(pgrep -c -x sleep)" != 2 ]; do sleep 0.05; done; ps -eo ppid,comm; ps -o comm= -p $a; [ "$(pgrep sleep | tr \'\\n\' \' \')" = "$a $b " ] && echo pgrep-ok; ' +
      'kill $a; wait $a; [ "$(pgrep sleep)" = "$b" ] && echo kill-ok; kill $b';
    const run = (bind: string[]) =>
      spawnSync('unshare', ['--pid', '--fork', '--mount', '--kill-child', ...bind, 'sh', '-c', body], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    const kernel = run(['--mount-proc']);
    const ours = spawnSync('unshare', ['--pid', '--fork', '--mount', '--kill-child', 'sh', '-c', `mount --bind ${m.dir} /proc || exit 125; ${body}`], {
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    expect(kernel.stdout).toMatch(/sleep\npgrep-ok\nkill-ok\n$/);
    // (sh may report the killed job, as it does on the kernel's side.)
    expect(ours.stderr.replace(/^Terminated\n/gm, '')).toBe('');
    // Column widths follow /proc/sys/kernel/pid_max, which the kernel answers for
    // the READER's pid namespace (per namespace since 6.14); we pass through the
    // daemon's (docs/known-differences.md).
    const squeeze = (t: string) => t.replace(/ +/g, ' ').replace(/^ /gm, '');
    expect(squeeze(ours.stdout)).toBe(squeeze(kernel.stdout));
  });
});

describe.skipIf(!canMount())('debuggers in a pid-namespace view', () => {
  test('gdb -p (info proc mappings, bt) and eu-stack -p by namespace pid answer as with the namespace\'s own procfs', T, async () => {
    const m = await mount(['-o', 'pidns=caller']);
    // Both start one command before the target, so the target is pid 3 in both.
    const body =
      "sleep 100 & p=$!; sleep 0.3; echo pid $p; gdb -q -batch -p $p -ex 'info proc mappings' -ex bt 2>&1 | grep -E '/usr/bin/sleep|^#[0-9]'; " +
      'eu-stack -p $p 2>&1 | head -4; kill $p';
    const run = (first: string, extra: string[]) =>
      spawnSync('unshare', ['--pid', '--fork', '--mount', '--kill-child', ...extra, 'sh', '-c', `${first}; ${body}`], {
        encoding: 'utf8',
        timeout: 40_000,
        killSignal: 'SIGKILL',
      });
    const strip = (t: string) => t.replace(/0x[0-9a-f]+/g, 'ADDR').replace(/ +/g, ' ');
    const kernel = run('/bin/true', ['--mount-proc']);
    const ours = run(`mount --bind ${m.dir} /proc`, []);
    expect(kernel.stdout).toMatch(/pid 3\n/);
    expect(kernel.stdout).toMatch(/\/usr\/bin\/sleep/);
    expect(kernel.stdout).toMatch(/TID 3:/);
    expect(strip(ours.stdout)).toBe(strip(kernel.stdout));
  });
});

describe.skipIf(!canMount())('user-namespace views', () => {
  test('a reader in another user namespace sees status Uid/Gid/Groups and loginuid mapped, as the kernel shows it', T, async () => {
    const s = await sandbox('setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1000 & wait', 1);
    const m = await mount([]);
    const target = Number(fs.readFileSync(`/proc/${s.init}/task/${s.init}/children`, 'utf8').trim());
    // The same reader (one process) reads both: the host's procfs maps ids for its opener too.
    const script = `
      const fs = require('fs'); const out = {};
      for (const root of process.argv.slice(1)) for (const pid of [1, ${target}, ${s.init}]) {
        const st = fs.readFileSync(root + '/' + pid + '/status', 'latin1').split('\\n').filter((l) => /^(Uid|Gid|Groups):/.test(l));
        out[root + ':' + pid] = { st, loginuid: fs.readFileSync(root + '/' + pid + '/loginuid', 'latin1') };
      }
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync('unshare', ['--user', '--map-user=1000', '--map-group=1000', process.execPath, '-e', script, '/proc', m.dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const d = JSON.parse(r.stdout) as Record<string, { st: string[]; loginuid: string }>;
    for (const pid of [1, target, s.init]) expect(d[`${m.dir}:${pid}`]).toEqual(d[`/proc:${pid}`]);
    expect(d[`${m.dir}:1`]!.st[0]).toBe('Uid:\t1000\t1000\t1000\t1000');
    expect(d[`${m.dir}:${target}`]!.st[0]).toBe('Uid:\t65534\t65534\t65534\t65534');
  });
});

describe.skipIf(!canMount())('uid_map, gid_map, setgroups: read for the opener, written as the writer', () => {
  const inner = 'id; cat /proc/self/uid_map /proc/self/setgroups /proc/self/gid_map';
  // errno of a write the kernel refuses for this writer: map 0 to host root, as uid 65534.
  const refused = `python3 -c "
import os
try:
    fd = os.open('/proc/self/uid_map', os.O_WRONLY); os.write(fd, b'0 0 1\\\\n'); print('written')
except OSError as e:
    print('errno', e.errno)"`;
  const script = (who: string) =>
    `${who} unshare --user --map-root-user sh -c '${inner}'; echo "rc=$?"; ` +
    `setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user sh -c "${refused.replace(/"/g, '\\"')}"`;

  test('unshare --user --map-root-user works with the mount as /proc, as root and as uid 65534, as on the kernel', T, async () => {
    const m = await mount([]);
    for (const who of ['', 'setpriv --reuid=65534 --regid=65534 --clear-groups']) {
      const kernel = spawnSync('sh', ['-c', script(who)], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
      const ours = spawnSync('unshare', ['--mount', '--fork', 'sh', '-c', `mount --bind ${m.dir} /proc && { ${script(who)}; }`], {
        encoding: 'utf8',
        timeout: 20_000,
        killSignal: 'SIGKILL',
      });
      expect(kernel.stdout).toMatch(/^uid=0\(root\)/);
      expect(kernel.stdout).toMatch(/rc=0\nerrno 1\n$/);
      expect(ours.stdout).toBe(kernel.stdout);
    }
  });

  test('a reader outside sees a namespace\'s maps as the kernel shows them', T, async () => {
    const m = await mount([]);
    const s = spawnSync('sh', ['-c', `setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user --map-root-user sleep 5 & sleep 0.3; p=$!; cat /proc/$p/uid_map /proc/$p/gid_map /proc/$p/setgroups; echo --; cat ${m.dir}/$p/uid_map ${m.dir}/$p/gid_map ${m.dir}/$p/setgroups; kill $p`], {
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    const [kernel, ours] = s.stdout.split('--\n');
    expect(kernel).toMatch(/^ +0 +65534 +1\n/);
    expect(ours).toBe(kernel);
  });
});
