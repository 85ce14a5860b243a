/**
 * seq_file behaviour through the mount, side by side with the host's /proc: a
 * read from offset 0 on an open fd generates the text again (top rereads
 * /proc/stat and /proc/uptime this way), a read of maps returns whole lines,
 * and wchan/syscall follow their kernel access rules for the reader.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { buildCProgram } from '../helpers/c-programs';
import { startReadyTarget, type ReadyTarget } from '../helpers/ready-target';
import { canMount, startMount, type Mount } from '../helpers/with-mount';

const PYTHON = '/usr/bin/python3';

// Prints one JSON line: what rereads and 4 KiB reads of the given files return.
const PROBE = `
import json, os, sys, time
out = {}
for p in ['/proc/uptime', '/proc/stat']:
    fd = os.open(p, os.O_RDONLY)
    a = os.pread(fd, 65536, 0); time.sleep(0.25); b = os.pread(fd, 65536, 0)
    out[p] = a != b
    os.close(fd)
fd = os.open('/proc/%s/maps' % sys.argv[1], os.O_RDONLY)
sizes, off = [], 0
while True:
    chunk = os.pread(fd, 4096, off)
    if not chunk: break
    sizes.append((len(chunk), chunk.endswith(b'\\n')))
    off += len(chunk)
out['maps'] = sizes
print(json.dumps(out))
`;

describe.skipIf(!canMount() || !fs.existsSync(PYTHON))('seq_file reads through the mount, next to the host', () => {
  let m: Mount;
  let tmp: string;
  let target: ReadyTarget;

  beforeAll(async () => {
    m = await startMount();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-seq-'));
    fs.writeFileSync(path.join(tmp, 'probe.py'), PROBE);
    target = await startReadyTarget(buildCProgram('maps_target'), [tmp, '--many', '200']);
  });
  afterAll(async () => {
    target?.child.stdin?.end();
    target?.child.kill('SIGKILL');
    await m?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function run(cmd: string, ours: boolean): { status: number | null; stdout: string; stderr: string } {
    const script = ours ? `mount --bind ${m.dir} /proc && ${cmd}` : cmd;
    return spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 30_000 });
  }

  test('a reread from offset 0 regenerates; 4 KiB reads of maps end at a line, with the host\'s sizes', () => {
    const cmd = `${PYTHON} ${tmp}/probe.py ${target.pid}`;
    const host = JSON.parse(run(cmd, false).stdout);
    const ours = JSON.parse(run(cmd, true).stdout);
    expect(host['/proc/uptime']).toBe(true);
    expect(ours).toEqual(host);
    expect(ours.maps.length).toBeGreaterThan(2);
  });

  test('wchan: the symbol for a reader that may read the task, "0" for one that may not; syscall: EPERM for one that may not attach', () => {
    const nobody = 'setpriv --reuid 65534 --regid 65534 --clear-groups';
    const cmd = `cat /proc/${target.pid}/wchan; echo; ${nobody} cat /proc/${target.pid}/wchan; echo; ${nobody} cat /proc/${target.pid}/syscall 2>&1 | sed 's/^cat: //'; head -c 2 /proc/${target.pid}/syscall`;
    const host = run(cmd, false);
    const ours = run(cmd, true);
    expect(host.stdout).toMatch(/^[a-z_]\w*\n0\n\/proc\/\d+\/syscall: Permission denied\n\d/);
    expect(ours.stdout).toBe(host.stdout);
  });
});
