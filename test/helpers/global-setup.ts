/**
 * Integration setup: compile the TypeScript so the daemon under test is the
 * current source, check the addon exists, and clear mounts left by an earlier
 * run that was killed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

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
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mnt = line.split(' ')[4];
    if (!mnt || !mnt.includes('/procfuse-test-') || !line.includes(' - fuse')) continue;
    try {
      fs.statSync(mnt);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTCONN') spawnSync('umount', ['-l', mnt]);
    }
  }
}
