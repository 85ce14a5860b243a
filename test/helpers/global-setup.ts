/**
 * Integration setup: compile the TypeScript so the daemon under test is the
 * current source, check the addon exists, and clear mounts left by an earlier
 * run that was killed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { isFuseMount, parseMountinfo } from '../../src/cli/mounts';

export const ROOT = path.resolve(__dirname, '../..');

export default function setup(): void {
  execFileSync(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', path.join(ROOT, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  if (!fs.existsSync(path.join(ROOT, 'build/Release/procfuse_native.node'))) {
    throw new Error('native addon not built: run npm ci (or npx node-gyp rebuild)');
  }
  // Clear only STALE test mounts (daemon gone: ENOTCONN). A live one may belong
  // to another test run on this machine.
  for (const m of parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))) {
    const mnt = m.mountpoint;
    if (!mnt.includes('/procfuse-test-') || !isFuseMount(m)) continue;
    // stat in a child with a time limit: a wedged mount of another run must not
    // hang this one (a synchronous stat here would wait for its daemon forever).
    const r = spawnSync('stat', ['-c', '%i', mnt], { timeout: 2000, encoding: 'utf8' });
    if (r.status !== 0 && /not connected/i.test(r.stderr ?? '')) spawnSync('umount', ['-l', mnt]);
  }
}
