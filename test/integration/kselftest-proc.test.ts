/**
 * The kernel's procfs selftests (tools/testing/selftests/proc of the Debian
 * linux-source package, built by test/helpers/kselftest-proc.ts) as a peer
 * suite: each runs once on the host's /proc and once with the mount bound over
 * /proc, each in a private mount namespace. Tests that mount a procfs of their
 * own are not applicable; every other one passes (or skips) as on the host, or
 * is a known difference (docs/known-differences.md) that is asserted to still
 * differ. The results go to test/.build/kselftest-proc.md.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { prepareProcSelftests, type ProcSelftests } from '../helpers/kselftest-proc';
import { canMount, startMount, type Mount } from '../helpers/with-mount';

const ROOT = path.resolve(__dirname, '../..');
const RESULTS_FILE = path.join(ROOT, 'test/.build/kselftest-proc.md');
/**
 * How long a selftest may run. fd-001-lookup makes tens of thousands of lookups
 * (~16 s through the mount on an idle machine); the known hangs get less.
 */
const TEST_TIMEOUT_MS = 120_000;
const HANG_TIMEOUT_MS = 15_000;
const HANGS = new Set(['proc-pid-vm']);

/** They mount a procfs of their own: what is under /proc does not matter to them. */
const NOT_APPLICABLE: Record<string, string> = {
  'proc-multiple-procfs': 'mounts two procfs instances itself (mount("proc"))',
  'proc-fsconfig-hidepid': 'creates its own procfs with fsopen("proc")/fsconfig',
  'proc-subset-pid': 'mounts its own procfs with subset=pid',
};

/** Differences FUSE or the current state forces; each is in docs/known-differences.md. */
const KNOWN: Record<string, string> = {
  read: "checks statfs f_type == PROC_SUPER_MAGIC; FUSE reports FUSE_SUPER_MAGIC",
  'proc-loadavg-001': "reads /proc/loadavg's last pid in a new pid namespace: procfuse shows the daemon's pid namespace",
  'proc-pid-vm': 'reopens a deleted memfd through /proc/self/fd/N, which only a magic link can do; its error path then waits on a pipe it holds itself',
  'proc-self-map-files-001': 'map_files/ is hidden (only meaningful as magic links)',
  'proc-self-map-files-002': 'map_files/ is hidden (only meaningful as magic links)',
  'setns-dcache': 'setns() on /proc/self/ns/net: ns/ links are plain symlinks over FUSE',
  'setns-sysvipc': 'setns() on /proc/self/ns/ipc: ns/ links are plain symlinks over FUSE',
};

type Result = 'pass' | 'skip' | 'fail' | 'timeout';

function outcome(status: number | null, timedOut: boolean): Result {
  if (timedOut) return 'timeout';
  if (status === 0) return 'pass';
  if (status === 4) return 'skip'; // KSFT_SKIP
  return 'fail'; // 1, or killed by a signal (a failed assert aborts)
}

const prepared: ProcSelftests | string = canMount() ? prepareProcSelftests() : 'cannot mount FUSE here';
const rows: Array<{ test: string; host: string; ours: string; note: string }> = [];

describe.skipIf(typeof prepared === 'string')("the kernel's procfs selftests through the mount", () => {
  const suite = prepared as ProcSelftests;
  let m: Mount;

  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    await m?.stop();
    const lines = [
      `Source: ${suite.source}`,
      '',
      '| test | host /proc | procfuse | note |',
      '| --- | --- | --- | --- |',
      ...rows.map((r) => `| \`${r.test}\` | ${r.host} | ${r.ours} | ${r.note} |`),
    ];
    fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    fs.writeFileSync(RESULTS_FILE, lines.join('\n') + '\n');
  });

  function run(name: string, ours: boolean): Result {
    const timeout = ours && HANGS.has(name) ? HANG_TIMEOUT_MS : TEST_TIMEOUT_MS;
    const script = ours ? `mount --bind ${m.dir} /proc && exec ./${name}` : `exec ./${name}`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      cwd: suite.dir,
      stdio: 'ignore',
      timeout,
      killSignal: 'SIGKILL',
    });
    return outcome(r.status, r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT');
  }

  /** The host's result; `read` walks all of /proc and aborts when a process vanishes mid-walk, so retry. */
  function host(name: string): Result {
    let r: Result = 'fail';
    for (let i = 0; i < 3 && r !== 'pass' && r !== 'skip'; i++) r = run(name, false);
    return r;
  }

  for (const name of suite.tests) {
    if (NOT_APPLICABLE[name]) {
      rows.push({ test: name, host: '', ours: 'not applicable', note: NOT_APPLICABLE[name]! });
      test.skip(`${name}: not applicable (${NOT_APPLICABLE[name]})`, () => {});
      continue;
    }
    if (suite.unbuilt.has(name)) {
      rows.push({ test: name, host: '', ours: 'not built', note: suite.unbuilt.get(name)! });
      test.skip(`${name}: did not build (${suite.unbuilt.get(name)})`, () => {});
      continue;
    }
    const known = KNOWN[name];
    test(known ? `${name}: differs, known: ${known}` : `${name}: the same result as on the host`, (t) => {
      const h = host(name);
      const o = run(name, true);
      if (h !== 'pass' && h !== 'skip') {
        // Nothing to compare with (e.g. `read` here: readdir of /proc/1/map_files is
        // EACCES when pid 1 holds capabilities we lack).
        rows.push({ test: name, host: h, ours: o, note: `the host's own run fails on this machine; ${known ?? ''}` });
        t.skip();
        return;
      }
      rows.push({ test: name, host: h, ours: o, note: o === h ? '' : (known ?? 'UNEXPECTED') });
      if (known) expect(o, `${name} now gives the host's result: drop it from KNOWN`).not.toBe(h);
      else expect(o).toBe(h);
    }, 5 * TEST_TIMEOUT_MS);
  }
});
