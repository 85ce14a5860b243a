/**
 * A bounded, seeded fuzz of the request path (test/fixtures/fuzz_requests.py):
 * odd names, flags, offsets and sizes, and random lookup/open/read/close
 * sequences, as root and as uid 65534 at once. The daemon must not crash,
 * hang or hit an internal error, and must never answer with another
 * process's data. CI runs a few thousand operations; `npm run stress` runs
 * more (PROCFUSE_FUZZ_ITER, PROCFUSE_FUZZ_SEED to replay).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { canMount, startMount, type Mount } from '../helpers/with-mount';

const FUZZER = path.resolve(__dirname, '../fixtures/fuzz_requests.py');
const ITER = Number(process.env.PROCFUSE_FUZZ_ITER ?? 3000);
const SEED = Number(process.env.PROCFUSE_FUZZ_SEED ?? Date.now() % 1_000_000);
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

interface Summary {
  ops: number;
  ok: number;
  errors: Record<string, number>;
  seed: number;
  broken: string[];
}

function fuzz(who: string[], root: string, seed: number, pids: number[]): Promise<{ code: number | null; summary?: Summary; err: string }> {
  return new Promise((resolve) => {
    const c = spawn('setpriv', [...who, '/usr/bin/python3', FUZZER, root, String(ITER), String(seed), ...pids.map(String)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // A hang is a failure: the fuzzer is killed and its status is null.
    const t = setTimeout(() => c.kill('SIGKILL'), Math.max(60_000, ITER * 20));
    c.on('exit', (code) => {
      clearTimeout(t);
      let summary: Summary | undefined;
      try {
        summary = JSON.parse(out.trim().split('\n').pop() ?? '') as Summary;
      } catch {
        // no summary: it crashed or was killed
      }
      resolve({ code, summary, err });
    });
  });
}

describe.skipIf(!canMount())('fuzz of the request path', () => {
  let m: Mount;
  const children: ChildProcess[] = [];
  const pids: number[] = [1];

  beforeAll(async () => {
    m = await startMount();
    for (const who of [[], NOBODY]) {
      const c = spawn('setpriv', [...who, 'sleep', '600'], { stdio: 'ignore' });
      children.push(c);
      pids.push(c.pid!);
    }
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await m?.stop();
  });

  test(`${ITER} random operations as root and as uid 65534 at once (seed ${SEED}): no crash, no hang, no other process's data`, async () => {
    const runs = await Promise.all([fuzz([], m.dir, SEED, pids), fuzz(NOBODY, m.dir, SEED + 1, pids)]);
    for (const r of runs) {
      process.stdout.write(`fuzz: ${JSON.stringify(r.summary)}\n`);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.summary?.broken).toEqual([]);
      expect(r.summary?.ops).toBe(ITER);
    }
    // still serving, and no handler failed with a bug
    expect(m.daemon.exitCode).toBeNull();
    const self = execFileSync('sh', ['-c', `echo $$; exec readlink ${m.dir}/self`], { encoding: 'utf8', timeout: 10_000 }).split('\n');
    expect(self[1]).toBe(self[0]);
    expect(m.log()).not.toMatch(/internal error/);
  }, Math.max(60_000, ITER * 25));
});
