/**
 * bubblewrap with a `-o pidns=caller` mount bound over its /proc
 * (`bwrap --unshare-pid --bind <mnt> /proc`): each sandbox sees its own pid
 * namespace, compared with the kernel's procfs of the same namespace, which
 * bwrap itself mounts beside ours (`--proc`).
 */
import { spawn, spawnSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { canMount, startMount, type Mount } from '../helpers/with-mount';

const haveBwrap = spawnSync('sh', ['-c', 'command -v bwrap']).status === 0;

/** bwrap with the host's root, ours at /proc and the kernel's at /run/kproc */
function bwrap(mnt: string, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(
      'bwrap',
      ['--bind', '/', '/', '--dev', '/dev', '--unshare-pid', '--tmpfs', '/run/k', '--proc', '/run/k/proc', '--bind', mnt, '/proc', '--', 'sh', '-c', script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const PID_LINES = /^(Tgid|Pid|PPid|TracerPid|NStgid|NSpid|NSpgid|NSsid):.*$/gm;

describe.skipIf(!canMount() || !haveBwrap)('bwrap --unshare-pid --bind <pidns=caller mount> /proc', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await startMount(['-o', 'pidns=caller']);
  });
  afterAll(async () => {
    await m?.stop();
  });

  test('the root lists the sandbox\'s pids as the kernel\'s procfs of its namespace does; self is the namespace pid; a host pid is ENOENT', { timeout: 30_000 }, async () => {
    const r = await bwrap(
      m.dir,
      `sleep 30 & a=$!; echo /proc/[0-9]*; cd /run/k/proc && echo /proc/[0-9]*; cd -P /proc/self && pwd; ` +
        `test -e /proc/${process.pid} && echo host-visible || echo host-ENOENT; kill $a`,
    );
    expect(r.stderr).toBe('');
    const [ours, kernel, self, host] = r.stdout.trim().split('\n');
    expect(ours).toBe(kernel);
    // bwrap's own init (1), the shell (2), sleep (3)
    expect(ours).toBe('/proc/1 /proc/2 /proc/3');
    expect(self).toBe('/proc/2');
    expect(host).toBe('host-ENOENT');
  });

  test('status and stat pid fields equal the kernel\'s; maps and mem of a child work by its namespace pid', { timeout: 30_000 }, async () => {
    const r = await bwrap(
      m.dir,
      'sleep 30 & a=$!; until [ "$(cat /proc/$a/comm)" = sleep ]; do :; done; for f in 1/status $$/status $a/status; do cat /proc/$f; echo @@; cat /run/k/proc/$f; echo @@; done; ' +
        'for f in 1/stat $$/stat $a/stat; do cut -d" " -f1,4,5,6,8 /proc/$f /run/k/proc/$f; done; ' +
        // the sleep's first mapping and the ELF magic at its start, through ours
        'read -r range rest < /proc/$a/maps; echo "$rest" | tr -s " " | cut -d" " -f5; ' +
        'dd if=/proc/$a/mem bs=1 skip=$((0x${range%-*})) count=4 2>/dev/null | od -An -c | tr -s " "; kill $a',
    );
    expect(r.code).toBe(0);
    const parts = r.stdout.split('@@\n');
    for (let i = 0; i < 6; i += 2) expect(parts[i]!.match(PID_LINES)).toEqual(parts[i + 1]!.match(PID_LINES));
    const tail = parts[6]!.trim().split('\n');
    for (let i = 0; i < 6; i += 2) expect(tail[i]).toBe(tail[i + 1]);
    expect(tail[6]).toMatch(/\/sleep$/);
    expect(tail[7]).toBe(' 177 E L F');
  });

  test('pgrep and kill inside give the namespace pids, as with the kernel\'s procfs', { timeout: 30_000 }, async () => {
    const r = await bwrap(m.dir, 'sleep 31 & a=$!; echo "$a $(pgrep -x sleep)"; kill $(pgrep -x sleep); wait $a; echo "status=$?"');
    expect(r.stdout).toBe('3 3\nstatus=143\n');
  });

  test('two sandboxes served by one mount see disjoint process lists', { timeout: 30_000 }, async () => {
    const list = 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done';
    const [a, b] = await Promise.all([
      bwrap(m.dir, `sleep 41.5 & sleep 0.5; ${list}; kill $!`),
      bwrap(m.dir, `sleep 42.5 & sleep 0.5; ${list}; kill $!`),
    ]);
    expect(a.stdout).toContain('sleep 41.5');
    expect(a.stdout).not.toContain('sleep 42.5');
    expect(b.stdout).toContain('sleep 42.5');
    expect(b.stdout).not.toContain('sleep 41.5');
  });
});
