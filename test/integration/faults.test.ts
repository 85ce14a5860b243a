/**
 * --faults rules through the real mount, side by side with the host's /proc:
 * each fault kind shows exactly the injected behaviour on exactly the selected
 * range, everything outside the selection reads byte for byte as the host's,
 * and a rule for one pid leaves another alone. Then: reload without remounting
 * (file change, SIGHUP, `procfuse faults reload`) and hit counts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { addr, killAllTargets, startTarget, type Target } from '../helpers/c-programs';
import { readFd, readPath, waitFor } from '../helpers/mem-io';
import { canMount, CLI, startMount, type Mount } from '../helpers/with-mount';

const PAGE = 4096n;
const T = { timeout: 60_000 };

const hex = (a: bigint): string => `0x${a.toString(16)}`;

function faultsStatus(mnt: string, cmd = 'status'): { generation: number; error?: string; rules: Array<{ name: string; hits: number }> } {
  return JSON.parse(execFileSync(process.execPath, [CLI, 'faults', cmd, mnt], { encoding: 'utf8', timeout: 20_000 }));
}

const hitsOf = (mnt: string, name: string): number | undefined => faultsStatus(mnt).rules.find((r) => r.name === name)?.hits;

function mapsLines(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n').filter((l) => l);
}

function rangeOf(pid: number, name: string): { start: bigint; end: bigint } {
  const line = mapsLines(pid).find((l) => l.endsWith(` ${name}`));
  if (!line) throw new Error(`${name} not in maps of ${pid}`);
  const [s, e] = line.split(' ')[0]!.split('-');
  return { start: BigInt(`0x${s}`), end: BigInt(`0x${e}`) };
}

/** Reads `len` at `at` of the host's and the mount's mem of `pid`, each through a fresh fd. */
function both(mnt: string, pid: number, at: bigint, len: number): { host: Buffer | string; ours: Buffer | string } {
  return { host: readPath(`/proc/${pid}/mem`, at, len), ours: readPath(`${mnt}/${pid}/mem`, at, len) };
}

