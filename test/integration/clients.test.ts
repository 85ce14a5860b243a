/**
 * The compatibility matrix: every real client, run unmodified once on the host's
 * /proc and once with the mount bound over /proc (a private mount namespace, as
 * `procfuse run` does), its output normalised where two runs legitimately differ
 * (times, counters, the tool's own processes) and compared.
 *
 * - Process tables (ps, top, busybox ps/top) compare the rows of processes that
 *   existed before the test and whose row was the same in two host runs, one
 *   before and one after ours: whatever changes by itself on a shared machine is
 *   left out, everything else must match.
 * - Everything else about the parked target is compared exactly (with a second
 *   host run when the first differs, for output that moved in between).
 * - A client that is not installed is reported as skipped, with what is missing.
 * - A known difference is a test that asserts the difference is still there (and
 *   the host's run meaningful); its name and its row say why.
 *
 * The results go to test/.build/compat-matrix.md, which is the README's table.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { buildCProgram, buildCxxProgram } from '../helpers/c-programs';
import { startReadyTarget, type ReadyTarget } from '../helpers/ready-target';
import { canMount, startMount, type Mount } from '../helpers/with-mount';

const ROOT = path.resolve(__dirname, '../..');
const MATRIX_FILE = path.join(ROOT, 'test/.build/compat-matrix.md');
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-psutil is installed

interface Ctx {
  pid: number;
  port: number;
  child: number;
  /** the target's unique command name (comm) */
  name: string;
  tmp: string;
  crasher: string;
  glogCrasher: string;
  /** lsof -e options for every other FUSE mount: a hung one must not stall lsof */
  lsofExempt: string;
}

interface Client {
  /** the table's first column */
  client: string;
  /** what must be installed; a missing one skips the client with that reason */
  needs: Array<string | (() => string | undefined)>;
  cmd(c: Ctx): string;
  /** exact comparison after this normalisation (default: as printed) */
  norm?(out: string, c: Ctx): string;
  /** process-table comparison: rows keyed by pid (or tid) */
  rows?(out: string, c: Ctx): Map<number, string>;
  /** what the host's output must contain, so that an empty comparison cannot pass */
  expectHost?(c: Ctx): RegExp;
  /** a known difference: why (the test is expected to fail) */
  known?: string;
  notes?: string;
}

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const pyModule = (mod: string) => (): string | undefined =>
  spawnSync(PYTHON, ['-c', `import ${mod}`]).status === 0 ? undefined : `${PYTHON}: no module ${mod} (python3-${mod})`;
const glogInstalled = (): string | undefined =>
  fs.existsSync('/usr/include/glog/logging.h') ? undefined : 'glog headers missing (libgoogle-glog-dev)';

/** Lines of a table after its header line (the one matching `header`), split on blanks. */
function tableRows(out: string, header: RegExp): string[][] {
  const lines = out.split('\n');
  const h = lines.findIndex((l) => header.test(l));
  if (h < 0) return [];
  return lines
    .slice(h + 1)
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/));
}

/** kworker/1:1-events_unbound -> kworker/1:1: the suffix is the work it is doing now. */
const normalizeComm = (comm: string): string => comm.replace(/^(\[?kworker\/[^-+\]]+)[-+][^\]]*/, '$1');

const PSUTIL_SCRIPT = `
import json, sys, psutil
p = psutil.Process(int(sys.argv[1]))
conns = p.net_connections(kind='inet') if hasattr(p, 'net_connections') else p.connections(kind='inet')
print(json.dumps({
  'memory_maps': [(m.addr, m.perms, m.path) for m in p.memory_maps(grouped=False)],
  'open_files': [(f.path, f.fd, f.mode) for f in p.open_files()],
  'connections': [(c.fd, int(c.family), int(c.type), list(c.laddr), c.status) for c in conns],
  'children': sorted(c.pid for c in p.children(recursive=True)),
  'threads': len(p.threads()), 'name': p.name(), 'cmdline': p.cmdline(),
}, indent=1))
`;

