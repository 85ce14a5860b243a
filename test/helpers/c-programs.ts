/**
 * C target programs for integration tests: built from test/fixtures/c/<name>.c
 * into test/.build/<name>, and started with a line protocol (one JSON object per
 * stdout line, commands on stdin).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const SOURCE_DIR = path.join(ROOT, 'test', 'fixtures', 'c');
const BUILD_DIR = path.join(ROOT, 'test', '.build');

/** cc -O1 -g -pthread test/fixtures/c/<name>.c -> test/.build/<name>; rebuilt only if the source is newer. */
export function buildCProgram(name: string): string {
  return buildProgram(name, 'cc', '.c', []);
}

/** c++ -O1 -g test/fixtures/c/<name>.cc -l<libs> -> test/.build/<name>, as buildCProgram. */
export function buildCxxProgram(name: string, libs: string[] = []): string {
  return buildProgram(name, 'c++', '.cc', libs.map((l) => `-l${l}`));
}

function buildProgram(name: string, compiler: string, ext: string, libArgs: string[]): string {
  const src = path.join(SOURCE_DIR, `${name}${ext}`);
  const out = path.join(BUILD_DIR, name);
  const srcTime = fs.statSync(src).mtimeMs;
  const outTime = fs.existsSync(out) ? fs.statSync(out).mtimeMs : -1;
  if (outTime >= srcTime) return out;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  // Build beside the target and rename, so a concurrent run never execs a half-written file.
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(compiler, ['-O1', '-g', '-pthread', '-Wall', '-o', tmp, src, ...libArgs], { stdio: 'pipe' });
  fs.renameSync(tmp, out);
  return out;
}

export type TargetLine = Record<string, unknown>;

export interface Target {
  /** the first JSON line the program printed */
  readonly info: TargetLine;
  readonly proc: ChildProcess;
  /** writes `cmd\n` to the program's stdin */
  send(cmd: string): void;
  /** resolves with the next not yet consumed line that matches `pred` */
  nextLine(pred?: (line: TargetLine) => boolean, timeoutMs?: number): Promise<TargetLine>;
  /**
   * SIGTERM the program (a --fork keeper then kills and reaps its child; other
   * descendants die by PR_SET_PDEATHSIG), SIGKILL after 2 s, and wait for it.
   */
  kill(): Promise<void>;
}

const live = new Set<Target>();

/** Kills every target still running; call from afterEach/afterAll. */
export async function killAllTargets(): Promise<void> {
  await Promise.all([...live].map((t) => t.kill()));
}

/** Spawns test/.build/<name> (building it if needed) and waits for its first JSON line. */
export async function startTarget(name: string, args: string[] = [], timeoutMs = 10_000): Promise<Target> {
  const bin = buildCProgram(name);
  const proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: TargetLine[] = [];
  const waiters: Array<{ pred: (l: TargetLine) => boolean; resolve: (l: TargetLine) => void }> = [];
  let stderr = '';
  let partial = '';
  let exited: Promise<void>;
  {
    let done!: () => void;
    exited = new Promise<void>((r) => (done = r));
    proc.on('exit', () => done());
  }

  const deliver = (): void => {
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      const idx = lines.findIndex(w.pred);
      if (idx >= 0) {
        const [l] = lines.splice(idx, 1);
        waiters.splice(i--, 1);
        w.resolve(l!);
      }
    }
  };
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (text.trim() !== '') lines.push(JSON.parse(text) as TargetLine);
    }
    deliver();
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => (stderr += chunk));
  proc.stdin!.on('error', () => {}); // EPIPE after the target exited

  const nextLine = (pred: (l: TargetLine) => boolean = () => true, ms = 10_000): Promise<TargetLine> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`${name}: no matching line within ${ms} ms (stderr: ${stderr})`));
      }, ms);
      const w = {
        pred,
        resolve: (l: TargetLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.push(w);
      deliver();
    });

  const target: Target = {
    info: {},
    proc,
    send: (cmd) => void proc.stdin!.write(`${cmd}\n`),
    nextLine,
    kill: async () => {
      live.delete(target);
      // Until node has seen the exit, the pid is ours (at worst a zombie), so this
      // can never hit a recycled pid.
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        }, 2_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  live.add(target);
  try {
    (target as { info: TargetLine }).info = await nextLine(() => true, timeoutMs);
  } catch (e) {
    await target.kill();
    throw e;
  }
  return target;
}

/** A hex address string printed by a target ("0x7f...") as a bigint. */
export function addr(v: unknown): bigint {
  if (typeof v !== 'string') throw new Error(`not an address: ${String(v)}`);
  return BigInt(v);
}