describe.skipIf(!canMount())('mem fault rules through the mount', () => {
  let a: Target;
  let b: Target;
  let mount: Mount;
  let dir: string;
  let rulesPath: string;
  let big: bigint; // the start of mem_target's 64 MiB patterned mapping (page aligned)

  const pidA = (): number => a.info.pid as number;
  const pidB = (): number => b.info.pid as number;

  beforeAll(async () => {
    a = await startTarget('mem_target');
    b = await startTarget('mem_target');
    big = addr(a.info.big);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-faults-'));
    rulesPath = path.join(dir, 'rules.json');
    const at = (page: bigint): string => hex(big + page * PAGE);
    fs.writeFileSync(
      rulesPath,
      JSON.stringify({
        version: 1,
        rules: [
          { name: 'eio', target: { pid: pidA() }, range: { start: at(1n), end: at(3n) }, action: 'eio' },
          { name: 'short-n', target: { pid: pidA() }, range: { start: at(10n), end: at(11n) }, action: 'short', bytes: 100 },
          { name: 'short-page', target: { pid: pidA() }, range: { start: at(20n), end: at(22n) }, action: 'short' },
          { name: 'zeros', target: { pid: pidA() }, range: { start: hex(big + 30n * PAGE + 1000n), end: hex(big + 30n * PAGE + 3000n) }, action: 'zeros' },
          { name: 'eof-2nd', target: { pid: pidA() }, range: { start: at(40n), end: at(41n) }, action: 'eof', nth: 2 },
          { name: 'delay', target: { pid: pidA() }, range: { start: at(50n), end: at(51n) }, action: 'delay', ms: 400 },
          { name: 'coin', target: { pid: pidA() }, range: { start: at(60n), end: at(61n) }, action: 'eio', probability: 0.5, seed: 42 },
          { name: 'stack', target: { pid: pidA() }, mapping: '[stack]', pages: { last: 1 }, action: 'eio' },
          { name: 'elf', target: { pid: pidA() }, mapping: 'elf-header', action: 'zeros' },
          { name: 'other-caller', caller: { pid: 1 }, action: 'eio' },
        ],
      }),
    );
    mount = await startMount(['--faults', rulesPath]);
  }, 60_000);

  afterAll(async () => {
    await mount?.stop();
    await killAllTargets();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('eio: the selected pages read as unmapped (EIO inside, a short read that stops at them), the rest as the host', T, () => {
    const m = mount.dir;
    expect(both(m, pidA(), big + PAGE, 16).ours).toBe('EIO');
    expect(both(m, pidA(), big + 2n * PAGE + 4000n, 16).ours).toBe('EIO');
    // A read from the page before runs into the "hole": exactly the bytes up to it.
    const into = both(m, pidA(), big + 100n, 3 * 4096);
    expect(Buffer.isBuffer(into.ours) && into.ours.length).toBe(4096 - 100);
    expect(into.ours).toEqual((into.host as Buffer).subarray(0, 4096 - 100));
    // Just after the range: the host's bytes.
    const after = both(m, pidA(), big + 3n * PAGE, 8192);
    expect(after.ours).toEqual(after.host);
    // The other target: no rule selects it.
    const bBig = addr(b.info.big);
    const other = both(m, pidB(), bBig + PAGE, 8192);
    expect(Buffer.isBuffer(other.ours) && other.ours.length).toBe(8192);
    expect(other.ours).toEqual(other.host);
  });

  test('short: N bytes, or up to the next page boundary, of the host bytes', T, () => {
    const m = mount.dir;
    const n = both(m, pidA(), big + 10n * PAGE, 4096);
    expect(n.ours).toEqual((n.host as Buffer).subarray(0, 100));
    const p = both(m, pidA(), big + 20n * PAGE + 1234n, 3 * 4096);
    expect(p.ours).toEqual((p.host as Buffer).subarray(0, 4096 - 1234));
    // A read that does not overlap the range is whole.
    const whole = both(m, pidA(), big + 22n * PAGE, 8192);
    expect(whole.ours).toEqual(whole.host);
  });

  test('zeros: exactly the selected bytes are zero, the ones around them are the host bytes', T, () => {
    const { host, ours } = both(mount.dir, pidA(), big + 30n * PAGE, 4096);
    const expected = Buffer.from(host as Buffer);
    expected.fill(0, 1000, 3000);
    expect(ours).toEqual(expected);
    expect((host as Buffer).subarray(1000, 3000).some((x) => x !== 0)).toBe(true);
  });

  test('eof on the 2nd read: 0 bytes from then on, on every address of that open file, as after exit', T, () => {
    const fd = fs.openSync(`${mount.dir}/${pidA()}/mem`, 'r');
    try {
      const host = readPath(`/proc/${pidA()}/mem`, big + 40n * PAGE, 64) as Buffer;
      expect(readFd(fd, big + 40n * PAGE, 64)).toEqual(host);
      expect(readFd(fd, big + 40n * PAGE, 64)).toEqual(Buffer.alloc(0));
      expect(readFd(fd, big + 5n * PAGE, 64)).toEqual(Buffer.alloc(0));
    } finally {
      fs.closeSync(fd);
    }
    // A new open starts counting afresh.
    const again = both(mount.dir, pidA(), big + 40n * PAGE, 64);
    expect(again.ours).toEqual(again.host);
  });

  test('delay: the read waits at least the rule\'s time, then gives the host bytes', T, () => {
    const t0 = process.hrtime.bigint();
    const { host, ours } = both(mount.dir, pidA(), big + 50n * PAGE, 4096);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(ours).toEqual(host);
    expect(ms).toBeGreaterThanOrEqual(390);
  });

  test('probability with a seed: the same reads fail in every open, and some do not', T, () => {
    const run = (): string => {
      const fd = fs.openSync(`${mount.dir}/${pidA()}/mem`, 'r');
      try {
        return Array.from({ length: 32 }, () => (readFd(fd, big + 60n * PAGE, 16) === 'EIO' ? 'x' : '.')).join('');
      } finally {
        fs.closeSync(fd);
      }
    };
    const first = run();
    expect(run()).toBe(first);
    expect(first).toMatch(/x/);
    expect(first).toMatch(/\./);
  });

  test('mapping selectors: the last page of [stack], the ELF header page of each file mapping', T, () => {
    const m = mount.dir;
    const stack = rangeOf(pidA(), '[stack]');
    expect(both(m, pidA(), stack.end - 64n, 16).ours).toBe('EIO');
    const below = both(m, pidA(), stack.end - 2n * PAGE, 8192);
    expect(below.ours).toEqual((below.host as Buffer).subarray(0, 4096));
    // ELF headers read as zeros; the second page of the same file is the host's.
    const exe = fs.readlinkSync(`/proc/${pidA()}/exe`);
    const first = mapsLines(pidA()).find((l) => l.endsWith(` ${exe}`))!;
    const start = BigInt(`0x${first.split('-')[0]}`);
    const hdr = both(m, pidA(), start, 64);
    expect((hdr.host as Buffer).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(hdr.ours).toEqual(Buffer.alloc(64));
    // Target B's headers are untouched.
    const firstB = mapsLines(pidB()).find((l) => l.endsWith(` ${exe}`))!;
    const hdrB = both(m, pidB(), BigInt(`0x${firstB.split('-')[0]}`), 64);
    expect(hdrB.ours).toEqual(hdrB.host);
  });

  test('hit counts: one per read the rule acted on; rules selecting nothing stay at 0', T, () => {
    const before = hitsOf(mount.dir, 'short-n')!;
    both(mount.dir, pidA(), big + 10n * PAGE, 4096);
    both(mount.dir, pidA(), big + 10n * PAGE + 5n, 4096);
    both(mount.dir, pidA(), big + 11n * PAGE, 4096); // outside: no hit
    expect(hitsOf(mount.dir, 'short-n')).toBe(before + 2);
    expect(hitsOf(mount.dir, 'other-caller')).toBe(0);
  });

  test('reload: a changed file applies to new opens at once, an open fd keeps its rules, an invalid file keeps the old ones', T, async () => {
    const m = mount.dir;
    const gen = faultsStatus(m).generation;
    const keep = fs.openSync(`${m}/${pidA()}/mem`, 'r'); // compiled under the first rules
    try {
      fs.writeFileSync(
        rulesPath,
        JSON.stringify({ version: 1, rules: [{ name: 'b-only', target: { pid: pidB() }, range: { start: hex(addr(b.info.big)), end: hex(addr(b.info.big) + PAGE) }, action: 'eio' }] }),
      );
      await waitFor(() => faultsStatus(m).generation > gen, 'the daemon to reload the rules');
      expect(both(m, pidB(), addr(b.info.big), 16).ours).toBe('EIO');
      const nowA = both(m, pidA(), big + PAGE, 16);
      expect(nowA.ours).toEqual(nowA.host); // the old "eio" rule is gone for new opens
      expect(readFd(keep, big + PAGE, 16)).toBe('EIO'); // ...but not for the fd opened before
      expect(faultsStatus(m).rules.map((r) => [r.name, r.hits])).toEqual([['b-only', 1]]);

      // An invalid file: the error names the rule, the rules in force stay.
      fs.writeFileSync(rulesPath, JSON.stringify({ version: 1, rules: [{ name: 'typo', action: 'eoi' }] }));
      await waitFor(() => faultsStatus(m).error !== undefined, 'the daemon to reject the file');
      const st = faultsStatus(m);
      expect(st.error).toMatch(/rule 1 "typo": "action" must be one of/);
      expect(st.rules.map((r) => r.name)).toEqual(['b-only']);
      expect(both(m, pidB(), addr(b.info.big), 16).ours).toBe('EIO');

      // SIGHUP reloads (and does not unmount).
      const g2 = faultsStatus(m).generation;
      fs.writeFileSync(rulesPath, JSON.stringify({ version: 1, rules: [] }));
      mount.daemon.kill('SIGHUP');
      await waitFor(() => faultsStatus(m).generation > g2, 'SIGHUP to reload');
      expect(mount.daemon.exitCode).toBe(null);
      const clean = both(m, pidB(), addr(b.info.big), 16);
      expect(clean.ours).toEqual(clean.host);
    } finally {
      fs.closeSync(keep);
    }
  });
});

describe.skipIf(!canMount())('maps fault rules through the mount', () => {
  let a: Target;
  let b: Target;
  let c: Target;
  let mount: Mount;
  let dir: string;

  beforeAll(async () => {
    a = await startTarget('mem_target');
    b = await startTarget('mem_target');
    c = await startTarget('mem_target');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-faults-'));
    const rules = path.join(dir, 'rules.json');
    fs.writeFileSync(
      rules,
      JSON.stringify({
        version: 1,
        rules: [
          { name: 'hide-stack', file: 'maps', target: { pid: a.info.pid }, mapping: '[stack]', action: 'hide' },
          { name: 'cut-lines', file: 'maps', target: { pid: b.info.pid }, action: 'truncate', lines: 3 },
          { name: 'torn', file: 'maps', target: { pid: c.info.pid }, action: 'torn', lines: 1, mapping: 'elf-header' },
        ],
      }),
    );
    mount = await startMount(['--faults', rules, '--debug']);
  }, 60_000);

  afterAll(async () => {
    await mount?.stop();
    await killAllTargets();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('hide removes exactly the selected entries; truncate keeps the first N lines; other lines are the host bytes', T, async () => {
    const pa = a.info.pid as number;
    const pb = b.info.pid as number;
    const hostA = mapsLines(pa);
    const oursA = fs.readFileSync(`${mount.dir}/${pa}/maps`, 'latin1').split('\n').filter((l) => l);
    expect(oursA).toEqual(hostA.filter((l) => !l.endsWith(' [stack]')));
    expect(hostA.some((l) => l.endsWith(' [stack]'))).toBe(true);
    const oursB = fs.readFileSync(`${mount.dir}/${pb}/maps`, 'latin1');
    expect(oursB).toBe(`${mapsLines(pb).slice(0, 3).join('\n')}\n`);
    // torn after line 1: the ELF header mapping on line 1 is still there, the
    // later ones (libc, ld.so) were "unmapped" before the second read.
    const pc = c.info.pid as number;
    const hostC = mapsLines(pc);
    const isHeader = (l: string): boolean => {
      const f = l.split(/ +/);
      return f[2] === '00000000' && f[4] !== '0';
    };
    expect(isHeader(hostC[0]!)).toBe(true);
    const oursC = fs.readFileSync(`${mount.dir}/${pc}/maps`, 'latin1').split('\n').filter((l) => l);
    expect(oursC).toEqual([hostC[0], ...hostC.slice(1).filter((l) => !isHeader(l))]);
    expect(hostC.slice(1).filter(isHeader).length).toBeGreaterThan(1);
    // Other files of the same process are untouched.
    expect(fs.readFileSync(`${mount.dir}/${pa}/smaps`, 'latin1')).toMatch(/\[stack\]/);
    // Logged under procfuse:faults, naming the rule.
    const logged = new RegExp(`procfuse:faults maps of ${pa} read by pid \\d+: hide-stack`);
    await waitFor(() => logged.test(mount.log()), 'the daemon to log the maps rule');
    expect(mount.log()).toMatch(/procfuse:faults .*loaded .*hide-stack=maps:hide/);
  });
});

describe.skipIf(!canMount())('--faults at mount time', () => {
  test('an invalid rules file stops the mount with an error naming the rule', T, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-faults-'));
    try {
      const rules = path.join(dir, 'rules.json');
      fs.writeFileSync(rules, JSON.stringify({ version: 1, rules: [{ name: 'ok', action: 'eio' }, { name: 'bad', action: 'short', bytes: -1 }] }));
      const mnt = path.join(dir, 'mnt');
      fs.mkdirSync(mnt);
      const r = spawnSync(process.execPath, [CLI, 'mount', mnt, '--foreground', '--faults', rules], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/rule 2 "bad": "bytes" must be a whole number/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