const COPYFILE_SCRIPT = `
import hashlib, os, shutil, sys, tempfile
d = tempfile.mkdtemp()
try:
    for src in sys.argv[1:]:
        dst = os.path.join(d, 'copy')
        shutil.copyfile(src, dst)
        data = open(dst, 'rb').read()
        print(src, len(data), hashlib.sha256(data).hexdigest()[:16])
finally:
    shutil.rmtree(d)
`;

const SPLICE_REASON =
  "the kernel's FUSE splice_read (fuse_splice_read -> filemap_splice_read) ignores FOPEN_DIRECT_IO and stops at i_size, " +
  "which is 0 as on procfs: sendfile/splice return 0 (fixed upstream by 'fuse: use copy_splice_read() for FOPEN_DIRECT_IO splice read')";

const FD_LINK_REASON =
  "stat() through fd/N of a pipe or an eventfd fails: a FIFO inode on the mount would be a new named pipe (opening /dev/stdout would block), " +
  'and FUSE refuses the untyped anon_inode (sockets and files are the same)';

const FUSER_REASON =
  "fuser matches a socket by st_dev as well as st_ino (psmisc find_net_dev: sockfs's device); stat() through fd/N gives the socket's st_ino but FUSE's st_dev";
const NS_LINK_REASON =
  "ns/mnt is a plain symlink that stat() cannot follow, so gdb takes the target's mount namespace for its own and names files without 'target:' " +
  '(resolving it would be worse: gdb would then setns() into it through a FUSE file, which fails)';

