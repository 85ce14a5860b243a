/**
 * Asks a separate process, optionally with dropped credentials, what a list of
 * filesystem calls returns, step by step: the errno of open() vs read() of a
 * file, of opendir() vs getdents() of a directory, of readlink(). Used to put
 * the mount and the host's /proc side by side for the same caller.
 */
import { spawnSync } from 'node:child_process';

export type ProbeOp = ['read' | 'readlink' | 'list', string];

/** 'ok:<latin1 text>' / 'ok:<names joined by space>' or the errno name, with the step that failed. */
export type ProbeResult = string;

/** Runs in the probe process: no imports beyond node's fs. */
const SCRIPT = `
const fs = require('fs');
const ops = JSON.parse(process.argv[1]);
const err = (step, e) => step + ':' + (e.code || String(e));
const out = ops.map(([op, p]) => {
  if (op === 'readlink') {
    try { return 'ok:' + fs.readlinkSync(p, 'latin1'); } catch (e) { return err('readlink', e); }
  }
  if (op === 'read') {
    let fd;
    try { fd = fs.openSync(p, 'r'); } catch (e) { return err('open', e); }
    try {
      const chunks = []; const b = Buffer.alloc(65536); let n;
      while ((n = fs.readSync(fd, b, 0, b.length, null)) > 0) chunks.push(Buffer.from(b.subarray(0, n)));
      return 'ok:' + Buffer.concat(chunks).toString('latin1');
    } catch (e) { return err('read', e); } finally { fs.closeSync(fd); }
  }
  let d;
  try { d = fs.opendirSync(p); } catch (e) { return err('opendir', e); }
  try {
    const names = []; let ent;
    while ((ent = d.readSync()) !== null) names.push(ent.name);
    return 'ok:' + names.sort().join(' ');
  } catch (e) { return err('getdents', e); } finally { try { d.closeSync(); } catch {} }
});
process.stdout.write(JSON.stringify(out));
`;

/** setpriv arguments for "uid/gid N, no groups, no capabilities at all". */
export function unprivileged(uid: number): string[] {
  return [
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
  ];
}

/** Runs `ops` in a fresh node process, prefixed by `wrapper` (e.g. unprivileged(65534)). */
export function probe(ops: ProbeOp[], wrapper: string[] = []): ProbeResult[] {
  const argv = [...wrapper, process.execPath, '-e', SCRIPT, JSON.stringify(ops)];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: '/', encoding: 'utf8', timeout: 20_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`probe failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ProbeResult[];
}
