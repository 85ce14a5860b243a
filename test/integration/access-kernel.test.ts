/**
 * Differential test of the access policy against the kernel, without FUSE:
 * real processes (test/fixtures/c/cred_probe.c) take on credentials, we read
 * both sides with readCredentials and decide with the policy, and the caller
 * process opens the host's /proc/<target>/mem (ATTACH_FSCREDS) and
 * /proc/<target>/maps (READ_FSCREDS). Both answers must agree.
 *
 * The kernel's open also runs DAC on the file (SPEC-3: mem is 0600, owned by
 * task_dump_owner), so "ours" is our DAC model AND the ptrace decision.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { readAccessEnv } from '../../src/host/access-env';
import { readCallerCredentials, readCredentials } from '../../src/host/credentials';
import { HostProc } from '../../src/host/host-proc';
import { hasCap, type Credentials } from '../../src/policy/credentials';
import { FILE_ACCESS, mayAccessFile } from '../../src/policy/file-modes';
import { formatPtraceMode } from '../../src/policy/ptrace-mode';

const REPO = path.resolve(__dirname, '../..');
const PROBE = path.join(REPO, 'test/.build/cred_probe');
const host = new HostProc('/proc');

class Probe {
  private buf = '';
  private waiters: Array<(line: string) => void> = [];
  pid = 0;
  tid = 0;
  private constructor(
    readonly name: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.waiters.shift()?.(line);
      }
    });
  }

  static async start(name: string, args: string[]): Promise<Probe> {
    const child = spawn(PROBE, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const p = new Probe(name, child);
    const ready = await Promise.race([
      p.nextLine(),
      new Promise<string>((_, rej) => child.on('exit', (c) => rej(new Error(`probe ${name} exited ${c}: ${stderr}`)))),
    ]);
    const m = /^ready (\d+) (\d+)$/.exec(ready);
    if (!m) throw new Error(`probe ${name}: ${ready} ${stderr}`);
    p.pid = Number(m[1]);
    p.tid = Number(m[2]);
    return p;
  }

  private nextLine(): Promise<string> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async ask(cmd: string): Promise<string> {
    const line = this.nextLine();
    this.child.stdin.write(`${cmd}\n`);
    return line;
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const CAP_DAC_OVERRIDE = 1;
const CAP_DAC_READ_SEARCH = 2;

/**
 * fs/namei.c generic_permission for an O_RDONLY open. Capabilities override
 * only for a caller in our (initial) user namespace: a caller in a child
 * namespace would also need the inode's ids mapped there
 * (privileged_wrt_inode_uidgid), which our test targets' files never are.
 */
