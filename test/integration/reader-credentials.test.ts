/**
 * Root-level files whose content or permission the kernel derives from the
 * opener's or reader's credentials, read through the mount and from the host's
 * /proc by the same unprivileged reader (setpriv): the bytes and the errno must
 * be the same, because the daemon opens and reads them wearing that reader's
 * credentials (native/reader_ops.h), not its own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { canMount, startMount, type Mount } from '../helpers/with-mount';

/** uid 65534 with no groups and no capabilities (the issue's "new user"). */
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
/** uid 0 whose bounding set is empty, so its exec leaves it without capabilities. */
const CAPLESS_ROOT = ['--bounding-set=-all', '--inh-caps=-all'];

interface Outcome {
  status: number | null;
  /** the bytes read, as hex (binary files such as bus/pci config space) */
  out: string;
  /** cat's error text with the path cut off ("Operation not permitted") */
  err: string;
}

function readAs(who: string[], file: string): Outcome {
  const r = spawnSync('setpriv', [...who, 'cat', file], { timeout: 20_000, maxBuffer: 64 << 20 });
  const err = r.stderr.toString().replace(/^cat: [^:]+: /, '').trim();
  return { status: r.status, out: r.stdout.toString('hex'), err };
}

describe.skipIf(!canMount())('root-level files are opened and read as the reader', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    await m?.stop();
  });

  const sameAsHost = (who: string[], rel: string): Outcome => {
    const ours = readAs(who, `${m.dir}/${rel}`);
    const host = readAs(who, `/proc/${rel}`);
    expect(ours).toEqual(host);
    return ours;
  };

  test('kallsyms as uid 65534: every address is 0, as the host shows that reader', () => {
    const r = sameAsHost(NOBODY, 'kallsyms');
    const text = Buffer.from(r.out, 'hex').toString('latin1');
    const lines = text.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(1000);
    // kallsyms_show_value(file->f_cred) is false for this opener (perf_event_paranoid 2, no CAP_SYSLOG).
    if (fs.readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8').trim() !== '-1') {
      expect(lines.filter((l) => !/^0+ /.test(l))).toEqual([]);
    }
  });

  test.each(['iomem', 'ioports'])('%s as uid 65534: the host\'s zeroed ranges (r_show without CAP_SYS_ADMIN)', (f) => {
    const r = sameAsHost(NOBODY, f);
    const text = Buffer.from(r.out, 'hex').toString('latin1');
    expect(text.length).toBeGreaterThan(0);
    for (const line of text.split('\n').filter(Boolean)) expect(line).toMatch(/^\s*0+-0+ : /);
  });

  test('keys as uid 65534: only the keys that reader may view (proc_keys_show, KEY_NEED_VIEW)', () => {
    const r = sameAsHost(NOBODY, 'keys');
    const text = Buffer.from(r.out, 'hex').toString('latin1');
    // No line of root's keyrings: every key shown belongs to uid 65534 (field 6 is the uid).
    for (const line of text.split('\n').filter(Boolean)) expect(line.split(/\s+/)[5]).toBe('65534');
  });

  test('bus/pci config space as uid 65534: the 64 bytes the host gives that reader', () => {
    const dirs = fs.existsSync('/proc/bus/pci') ? fs.readdirSync('/proc/bus/pci').filter((d) => /^[0-9a-f]{2}$/.test(d)) : [];
    if (dirs.length === 0) return; // no PCI bus in this machine
    const bus = dirs[0]!;
    const dev = fs.readdirSync(`/proc/bus/pci/${bus}`)[0]!;
    const r = sameAsHost(NOBODY, `bus/pci/${bus}/${dev}`);
    expect(r.out.length / 2).toBeLessThanOrEqual(128);
    // and root still gets the whole space
    expect(readAs([], `${m.dir}/bus/pci/${bus}/${dev}`).out).toBe(readAs([], `/proc/bus/pci/${bus}/${dev}`).out);
  });

  test('mtrr as uid 65534: EPERM at open (mtrr_open: capable(CAP_SYS_ADMIN))', () => {
    if (!fs.existsSync('/proc/mtrr')) return;
    const r = sameAsHost(NOBODY, 'mtrr');
    expect(r.err).toBe('Operation not permitted');
  });

  test('kmsg as uid 0 without capabilities: EPERM, and every other caller keeps being served', () => {
    const r = sameAsHost(CAPLESS_ROOT, 'kmsg');
    expect(r.err).toBe('Operation not permitted');
    // Root with every capability may read the host's kmsg, but the daemon never
    // reads it on anyone's behalf (a read blocks and consumes): EPERM, at once.
    const root = spawnSync('cat', [`${m.dir}/kmsg`], { timeout: 10_000 });
    expect(root.error).toBeUndefined();
    expect(root.stderr.toString()).toMatch(/Operation not permitted/);
    const self = execFileSync('sh', ['-c', `echo $$; exec readlink ${m.dir}/self`], { encoding: 'utf8', timeout: 10_000 }).split('\n');
    expect(self[1]).toBe(self[0]);
  });

  test('a file read through an fd opened by root, after the reader dropped to uid 65534, gives what the opener may see (f_cred)', () => {
    // kallsyms decides at open, for the opener: python opens as root, drops, then reads.
    const script = [
      'import os, sys',
      'f = os.open(sys.argv[1], os.O_RDONLY)',
      'os.setgroups([]); os.setgid(65534); os.setuid(65534)',
      'data = b""',
      'while True:',
      '    b = os.read(f, 1 << 20)',
      '    if not b: break',
      '    data += b',
      'sys.stdout.write(data.decode().split("\\n")[0].split(" ")[0])',
    ].join('\n');
    const py = (file: string) => execFileSync('python3', ['-c', script, file], { encoding: 'utf8', timeout: 20_000 });
    expect(py(`${m.dir}/kallsyms`)).toBe(py('/proc/kallsyms'));
  });

  test('bus/pci config space through an fd opened by root, read after dropping to uid 65534: what the reader may read (capable() at read)', () => {
    const dirs = fs.existsSync('/proc/bus/pci') ? fs.readdirSync('/proc/bus/pci').filter((d) => /^[0-9a-f]{2}$/.test(d)) : [];
    if (dirs.length === 0) return;
    const rel = `bus/pci/${dirs[0]}/${fs.readdirSync(`/proc/bus/pci/${dirs[0]}`)[0]}`;
    const script = [
      'import os, sys',
      'f = os.open(sys.argv[1], os.O_RDONLY)',
      'os.setgroups([]); os.setgid(65534); os.setuid(65534)',
      'print(len(os.pread(f, 4096, 0)))',
    ].join('\n');
    const py = (file: string) => execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8', timeout: 20_000 }).trim();
    const host = py(`/proc/${rel}`);
    expect(py(`${m.dir}/${rel}`)).toBe(host);
  });
});