const CLIENTS: Client[] = [
  {
    client: '`ps aux`',
    needs: ['ps'],
    cmd: () => 'ps aux',
    rows: (out) =>
      new Map(tableRows(out, /^USER\s+PID\s/).map((f) => [Number(f[1]), `${f[0]} ${f[6]} ${f[8]} ${normalizeComm(f.slice(10).join(' '))}`])),
    notes: 'user, tty, start, command line',
  },
  {
    client: '`ps -eLf`',
    needs: ['ps'],
    cmd: () => 'ps -eLf',
    rows: (out) =>
      new Map(
        tableRows(out, /^UID\s+PID\s+PPID\s+LWP/).map((f) => [Number(f[3]), `${f[0]} ${f[1]} ${f[2]} ${f[5]} ${f[6]} ${f[7]} ${normalizeComm(f.slice(9).join(' '))}`]),
      ),
    notes: 'threads: uid, pid, ppid, nlwp, stime, tty, command',
  },
  {
    client: '`top -b -n1`',
    needs: ['top'],
    cmd: () => 'top -b -n1 -w 512',
    rows: (out) => {
      const lines = out.split('\n');
      const h = lines.findIndex((l) => /^\s*PID\s+USER\s/.test(l));
      // Summary labels (numbers change), then one row per process.
      const summary = lines.slice(0, Math.max(h, 0)).map((l) => l.replace(/^top - .* load average/, 'top - # load average').replace(/[\d.:\s]+/g, '#'));
      const m = new Map<number, string>([[-1, summary.join('|') + '|' + (lines[h] ?? '').trim()]]);
      for (const f of tableRows(out, /^\s*PID\s+USER\s/)) m.set(Number(f[0]), `${f[1]} ${f[2]} ${f[3]} ${normalizeComm(f.slice(11).join(' '))}`);
      return m;
    },
    notes: 'summary labels, columns; user, priority, nice, command',
  },
  { client: '`pmap -x`', needs: ['pmap'], cmd: (c) => `pmap -x ${c.pid}`, expectHost: (c) => new RegExp(c.name) },
  { client: '`pstree -p`', needs: ['pstree'], cmd: (c) => `pstree -p ${c.pid}`, expectHost: (c) => new RegExp(`\\(${c.child}\\)`) },
  {
    client: '`pgrep`, `pkill -0`',
    needs: ['pgrep', 'pkill'],
    cmd: (c) => `pgrep -x ${c.name}; pkill -0 -x ${c.name}; echo "pkill: $?"`,
    expectHost: (c) => new RegExp(`^${c.pid}\\n${c.child}\\npkill: 0`),
  },
  { client: '`pidof`', needs: ['pidof'], cmd: (c) => `pidof ${c.name}`, expectHost: (c) => new RegExp(`${c.pid}`) },
  {
    client: '`free`',
    needs: ['free'],
    cmd: () => 'free -b',
    // Totals are fixed; used/free move by themselves.
    norm: (out) => out.split('\n').map((l) => l.trim().split(/\s+/).slice(0, 2).join(' ')).join('\n'),
    expectHost: () => /Mem:\s+\d+/,
    notes: 'labels and totals',
  },
  {
    client: '`uptime`',
    needs: ['uptime'],
    cmd: () => 'uptime',
    norm: (out) => out.replace(/up .*?,(\s+\d+ users?,)?\s+load/, 'up #, load').replace(/\d+[.,]\d+/g, '#').replace(/\d\d:\d\d:\d\d/, '#'),
    expectHost: () => /load average/,
    notes: 'labels (times and loads move)',
  },
  {
    client: '`vmstat`',
    needs: ['vmstat'],
    cmd: () => 'vmstat',
    norm: (out) => {
      const [a, b, c] = out.split('\n');
      return `${a}\n${b}\n${c?.trim().split(/\s+/).length} columns`;
    },
    expectHost: () => /procs/,
    notes: 'header and column count',
  },
  {
    client: '`w`',
    needs: ['w'],
    cmd: () => 'w',
    norm: (out) => out.replace(/[\d.:,]+/g, '#'),
    expectHost: () => /USER/,
    notes: 'labels and sessions',
  },
  {
    client: '`lsof -p`',
    known: FD_LINK_REASON,
    needs: ['lsof'],
    cmd: (c) => `lsof -n -P -w ${c.lsofExempt} -p ${c.pid}`,
    expectHost: () => /IPv4 .* TCP 127\.0\.0\.1:\d+ \(LISTEN\)\n[^\n]* FIFO .* pipe/,
    notes: 'files, pipes, sockets, eventfd of a parked process',
  },
  {
    client: '`lsof -i`',
    needs: ['lsof'],
    cmd: (c) => `lsof -n -P -w ${c.lsofExempt} -i TCP:${c.port}`,
    expectHost: (c) => new RegExp(`${c.pid} .*TCP 127\\.0\\.0\\.1:${c.port} \\(LISTEN\\)`),
  },
  {
    client: '`lsof` (all processes)',
    known: FD_LINK_REASON,
    needs: ['lsof', 'awk'],
    cmd: (c) => `lsof -n -P -w ${c.lsofExempt} | awk '$2 == ${c.pid}'`,
    expectHost: (c) => new RegExp(`${c.name.slice(0, 9)} +${c.pid} .*TCP 127`),
    notes: "the target's rows of a full listing (threads included)",
  },
  {
    client: '`fuser -n tcp`',
    known: FUSER_REASON,
    needs: ['fuser'],
    // The pids go to stdout, "<port>/tcp:" and complaints about pid 1 to stderr.
    cmd: (c) => `fuser -n tcp ${c.port} 2>/dev/null; echo " status $?"`,
    expectHost: (c) => new RegExp(`^ +${c.pid} +${c.child} status 0`),
  },
  {
    client: '`ss -tlnp`',
    needs: ['ss'],
    cmd: (c) => `ss -tlnp sport = :${c.port}`,
    expectHost: (c) => new RegExp(`pid=${c.pid},fd=`),
  },
  {
    client: 'busybox `cat`',
    needs: ['busybox'],
    cmd: (c) => `busybox cat /proc/${c.pid}/cmdline /proc/${c.pid}/maps /proc/version /proc/uptime | wc -c`,
    norm: (out) => (Number(out.trim()) > 0 ? 'bytes' : 'nothing'),
    expectHost: () => /\d+/,
    known: SPLICE_REASON,
    notes: 'busybox cat uses sendfile()',
  },
  {
    client: 'busybox `ps`',
    needs: ['busybox'],
    cmd: () => 'busybox ps',
    rows: (out) => new Map(tableRows(out, /^\s*PID\s+USER\s/).map((f) => [Number(f[0]), `${f[1]} ${normalizeComm(f.slice(3).join(' '))}`])),
  },
  {
    client: 'busybox `top -b -n1`',
    needs: ['busybox'],
    cmd: () => 'COLUMNS=512 busybox top -b -n1',
    rows: (out) => new Map(tableRows(out, /^\s*PID\s+PPID\s+USER/).map((f) => [Number(f[0]), `${f[1]} ${f[2]} ${normalizeComm(f.slice(7).join(' '))}`])),
  },
  {
    client: '`gdb -p` (info proc mappings, bt, x)',
    needs: ['gdb'],
    cmd: (c) => `gdb -p ${c.pid} -batch -ex 'info proc mappings' -ex bt -ex 'x/gx &client_target_magic' 2>&1`,
    expectHost: () => /client_target_park[\s\S]*0x1122334455667788/,
  },
  {
    client: 'gdb running a crashing program',
    needs: ['gdb'],
    cmd: (c) => `ulimit -c 0; gdb -batch -ex run -ex bt ${c.crasher} 2>&1`,
    norm: (out) => out.replace(/process \d+/g, 'process N'),
    expectHost: () => /SIGSEGV[\s\S]*crasher_fault[\s\S]*crasher_outer/,
  },
  { client: '`eu-stack -p`', needs: ['eu-stack'], cmd: (c) => `eu-stack -p ${c.pid}`, expectHost: () => /client_target_park/ },
  {
    client: '`gcore`',
    known: NS_LINK_REASON,
    needs: ['gcore', 'eu-readelf'],
    cmd: (c) =>
      `gcore -o ${c.tmp}/core ${c.pid} 2>&1 | grep -v '^\\[New LWP'; eu-readelf -n ${c.tmp}/core.${c.pid} | grep -A60 ' FILE$'; rm -f ${c.tmp}/core.${c.pid}`,
    expectHost: (c) => new RegExp(`Saved corefile [\\s\\S]* files:\\n[\\s\\S]*${c.name}`),
    notes: "gdb's messages and the core's NT_FILE list",
  },
  {
    client: '`strace -p`',
    needs: ['strace', 'timeout'],
    cmd: (c) => `timeout -s INT 1 strace -p ${c.pid} 2>&1`,
    expectHost: (c) => new RegExp(`Process ${c.pid} attached\\nread\\(0,`),
  },
  {
    client: 'psutil (memory_maps, open_files, connections, children)',
    needs: [PYTHON, pyModule('psutil')],
    cmd: (c) => `${PYTHON} ${c.tmp}/psutil_probe.py ${c.pid}`,
    expectHost: (c) => new RegExp(`"children": \\[\\s*${c.child}\\s*\\][\\s\\S]*open\\.txt|open\\.txt[\\s\\S]*"children": \\[\\s*${c.child}`),
  },
  {
    client: "python's `shutil.copyfile`",
    needs: [PYTHON],
    cmd: (c) => `${PYTHON} ${c.tmp}/copyfile_probe.py /proc/${c.pid}/cmdline /proc/${c.pid}/maps /proc/version`,
    expectHost: () => /\/proc\/version [1-9]\d* /,
    known: SPLICE_REASON,
    notes: 'copyfile uses sendfile()',
  },
  {
    client: "glog's failure signal handler",
    needs: ['c++', glogInstalled],
    cmd: (c) => `ulimit -c 0; ${c.glogCrasher} 2>&1; true`,
    // Symbol names are the point; addresses move with ASLR.
    norm: (out) => out.replace(/PID \d+/g, 'PID N').replace(/0x[0-9a-f]+/g, 'ADDR').replace(/\d{9,}/g, 'T'),
    expectHost: () => /SIGSEGV[\s\S]*glog_crasher_outer/,
  },
];