function dacAllowsRead(caller: Credentials, owner: number, group: number, mode: number): boolean {
  let bits: number;
  if (caller.uid.fs === owner) bits = (mode >> 6) & 7;
  else if (caller.gid.fs === group || caller.groups.includes(group)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  if (bits & 4) return true;
  if (caller.userNs.length !== 1) return false;
  return hasCap(caller.capEffective, CAP_DAC_OVERRIDE) || hasCap(caller.capEffective, CAP_DAC_READ_SEARCH);
}

const DROP = (uid: number) => [`--resgid`, `${uid},${uid},${uid}`, '--groups', 'none', '--resuid', `${uid},${uid},${uid}`];
const SYS_PTRACE_BIT = 1n << 19n;
const NET_RAW_BIT = 1n << 13n;

// Probes by name; each row of PAIRS names a caller and a target among them.
const PROBES: Record<string, { desc: string; args: () => string[] }> = {
  root: { desc: 'root, full caps', args: () => [] },
  rootB: { desc: 'root, full caps (2nd)', args: () => [] },
  nobody: { desc: 'uid 65534, no caps', args: () => [...DROP(65534), '--dumpable', '1'] },
  nobodyB: { desc: 'uid 65534, no caps (2nd)', args: () => [...DROP(65534), '--dumpable', '1'] },
  other: { desc: 'uid 65533, no caps', args: () => [...DROP(65533), '--dumpable', '1'] },
  nondump: { desc: 'uid 65534, PR_SET_DUMPABLE 0', args: () => [...DROP(65534), '--dumpable', '0'] },
  userns: { desc: 'uid 65534 in a new user ns', args: () => [...DROP(65534), '--dumpable', '1', '--userns'] },
  netraw: {
    desc: 'uid 65534, CapPrm=CapEff=NET_RAW',
    args: () => ['--keepcaps', ...DROP(65534), '--caps', NET_RAW_BIT.toString(16), '--dumpable', '1'],
  },
  fsonly: { desc: 'uid 0, fsuid/fsgid 65534, no caps', args: () => ['--fsgid', '65534', '--fsuid', '65534', '--caps', '0'] },
  rootFs: { desc: 'root, fsuid 65534 (fs caps dropped)', args: () => ['--fsuid', '65534'] },
  rootThr: { desc: 'root process; thread uid 65534, no caps', args: () => ['--thread', '65534'] },
  sysadmin: {
    desc: 'uid 65534, CapEff=SYS_ADMIN only',
    args: () => ['--keepcaps', ...DROP(65534), '--caps', (1n << 21n).toString(16), '--dumpable', '1'],
  },
  perfmon: { desc: 'root, CapEff=PERFMON only', args: () => ['--caps', (1n << 38n).toString(16)] },
  perfmonNs: {
    desc: 'uid 65534 + PERFMON, then a new user ns',
    args: () => ['--keepcaps', ...DROP(65534), '--caps', (1n << 38n).toString(16), '--dumpable', '1', '--userns'],
  },
  noPtrace: { desc: 'root without CAP_SYS_PTRACE', args: () => ['--caps', (myCaps() & ~SYS_PTRACE_BIT).toString(16)] },
  noPtraceB: { desc: 'root without CAP_SYS_PTRACE (2nd)', args: () => ['--caps', (myCaps() & ~SYS_PTRACE_BIT).toString(16)] },
};

function myCaps(): bigint {
  return BigInt(`0x${host.status(process.pid).get('CapPrm')}`);
}

interface Pair {
  caller: string;
  /** the caller is the probe's second thread */
  thread?: boolean;
  /** the target is the caller's own process */
  target: string;
  /** a documented case where our answer is narrower than the kernel's */
  knownNarrower?: string;
}

const PAIRS: Pair[] = [
  { caller: 'root', target: 'nobody' },
  { caller: 'nobody', target: 'root' },
  { caller: 'nobody', target: 'nobodyB' },
  { caller: 'other', target: 'nobody' },
  { caller: 'nobody', target: 'nondump' },
  { caller: 'root', target: 'nondump' },
  { caller: 'root', target: 'userns' },
  { caller: 'nobody', target: 'userns' },
  { caller: 'other', target: 'userns' },
  { caller: 'userns', target: 'nobody' },
  { caller: 'rootThr', thread: true, target: 'rootThr' },
  { caller: 'rootThr', thread: true, target: 'root' },
  { caller: 'rootThr', thread: true, target: 'nobody' },
  { caller: 'fsonly', target: 'nobody' },
  { caller: 'fsonly', target: 'root' },
  { caller: 'rootFs', target: 'nondump' },
  { caller: 'nobody', target: 'netraw' },
  { caller: 'netraw', target: 'nobody' },
  { caller: 'root', target: 'rootB' },
  { caller: 'sysadmin', target: 'root' },
  { caller: 'sysadmin', target: 'nondump' },
  { caller: 'perfmon', target: 'nondump' },
  { caller: 'perfmon', target: 'other' },
  { caller: 'perfmonNs', target: 'root' },
  { caller: 'noPtrace', target: 'root' },
  {
    caller: 'noPtrace',
    target: 'noPtraceB',
    knownNarrower: 'dumpable root target: owner 0 = euid 0 cannot be told from non-dumpable, we answer not dumpable',
  },
];

const FILES = ['mem', 'maps'] as const;

interface Row {
  caller: string;
  target: string;
  file: string;
  mode: string;
  kernel: string;
  ours: string;
  rule: string;
  note: string;
}

describe('access policy vs the kernel (open of the host /proc/<pid>/{mem,maps})', () => {
  const probes = new Map<string, Probe>();
  const table: Row[] = [];

  beforeAll(async () => {
    fs.mkdirSync(path.dirname(PROBE), { recursive: true });
    execFileSync('cc', ['-O1', '-Wall', '-pthread', '-o', PROBE, path.join(REPO, 'test/fixtures/c/cred_probe.c')]);
    for (const [name, p] of Object.entries(PROBES)) probes.set(name, await Probe.start(name, p.args()));
  });

  afterAll(() => {
    for (const p of probes.values()) p.stop();
    if (table.length > 0) {
      const cols = ['caller', 'target', 'file', 'mode', 'kernel', 'ours', 'rule', 'note'] as const;
      const w = cols.map((c) => Math.max(c.length, ...table.map((r) => r[c].length)));
      const fmt = (r: Record<(typeof cols)[number], string>) => `| ${cols.map((c, i) => r[c]!.padEnd(w[i]!)).join(' | ')} |`;
      console.log(
        [fmt(Object.fromEntries(cols.map((c) => [c, c])) as Record<(typeof cols)[number], string>), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...table.map(fmt)].join('\n'),
      );
    }
  });

  test.each(PAIRS)('$caller$thread -> $target', async (pair) => {
    const callerProbe = probes.get(pair.caller)!;
    const targetProbe = probes.get(pair.target)!;
    const callerTid = pair.thread ? callerProbe.tid : callerProbe.pid;
    const caller = readCallerCredentials(host, callerTid);
    const target = readCredentials(host, targetProbe.pid);
    const env = readAccessEnv(host, caller, target);
    const callerDesc = `${pair.thread ? 'thread of ' : ''}${PROBES[pair.caller]!.desc}`;
    for (const file of FILES) {
      const rule = FILE_ACCESS[file];
      const st = host.lstat(targetProbe.pid, file);
      const dac = dacAllowsRead(caller, st.uid, st.gid, st.mode & 0o777);
      const { decision } = mayAccessFile(file, caller, target, env);
      if (decision === null) throw new Error(`${file} has no check`);
      const ours = dac && decision.allow ? 'ok' : 'EACCES';
      const kernel = await callerProbe.ask(`${pair.thread ? 'topen' : 'open'} /proc/${targetProbe.pid}/${file}`);
      table.push({
        caller: callerDesc,
        target: PROBES[pair.target]!.desc,
        file,
        mode: formatPtraceMode(rule.mode!),
        kernel,
        ours,
        rule: `${decision.allow ? 'allow' : 'deny'} ${decision.rule}${dac ? '' : ' (DAC denies)'}`,
        note: pair.knownNarrower && kernel !== ours ? `known narrower: ${pair.knownNarrower}` : '',
      });
      if (pair.knownNarrower && kernel !== ours) {
        // Never wider: the kernel allows what we refuse, not the reverse.
        expect({ file, kernel, ours }).toEqual({ file, kernel: 'ok', ours: 'EACCES' });
      } else {
        expect({ file, ours }).toEqual({ file, ours: kernel });
      }
    }
  });

  test('the probes really have the credentials the pairs are about', () => {
    const c = (n: string, tid?: boolean) => readCredentials(host, tid ? probes.get(n)!.tid : probes.get(n)!.pid);
    expect(c('nondump').dumpable).toBe(false);
    expect(c('nobody').dumpable).toBe(true);
    expect(c('userns').userNs).toHaveLength(2);
    expect(c('userns').userNs[0]!.ownerUid).toBe(65534);
    expect(c('fsonly').uid).toEqual({ real: 0, effective: 0, saved: 0, fs: 65534 });
    expect(c('fsonly').capEffective).toBe(0n);
    expect(c('netraw').capPermitted).toBe(NET_RAW_BIT);
    expect(c('rootThr', true).uid.effective).toBe(65534);
    expect(c('rootThr', true).tgid).toBe(probes.get('rootThr')!.pid);
    expect(c('rootThr').uid.effective).toBe(0);
    expect(hasCap(c('rootFs').capEffective, 19)).toBe(true);
    expect(hasCap(c('rootFs').capEffective, 1)).toBe(false);
  });
});
