/**
 * `procfuse run` and the examples: the command's /proc is procfuse, its exit
 * status and stdio come through, nothing is left behind; glog's way of
 * symbolizing works through the mount exactly as on the host.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';

import { canMount, CLI } from '../helpers/with-mount';

const ROOT = path.resolve(__dirname, '../..');
const BUILD_DIR = path.join(ROOT, 'test/.build');
const SYMBOLIZE = path.join(BUILD_DIR, 'symbolize');
const EXAMPLE = path.join(ROOT, 'dist/examples/read-self-mem.js');

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const started = new Set<ChildProcess>();
/** pids of commands a test orphaned on purpose (their procfuse run was SIGKILLed) */
const orphans = new Set<number>();

/** Spawns `procfuse <args>`; `onStdout` sees the output as it comes. */
function procfuse(args: string[], opts: { input?: string; onStdout?: (all: string, p: ChildProcess) => void } = {}): {
  proc: ChildProcess;
  done: Promise<Result>;
} {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    opts.onStdout?.(stdout, proc);
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdin!.end(opts.input ?? '');
  const done = new Promise<Result>((resolve) =>
    proc.on('exit', (code, signal) => {
      started.delete(proc);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    }),
  );
  return { proc, done };
}

const run = (args: string[], input?: string): Promise<Result> => procfuse(args, { input }).done;