/** Why a client cannot run here, or undefined. */
function missing(c: Client): string | undefined {
  for (const n of c.needs) {
    if (typeof n === 'function') {
      const why = n();
      if (why) return why;
    } else if (!(n.startsWith('/') ? fs.existsSync(n) : has(n))) {
      return `${n} not installed`;
    }
  }
  return undefined;
}

type Outcome = { result: string; notes: string };
const outcomes = new Map<string, Outcome>();

function writeMatrix(): void {
  const lines = ['| client | result | notes |', '| --- | --- | --- |'];
  for (const c of CLIENTS) {
    const o = outcomes.get(c.client) ?? { result: 'not run', notes: '' };
    lines.push(`| ${c.client} | ${o.result} | ${o.notes} |`);
  }
  fs.mkdirSync(path.dirname(MATRIX_FILE), { recursive: true });
  fs.writeFileSync(MATRIX_FILE, lines.join('\n') + '\n');
}

describe.skipIf(!canMount())('compatibility matrix: each client prints through the mount what it prints on the host', () => {
  let m: Mount;
  let target: ReadyTarget;
  let ctx: Ctx;
  /** pid -> start time of the processes alive before the test */
  let before: Map<number, string>;

  beforeAll(async () => {
    m = await startMount();
    const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-clients-')));
    const name = `pfcl${process.pid % 100000}`;
    fs.copyFileSync(buildCProgram('client_target'), path.join(tmp, name));
    fs.chmodSync(path.join(tmp, name), 0o755);
    fs.writeFileSync(path.join(tmp, 'psutil_probe.py'), PSUTIL_SCRIPT);
    fs.writeFileSync(path.join(tmp, 'copyfile_probe.py'), COPYFILE_SCRIPT);
    target = await startReadyTarget(path.join(tmp, name), [tmp]);
    const [, port, child] = await readyLine(target);
    let glogCrasher = '';
    if (!glogInstalled() && has('c++')) glogCrasher = buildCxxProgram('glog_crasher', ['glog']);
    ctx = {
      pid: target.pid,
      port,
      child,
      name,
      tmp,
      crasher: buildCProgram('crasher'),
      glogCrasher,
      // Listed at each use: another run's mount listed earlier may be gone by then, and lsof
      // refuses an -e that is not mounted ("is not a mounted file system").
      get lsofExempt() {
        return fuseMountpoints()
          .filter((d) => d !== '/proc')
          .map((d) => `-e ${shellQuote(d)}`)
          .join(' ');
      },
    };
    before = snapshot();
  }, 120_000);

  afterAll(async () => {
    writeMatrix();
    target?.child.stdin?.end();
    target?.child.kill('SIGKILL');
    await m?.stop();
    if (ctx) fs.rmSync(ctx.tmp, { recursive: true, force: true });
  });

  /** `cmd` in a private mount namespace, over the mount (ours) or on the host's /proc. */
  function run(cmd: string, ours: boolean): string {
    const script = ours ? `mount --bind ${m.dir} /proc && ${cmd}` : cmd;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      encoding: 'latin1',
      maxBuffer: 64 << 20,
      timeout: 240_000,
    });
    if (r.error) throw r.error;
    return r.stdout + (r.stderr ? `\n[stderr] ${r.stderr}` : '');
  }

  for (const c of CLIENTS) {
    const why = missing(c);
    if (why) {
      outcomes.set(c.client, { result: 'skipped', notes: why });
      test.skip(`${c.client}: skipped (${why})`, () => {});
      continue;
    }
    // A known difference is asserted to still be there (and the host's run to be
    // meaningful), so that fixing it, or breaking the host side, fails the test.
    const title = c.known ? `${c.client}: differs, known: ${c.known}` : `${c.client}: the same output`;
    test(title, () => {
      const same = compareClient(c);
      outcomes.set(c.client, {
        result: same ? '✓ same' : c.known ? '✗ differs (known)' : '✗ DIFFERS',
        notes: [c.notes, same ? '' : c.known].filter(Boolean).join('; '),
      });
      expect(same).toBe(!c.known);
    }, 300_000);
  }

  /** Runs the client on both sides; true when they agree. Asserts the host's run is meaningful. */
  function compareClient(c: Client): boolean {
    const cmd = c.cmd(ctx);
    const host1 = run(cmd, false);
    if (c.expectHost) expect(host1).toMatch(c.expectHost(ctx));
    const ours = run(cmd, true);
    if (c.rows) {
      const host2 = run(cmd, false);
      return sameRows(c.rows(host1, ctx), c.rows(ours, ctx), c.rows(host2, ctx));
    }
    const norm = c.norm ?? ((s: string) => s);
    if (norm(ours, ctx) === norm(host1, ctx)) return true;
    // Output that moved by itself between the runs: a second host run decides.
    const host2 = run(cmd, false);
    const same = norm(ours, ctx) === norm(host2, ctx);
    if (!same && !c.known) expect.soft(norm(ours, ctx), `${c.client} through the mount`).toBe(norm(host2, ctx));
    return same;
  }

  /** Rows that were the same in both host runs (of processes older than the test) must be ours too. */
  function sameRows(h1: Map<number, string>, o: Map<number, string>, h2: Map<number, string>): boolean {
    const now = snapshot();
    let compared = 0;
    let same = true;
    for (const [k, row] of h1) {
      if (h2.get(k) !== row) continue;
      if (k >= 0 && !(before.has(k) && now.get(k) === before.get(k)) && !isThreadOfOld(k, now)) continue;
      compared++;
      if (o.get(k) !== row) {
        if (same) expect.soft({ key: k, ours: o.get(k) }).toEqual({ key: k, ours: row });
        same = false;
      }
    }
    expect(compared).toBeGreaterThan(5);
    return same;
  }

  /** A tid (ps -eLf) whose thread group is an old process. */
  function isThreadOfOld(tid: number, now: Map<number, string>): boolean {
    try {
      const tgid = Number(/^Tgid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${tid}/status`, 'latin1'))?.[1]);
      return tgid !== tid && before.has(tgid) && now.get(tgid) === before.get(tgid);
    } catch {
      return false;
    }
  }
});

/** pid -> start time (field 22 of stat), for processes alive now. */
function snapshot(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      out.set(Number(name), stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function fuseMountpoints(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - fuse/.test(l))
    .map((l) => l.split(' ')[4]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/** "READY <pid> <port> <child>" of client_target. */
async function readyLine(t: ReadyTarget): Promise<[number, number, number]> {
  // startReadyTarget consumed the line; client_target prints it once, so ask /proc.
  const port = await portOf(t.pid);
  const child = Number(fs.readFileSync(`/proc/${t.pid}/task/${t.pid}/children`, 'latin1').trim().split(/\s+/)[0]);
  return [t.pid, port, child];
}

/** The port of the process's listening TCP socket, from /proc/net/tcp and its fd links. */
async function portOf(pid: number): Promise<number> {
  const inodes = new Set(
    fs
      .readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        } catch {
          return undefined;
        }
      })
      .filter((x): x is string => x !== undefined),
  );
  for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) return parseInt(f[1]!.split(':')[1]!, 16);
  }
  throw new Error(`no listening socket of ${pid}`);
}
