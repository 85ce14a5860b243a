/**
 * A bounded load test (test/fixtures/load_driver.py): one hostile caller —
 * smaps of a process with 20k mappings read in loops, `ls -l` of its 10k fds,
 * a reader stopped (SIGSTOP) in the middle of reading smaps — next to an
 * ordinary caller's `readlink self`, then open/read/close cycles. Prints the
 * figures: requests, errors, p50/p99 latency idle and under load, daemon RSS
 * and fd count before and after. Asserts correctness, never speed: the
 * ordinary caller gets right answers, nothing leaks, the daemon lives.
 * PROCFUSE_LOAD_CYCLES / PROCFUSE_LOAD_SECONDS scale it (npm run stress).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { canMount, startMount, type Mount } from '../helpers/with-mount';

const DRIVER = path.resolve(__dirname, '../fixtures/load_driver.py');
const CYCLES = Number(process.env.PROCFUSE_LOAD_CYCLES ?? 3000);
const SECONDS = Number(process.env.PROCFUSE_LOAD_SECONDS ?? 4);

interface Figures {
  daemon_before: { rss_kib: number; fds: number };
  daemon_after: { rss_kib: number; fds: number };
  idle_readlink_self: { calls: number; errors: number; p50_us: number; p99_us: number };
  loaded_readlink_self: { calls: number; errors: number; p50_us: number; p99_us: number };
  target: { maps: number; fds: number };
  cycles: { count: number; errors: number; us_per_cycle: number };
}

describe.skipIf(!canMount())('load with one hostile caller', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    await m?.stop();
  });

  test(`huge smaps, huge fd/, a stopped reader, then ${CYCLES} open/read/close cycles: right answers, no leak`, () => {
    const r = spawnSync('/usr/bin/python3', [DRIVER, m.dir, String(m.daemon.pid), String(CYCLES), String(SECONDS)], {
      encoding: 'utf8',
      timeout: 120_000 + CYCLES * 20,
      killSignal: 'SIGKILL',
    });
    expect(r.status, r.stderr).toBe(0);
    const f = JSON.parse(r.stdout) as Figures;
    process.stdout.write(`load: ${JSON.stringify(f)}\n`);
    expect(f.target.maps).toBeGreaterThan(10_000);
    expect(f.idle_readlink_self.errors).toBe(0);
    expect(f.loaded_readlink_self.errors).toBe(0);
    expect(f.loaded_readlink_self.calls).toBeGreaterThan(0);
    expect(f.cycles.errors).toBe(0);
    // fds: the host-file cache holds a few per task read; a leak would grow with the cycles
    expect(f.daemon_after.fds - f.daemon_before.fds).toBeLessThan(100);
    expect(m.daemon.exitCode).toBeNull();
  }, 300_000 + CYCLES * 20);
});