const logDirs: string[] = [];
function tmpLog(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-log-'));
  logDirs.push(dir);
  return path.join(dir, 'daemon.log');
}
afterAll(() => {
  for (const d of logDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** The daemon's pid and mountpoint, from its "serving <dir> (pid N, ...)" log line. */
function daemonOf(log: string): { pid: number; dir: string } {
  const m = /serving (\S+) \(pid (\d+),/.exec(fs.readFileSync(log, 'utf8'));
  if (!m) throw new Error(`no "serving" line in ${log}`);
  return { dir: m[1]!, pid: Number(m[2]) };
}

/** Running (a zombie waiting for whoever inherited it counts as gone). */
const alive = (pid: number): boolean => {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
const mounted = (dir: string): boolean => fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);

async function eventually(check: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** Asserts that the run with daemon log `log` left no daemon, mount or mountpoint behind. */
async function expectCleanedUp(log: string): Promise<void> {
  const d = daemonOf(log);
  expect(d.dir).toMatch(/\/procfuse-run-/);
  expect(await eventually(() => !alive(d.pid))).toBe(true);
  expect(mounted(d.dir)).toBe(false);
}

afterEach(async () => {
  for (const p of started) p.kill('SIGKILL');
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  orphans.clear();
});

describe.skipIf(!canMount())('procfuse run', () => {
  test('/proc is procfuse inside, not outside; readlink /proc/self is the readlink process', { timeout: 30_000 }, async () => {
    const log = tmpLog();
    const r = await run(['run', '--log', log, '--', 'sh', '-c', 'echo $$; exec readlink /proc/self']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [shPid, self] = r.stdout.trim().split('\n');
    // the command is pid 2 of its pid namespace, under the sandbox's init
    expect(shPid).toBe('2');
    expect(self).toBe(shPid); // exec: the readlink process has the shell's pid, in the view's numbers
    await expectCleanedUp(log);

    const mi = await run(['run', '--', 'cat', '/proc/self/mountinfo']);
    // the last mount at /proc is the one on top
    const procLine = mi.stdout
      .split('\n')
      .filter((l) => l.split(' ')[4] === '/proc')
      .pop();
    expect(procLine).toContain(' - fuse.procfuse procfuse ');
    // the temporary mountpoint is detached inside: the command sees procfuse only at /proc
    expect(mi.stdout).not.toMatch(/\/procfuse-run-/);
    // and the host's /proc is untouched
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/proc')).toContain(' - proc ');
  });

  test('exit status is the command\'s; 128+N when killed by signal N; 127 when not found', { timeout: 30_000 }, async () => {
    expect((await run(['run', '--', 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await run(['run', '--', 'sh', '-c', 'kill -9 $$'])).code).toBe(128 + 9);
    const nf = await run(['run', '--', '/nonexistent/command']);
    expect(nf.code).toBe(127);
    expect(nf.stderr).toBe('procfuse: run: /nonexistent/command: No such file or directory\n');
  });

  test('--debug without --log: the daemon\'s request log goes to run\'s stderr', { timeout: 30_000 }, async () => {
    const r = await run(['run', '--debug', '--', 'readlink', '/proc/self']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/procfuse:fuse readlink \d+ pid=\d+/);
    // and without --debug, nothing of the daemon's
    const quiet = await run(['run', '--', 'readlink', '/proc/self']);
    expect(quiet.stderr).toBe('');
  });

  test('stdin, stdout and stderr are the command\'s', { timeout: 30_000 }, async () => {
    const r = await run(['run', '--', 'sh', '-c', 'cat; echo out; echo err >&2'], 'from stdin\n');
    expect(r.stdout).toBe('from stdin\nout\n');
    expect(r.stderr).toBe('err\n');
    expect(r.code).toBe(0);
    // options after -- are the command's, not ours
    const h = await run(['run', '--', 'sh', '-c', 'echo "$1"', 'sh', '--help']);
    expect(h.stdout).toBe('--help\n');
  });

  test('SIGTERM is passed to the command, and the mount is cleaned up', { timeout: 30_000 }, async () => {
    const log = tmpLog();
    const { done } = procfuse(['run', '--log', log, '--', 'sh', '-c', 'echo started; exec sleep 30'], {
      onStdout: (all, p) => {
        if (all === 'started\n') p.kill('SIGTERM');
      },
    });
    const r = await done;
    expect(r.code).toBe(128 + 15);
    await expectCleanedUp(log);
  });

  test('a SIGKILLed run leaves nothing: the sandbox dies with it (PR_SET_PDEATHSIG), the daemon unmounts and removes the temporary directory', { timeout: 30_000 }, async () => {
    const log = tmpLog();
    // a duration nobody else uses, to find the sandboxed sleep among the host's processes
    const marker = `${1000 + Math.floor(Math.random() * 1000)}.25`;
    const { done } = procfuse(['run', '--log', log, '--', 'sh', '-c', `echo started; exec sleep ${marker}`], {
      onStdout: (all, p) => {
        if (all === 'started\n') p.kill('SIGKILL');
      },
    });
    expect((await done).signal).toBe('SIGKILL');
    const d = daemonOf(log);
    expect(await eventually(() => !mounted(d.dir))).toBe(true);
    expect(await eventually(() => !alive(d.pid))).toBe(true);
    expect(await eventually(() => !fs.existsSync(d.dir))).toBe(true);
    expect(fs.readFileSync(log, 'utf8')).toContain('parent exited: unmounting');
    const sleeps = fs.readdirSync('/proc').filter((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8') === `sleep\0${marker}\0`;
      } catch {
        return false;
      }
    });
    expect(sleeps).toEqual([]);
  });

  test('a command that leaves a process behind: the pid namespace ends with the command, the run ends unmounted and without its daemon', { timeout: 30_000 }, async () => {
    const log = tmpLog();
    const marker = `${2000 + Math.floor(Math.random() * 1000)}.25`;
    const r = await run(['run', '--log', log, '--', 'sh', '-c', `sleep ${marker} >/dev/null 2>&1 & echo $!`]);
    expect(r.code).toBe(0);
    await expectCleanedUp(log);
    // zap_pid_ns_processes(): the init's exit killed the leftover
    const left = fs.readdirSync('/proc').filter((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8') === `sleep\0${marker}\0`;
      } catch {
        return false;
      }
    });
    expect(left).toEqual([]);
  });

  test('--no-new-pidns: a process left behind lives on, but its /proc went with the daemon (connection aborted)', { timeout: 30_000 }, async () => {
    const log = tmpLog();
    const t0 = Date.now();
    const r = await run(['run', '--no-new-pidns', '--log', log, '--', 'sh', '-c', 'sleep 30 >/dev/null 2>&1 & echo $!']);
    const left = Number(r.stdout.trim());
    orphans.add(left);
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await expectCleanedUp(log);
    expect(alive(left)).toBe(true);
    const inside = spawnSync('nsenter', ['-t', String(left), '-m', 'cat', `/proc/${left}/maps`], { encoding: 'utf8' });
    expect(inside.status).not.toBe(0);
    expect(inside.stderr).toMatch(/Transport endpoint is not connected|Software caused connection abort/);
  });

  test('--keep-mount leaves the mount and its daemon, and says where; unmount stops them', { timeout: 30_000 }, async () => {
    const log = tmpLog();
    const r = await run(['run', '--keep-mount', '--log', log, '--', 'true']);
    expect(r.code).toBe(0);
    const d = daemonOf(log);
    try {
      expect(r.stderr).toContain(`procfuse: run: kept ${d.dir} mounted (daemon pid ${d.pid}, log ${log})`);
      expect(mounted(d.dir)).toBe(true);
      expect(alive(d.pid)).toBe(true);
      expect((await run(['unmount', d.dir])).code).toBe(0);
      expect(await eventually(() => !alive(d.pid))).toBe(true);
      expect(mounted(d.dir)).toBe(false);
    } finally {
      if (alive(d.pid)) process.kill(d.pid, 'SIGTERM');
      await eventually(() => !alive(d.pid));
      if (mounted(d.dir)) spawnSync('umount', ['-l', d.dir]);
      fs.rmSync(d.dir, { recursive: true, force: true });
    }
  });

  test.each([[['run']], [['run', '--']], [['run', '--debug', '--']], [['run', '--debug']]])(
    'usage error for %j: exit 2 and a clear message',
    { timeout: 15_000 },
    async (args) => {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('procfuse: run: missing command after --');
      expect(r.stdout).toBe('');
    },
  );

  test('mount-only options are refused', { timeout: 15_000 }, async () => {
    const r = await run(['run', '--foreground', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("procfuse: run: --foreground is a mount option only");
  });
});

/** Strips the addresses (ASLR): what is left is the symbol and object of each frame. */
const frames = (out: string): string[] =>
  out
    .split('\n')
    .filter((l) => l.trimStart().startsWith('@ '))
    .map((l) => l.trim().replace(/^@\s+0x[0-9a-f]+\s+/, '@ '));

describe.skipIf(!canMount())('examples/symbolize (glog-style symbolizer)', () => {
  let noMem: string;
  beforeAll(() => {
    fs.mkdirSync(BUILD_DIR, { recursive: true });
    execFileSync('cc', ['-O1', '-g', '-Wall', '-o', SYMBOLIZE, path.join(ROOT, 'examples/symbolize/symbolize.c')]);
    // A /proc with maps but no mem: the gVisor sandbox of the story.
    noMem = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-nomem-'));
    fs.mkdirSync(path.join(noMem, 'self'));
    fs.symlinkSync('/proc/self/maps', path.join(noMem, 'self/maps'));
  });
  afterAll(() => fs.rmSync(noMem, { recursive: true, force: true }));

  test('through procfuse run it names the same functions as on the host, reading mem through procfuse', { timeout: 30_000 }, async () => {
    const host = execFileSync(SYMBOLIZE, { encoding: 'utf8' });
    const hostFrames = frames(host);
    expect(hostFrames).toEqual([
      `@ crash_handler+0x0 (${SYMBOLIZE})`,
      expect.stringMatching(new RegExp(`^@ main\\+0x[0-9a-f]+ \\(${SYMBOLIZE}\\)$`)),
      expect.stringMatching(/^@ write\+0x0 \(\/.*libc\.so\.6\)$/),
    ]);

    const log = tmpLog();
    const r = await run(['run', '--debug', '--log', log, '--', SYMBOLIZE]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(frames(r.stdout)).toEqual(hostFrames);
    // It really was procfuse's mem: the daemon decided the symbolizer's opens.
    const opens = [...fs.readFileSync(log, 'utf8').matchAll(/mem open: caller pid (\d+) \S+ \d+ -> (\d+)/g)];
    expect(opens.length).toBe(3); // one per symbolized address, as glog does
    // the caller as FUSE reports it (a pid of the daemon's namespace); the
    // target in the view's numbers: the symbolizer is pid 2 of its sandbox
    for (const o of opens) {
      expect(o[1]).toBe(opens[0]![1]);
      expect(o[2]).toBe('2');
    }
    await expectCleanedUp(log);
  });

  test('without /proc/self/mem every address is (unknown), as in the story', { timeout: 30_000 }, async () => {
    for (const r of [
      await new Promise<Result>((resolve) => {
        const p = spawn(SYMBOLIZE, [noMem]);
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      }),
      await run(['run', '--', SYMBOLIZE, noMem]),
    ]) {
      expect(r.code).toBe(0);
      expect(frames(r.stdout)).toEqual(['@ (unknown)', '@ (unknown)', '@ (unknown)']);
      expect(r.stderr).toContain(`cannot open ${noMem}/self/mem: No such file or directory`);
    }
  });
});

describe.skipIf(!canMount())('examples/read-self-mem', () => {
  test('mounts, reads its own maps and ELF header through the mount, unmounts', { timeout: 30_000 }, async () => {
    const r = await new Promise<Result>((resolve) => {
      const p = spawn(process.execPath, [EXAMPLE]);
      started.add(p);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code, signal) => {
        started.delete(p);
        resolve({ code, signal, stdout, stderr });
      });
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const dir = /mounted procfuse at (\S+) \(daemon pid (\d+)\)/.exec(r.stdout);
    expect(dir).not.toBeNull();
    const self = /self -> (\d+) \(our pid (\d+)\)/.exec(r.stdout);
    expect(self?.[1]).toBe(self?.[2]);
    expect(Number(/self\/maps: (\d+) lines/.exec(r.stdout)?.[1])).toBeGreaterThan(10);
    // node's ELF header, byte for byte the kernel's
    expect(r.stdout).toMatch(/self\/mem at 0x[0-9a-f]+ \(\/\S*node\S*\): 7f454c46[0-9a-f]{24}\n/);
    expect(r.stdout).toMatch(/\/proc\/self\/mem at 0x[0-9a-f]+: 7f454c46[0-9a-f]{24} \(same\)\n/);
    expect(r.stdout).toContain(`unmounted ${dir![1]}`);
    expect(mounted(dir![1]!)).toBe(false);
    expect(fs.existsSync(dir![1]!)).toBe(false);
    expect(await eventually(() => !alive(Number(dir![2])))).toBe(true);
  });
});
