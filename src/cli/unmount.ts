import fs from 'node:fs';
import path from 'node:path';

import { CliError } from './args';
import { abortConnection, detach, fuseConnectionAt, isFuseMount, mountsAt } from './mounts';

/** How long a reader that still holds a file of the mount open may keep its connection. */
const GRACE_MS = 1000;

/**
 * `procfuse unmount <mountpoint>`: detaches the mount; the serving daemon sees
 * the connection end and exits. A reader that still holds one of its files
 * open would keep the connection (and the daemon) alive for as long as it
 * likes: after a short grace the connection is aborted, so the daemon exits
 * promptly and that reader gets ENOTCONN. (A mount detached by other means,
 * umount -l, keeps serving such readers: procfuse-runtime relies on it.)
 */
export function unmountCommand(mountpoint: string): number {
  const abs = path.resolve(mountpoint);
  const here = mountsAt(abs);
  if (!here.some(isFuseMount)) throw new CliError(`${abs} is not a procfuse mount`);
  const connection = fuseConnectionAt(abs);
  const r = detach(abs);
  if (!r.ok) throw new CliError(`cannot unmount ${abs}: ${r.message}`);
  if (connection !== undefined) {
    const live = `/sys/fs/fuse/connections/${connection}`;
    const end = Date.now() + GRACE_MS;
    while (fs.existsSync(live) && Date.now() < end) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    if (fs.existsSync(live)) {
      abortConnection(connection);
      process.stderr.write(`procfuse: ${abs} was still in use; its connection was aborted\n`);
    }
  }
  process.stderr.write(`procfuse: unmounted ${abs}\n`);
  return 0;
}
