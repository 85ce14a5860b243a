/**
 * maps and smaps as the reader sees them: file paths relative to the reader's
 * root, as the kernel's d_path prints them for that reader
 * (src/view/root-path.ts). A reader at "/" gets the host's bytes unchanged.
 */
import type { RequestContext } from '../fuse/request';
import { parseMaps, parseMapsLine } from '../host/parse-maps';
import type { ProcessRef } from '../proc/process-ref';
import { isAbsoluteRoot, readReaderRoot, viewMaps } from '../view/root-path';
import { renderMaps, renderMapsLine } from './maps';

export function renderMapsForReader(bytes: Buffer, ctx: RequestContext, ref?: ProcessRef): Buffer {
  const root = readReaderRoot(ctx);
  const text = isAbsoluteRoot(root) ? bytes : renderMaps(viewMaps(parseMaps(bytes), root));
  // --faults: maps rules (hide, truncate, torn) on what this reader would see.
  const faults = ctx.view.mount.faults;
  return faults && ref ? faults.maps(text, ctx, ref) : text;
}

const SMAPS_HEADER = /^[0-9a-f]+-[0-9a-f]+ /;

/** smaps: each VMA's header line is a maps line; the Key: value lines carry no paths. */
export function renderSmapsForReader(bytes: Buffer, ctx: RequestContext): Buffer {
  const root = readReaderRoot(ctx);
  if (isAbsoluteRoot(root)) return bytes;
  const out: Buffer[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length - 1;
    const line = bytes.subarray(start, end + 1);
    const text = line.toString('latin1');
    out.push(SMAPS_HEADER.test(text) ? renderMapsLine(viewMaps([parseMapsLine(text.replace(/\n$/, ''))], root)[0]!) : line);
    start = end + 1;
  }
  return Buffer.concat(out);
}

