/**
 * --policy: the operator's hide/deny rules, on a real mount, as uid 0 and 65534,
 * with SIGHUP reloads. The kernel has no such thing; what the rules do not
 * select must stay what the host shows.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

import { CLI, canMount, withMount } from '../helpers/with-mount';

const T = { timeout: 60_000 };

function sh(script: string, uid?: number): { out: string; err: string } {
  const argv = uid === undefined ? ['sh', '-c', script] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', script];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  return { out: r.stdout, err: r.stderr };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function policyFile(rules: unknown[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-policy-'));
  dirs.push(dir);
  const f = path.join(dir, 'policy.json');
  fs.writeFileSync(f, JSON.stringify({ rules }, null, 2));
  return f;
}

describe.skipIf(!canMount())('--policy', () => {
  test('hide: absent for lookup and listing; deny: listed, EACCES at open and below; per uid; the rest untouched', T, async () => {
    const f = policyFile([
      { path: 'kallsyms', action: 'hide' },
      { path: '<pid>/environ', action: 'deny', uid: 65534 },
      { path: 'sys', action: 'deny' },
    ]);
    await withMount(async (m) => {
      const r = sh(`ls ${m.dir} | grep -cx kallsyms; cat ${m.dir}/kallsyms | head -1; ls ${m.dir} | grep -cx sys; cat ${m.dir}/sys/kernel/pid_max; cat ${m.dir}/uptime >/dev/null && echo uptime-ok`);
      expect(r.out.split('\n').slice(0, 2)).toEqual(['0', '1']);
      expect(r.err).toMatch(/kallsyms: No such file or directory/);
      expect(r.err).toMatch(/pid_max: Permission denied/);
      expect(r.out).toMatch(/uptime-ok/);
      // uid 65534 is denied its own environ; root is not.
      const nobody = sh(`cat ${m.dir}/self/environ >/dev/null && echo environ-ok`, 65534);
      expect(nobody.err).toMatch(/environ: Permission denied/);
      expect(sh(`cat ${m.dir}/self/environ >/dev/null && echo environ-ok`).out).toMatch(/environ-ok/);
      expect(sh(`cat ${m.dir}/self/status | head -1`, 65534).out).toMatch(/^Name:/);
    }, ['--policy', f]);
  });

  test('SIGHUP reloads the file; a broken file is refused at mount and kept out on reload', T, async () => {
    const f = policyFile([{ path: 'uptime', action: 'hide' }]);
    const bad = policyFile([{ path: 'uptime', action: 'explode' }]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-'));
    const refused = spawnSync(process.execPath, [CLI, 'mount', dir, '--foreground', '--policy', bad], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    fs.rmdirSync(dir);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${bad}: rule 1 (line 3): "action" must be "hide" or "deny", not "explode"`);
    await withMount(async (m) => {
      expect(sh(`cat ${m.dir}/uptime`).err).toMatch(/No such file/);
      fs.writeFileSync(f, JSON.stringify({ rules: [{ path: 'loadavg', action: 'hide' }] }));
      m.daemon.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      expect(sh(`cat ${m.dir}/uptime`).out).toMatch(/^[0-9.]+ [0-9.]+\n$/);
      expect(sh(`cat ${m.dir}/loadavg`).err).toMatch(/No such file/);
      fs.writeFileSync(f, '{"rules": [');
      m.daemon.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      expect(m.log()).toMatch(/keeping the previous policy/);
      expect(sh(`cat ${m.dir}/loadavg`).err).toMatch(/No such file/);
      expect(m.daemon.exitCode).toBeNull();
    }, ['--policy', f]);
  });
});
