/**
 * The fault-injection examples, run as their READMEs say (one command each):
 * glog's failure signal handler names its frames through procfuse and prints
 * (unknown) with ELF-header reads failing, dying of SIGSEGV both times; gdb and
 * eu-stack degrade under mem and maps rules without crashing. The scripts check
 * themselves (exit 0); the test also checks the traces they print, so a script
 * that checked nothing would still fail here.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, test } from 'vitest';

import { canMount } from '../helpers/with-mount';

const ROOT = path.resolve(__dirname, '../..');
const have = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const haveGlog = fs.existsSync('/usr/include/glog/logging.h');

function runExample(script: string, env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync('bash', [path.join(ROOT, script)], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...env } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The lines of the output section that starts with `== <title>`. */
function section(out: string, title: string): string {
  const start = out.indexOf(`== ${title}`);
  if (start < 0) return '';
  const next = out.indexOf('\n== ', start + 3);
  return out.slice(start, next < 0 ? undefined : next);
}

describe.skipIf(!canMount() || !haveGlog)('examples/crash-symbolize', () => {
  test('glog names parse_config, start_server and main; with ELF-header reads failing, only (unknown); both die of SIGSEGV', { timeout: 300_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crash-symbolize-'));
    try {
      const { status, out } = runExample('examples/crash-symbolize/run.sh', { CRASH_BIN: path.join(dir, 'crash') });
      const plain = section(out, 'through procfuse, no faults');
      const faulted = section(out, 'through procfuse, --faults');
      for (const f of ['parse_config', 'start_server', 'main']) {
        expect(plain).toMatch(new RegExp(`@ +0x[0-9a-f]+ +${f}\\n`));
        expect(faulted).not.toMatch(new RegExp(`@ +0x[0-9a-f]+ +${f}\\n`));
      }
      expect(faulted.match(/\(unknown\)/g)?.length).toBeGreaterThanOrEqual(6);
      expect(plain).toMatch(/exit status 139/);
      expect(faulted).toMatch(/exit status 139/);
      expect(status, out).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!canMount() || !have('gdb') || !have('eu-stack'))('examples/unwinder-test', () => {
  test('gdb bt: partial under stack EIO, unchanged under page-boundary short reads, stops at "exit"; eu-stack loses names with its maps entries hidden; a replayed snapshot symbolizes as the live process', { timeout: 300_000 }, () => {
    const { status, out } = runExample('examples/unwinder-test/run.sh');
    const plain = section(out, 'gdb bt, no faults');
    expect(plain).toMatch(/ leaf \(\)[\s\S]* middle \(\)[\s\S]* outer \(\)[\s\S]* main \(\)/);
    const eio = section(out, 'gdb bt, EIO on the stack');
    expect(eio).toMatch(/ leaf \(\)[\s\S]* middle \(\)/);
    expect(eio).not.toMatch(/ main \(\)/);
    expect(eio).toMatch(/Backtrace stopped: Cannot access memory/);
    const frames = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('#'));
    expect(frames(section(out, 'gdb bt, every read short'))).toEqual(frames(plain));
    const exit = section(out, 'gdb bt, the target "exits"');
    expect(exit).toMatch(/Cannot access memory/);
    expect(exit).not.toMatch(/ main \(\)/);
    expect(section(out, 'eu-stack, no faults')).toMatch(/ leaf\n/);
    const hidden = section(out, 'eu-stack, maps without');
    expect(hidden).not.toMatch(/ leaf\n/);
    expect(hidden).toMatch(/#1 +0x[0-9a-f]+\n/);
    // The replayed snapshot symbolizes as the live process did.
    const replay = section(out, 'a snapshot of the target, replayed');
    const [liveOut, replayOut] = replay.split('-- replay');
    expect(liveOut).toMatch(/leaf\+0x0[\s\S]*middle\+0x0[\s\S]*outer\+0x0[\s\S]*main\+0x0/);
    const frameLines = (t: string | undefined): string[] => (t ?? '').split('\n').filter((l) => /^ +@ /.test(l));
    expect(frameLines(liveOut)).toHaveLength(5);
    expect(frameLines(replayOut)).toEqual(frameLines(liveOut));
    expect(status, out).toBe(0);
  });
});
