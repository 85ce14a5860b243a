import path from 'node:path';

import { CliError } from './args';
import { detach, isFuseMount, mountsAt } from './mounts';

/** `procfuse unmount <mountpoint>`: the serving daemon sees the connection end and exits. */
export function unmountCommand(mountpoint: string): number {
  const abs = path.resolve(mountpoint);
  const here = mountsAt(abs);
  if (!here.some(isFuseMount)) throw new CliError(`${abs} is not a procfuse mount`);
  const r = detach(abs);
  if (!r.ok) throw new CliError(`cannot unmount ${abs}: ${r.message}`);
  process.stderr.write(`procfuse: unmounted ${abs}\n`);
  return 0;
}
