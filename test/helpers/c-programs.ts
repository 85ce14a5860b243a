/**
 * Small C programs used as real target processes, compiled on first use into
 * test/.build/ (rebuilt when the source is newer).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SRC = path.join(ROOT, 'test/fixtures/c');
const OUT = path.join(ROOT, 'test/.build');

export function buildCProgram(name: string): string {
  const src = path.join(SRC, `${name}.c`);
  const bin = path.join(OUT, name);
  fs.mkdirSync(OUT, { recursive: true });
  const fresh = fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(src).mtimeMs;
  if (!fresh) {
    const tmp = `${bin}.${process.pid}.tmp`;
    execFileSync('cc', ['-O1', '-g', '-Wall', '-pthread', '-o', tmp, src], { stdio: 'inherit' });
    fs.renameSync(tmp, bin);
  }
  return bin;
}
