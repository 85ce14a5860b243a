/**
 * Renderer for /proc/[pid]/maps. Linux: fs/proc/task_mmu.c show_map_vma() and
 * show_vma_header_prefix(); padding from fs/seq_file.c seq_setwidth()/seq_pad().
 *
 * Pure: VMAs in, the file's bytes out. The `maps` node renders at each read
 * from offset 0, as seq_file does, and serves the rest of that read from the
 * buffer, so a chunked reader never sees a torn line (SPEC-45).
 */
import { MAPS_NAME_WIDTH, type Vma } from '../host/parse-maps';

/** seq_put_hex_ll(m, delim, v, width): lowercase, zero-padded to at least `width`. */
function hex(v: bigint | number, width: number): string {
  return v.toString(16).padStart(width, '0');
}

/**
 * The line prefix up to and including its trailing space (SPEC-36):
 * "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ".
 */
export function renderMapsPrefix(v: Vma): string {
  return (
    `${hex(v.start, 8)}-${hex(v.end, 8)} ${v.perms} ${hex(v.offset, 8)} ` +
    `${hex(v.devMajor, 2)}:${hex(v.devMinor, 2)} ${v.inode.toString(10)} `
  );
}

/**
 * One line, '\n' included. SPEC-39: a named line pads to column 72 and adds one
 * more space (seq_pad pads only while count < pad_until, then always writes the
 * extra char), so a prefix of 72+ chars is followed by exactly one extra space;
 * an unnamed line never calls seq_pad and ends "<inode> \n".
 */
export function renderMapsLine(v: Vma): Buffer {
  const prefix = renderMapsPrefix(v);
  if (v.name.length === 0) return Buffer.from(prefix + '\n', 'latin1');
  const pad = ' '.repeat(Math.max(0, MAPS_NAME_WIDTH - prefix.length) + 1);
  return Buffer.concat([Buffer.from(prefix + pad, 'latin1'), v.name, NEWLINE]);
}

const NEWLINE = Buffer.from('\n');

/** The whole file. An empty list renders as an empty file (mm-less task, SPEC-33). */
export function renderMaps(vmas: readonly Vma[]): Buffer {
  return Buffer.concat(vmas.map(renderMapsLine));
}
