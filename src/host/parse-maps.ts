/**
 * Parser for /proc/[pid]/maps as printed by Linux fs/proc/task_mmu.c
 * show_map_vma(). The parser is exact: renderMaps(parseMaps(x)) reproduces x
 * byte for byte (test/unit/maps), so the name column is kept as raw bytes.
 *
 * Line layout (SPEC-36, SPEC-39), 64-bit:
 *   prefix = "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu "   (show_vma_header_prefix)
 *   named   line: prefix, spaces up to column 72 (seq_pad), one space, name, "\n"
 *   unnamed line: prefix, "\n"   (seq_pad is never called; the prefix's own
 *                 trailing space stays)
 * So the name starts at max(72, prefix.length) + 1 and may itself begin with
 * spaces; we locate it by column, never by skipping blanks.
 *
 * The input is handled as latin1 (one char per byte) so that path bytes which
 * are not UTF-8 survive unchanged; a string argument must therefore have been
 * decoded as latin1 (HostProc.readText does), never as UTF-8.
 */

/** One line of a maps file. */
export interface Vma {
  start: bigint;
  end: bigint;
  /** Exactly 4 chars: r/w/x or '-', then 's' (VM_MAYSHARE) or 'p'. SPEC-37. */
  perms: string;
  /** vm_pgoff << PAGE_SHIFT for file mappings, else 0. SPEC-38. */
  offset: bigint;
  devMajor: number;
  devMinor: number;
  inode: bigint;
  /**
   * The name column exactly as the kernel printed it: `seq_path` escapes
   * ("\n" as "\012") and any " (deleted)" suffix included; empty if none.
   */
  name: Buffer;
  /** The name ends in " (deleted)" (d_path's suffix; ambiguous by design, see fs/d_path.c). */
  deleted: boolean;
}

/** `seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)` on 64-bit. SPEC-39. */
export const MAPS_NAME_WIDTH = 72;

export const DELETED_SUFFIX = ' (deleted)';

// start-end perms offset major:minor inode, then the prefix's trailing space.
const PREFIX_RE = /^([0-9a-f]{8,16})-([0-9a-f]{8,16}) ([r-][w-][x-][sp]) ([0-9a-f]{8,16}) ([0-9a-f]{2,}):([0-9a-f]{2,}) (0|[1-9][0-9]*) /;

export class MapsParseError extends Error {
  constructor(
    readonly lineNo: number,
    readonly line: string,
    why: string,
  ) {
    super(`maps line ${lineNo}: ${why}: ${JSON.stringify(line.slice(0, 120))}`);
    this.name = 'MapsParseError';
  }
}

function isCanonicalHex(digits: string, width: number): boolean {
  return digits.length === width || (digits.length > width && digits[0] !== '0');
}

/** True if a name column carries the d_path " (deleted)" suffix. */
export function isDeletedName(name: Buffer): boolean {
  return name.length >= DELETED_SUFFIX.length && name.subarray(name.length - DELETED_SUFFIX.length).toString('latin1') === DELETED_SUFFIX;
}

/** Parses one line (without its '\n'). */
export function parseMapsLine(line: string, lineNo = 1): Vma {
  const m = PREFIX_RE.exec(line);
  if (!m) throw new MapsParseError(lineNo, line, 'bad prefix');
  // Only the kernel's own spelling is accepted (minimum width, no extra
  // leading zeros), so that every accepted line renders back identically.
  if (!isCanonicalHex(m[1]!, 8) || !isCanonicalHex(m[2]!, 8) || !isCanonicalHex(m[4]!, 8) || !isCanonicalHex(m[5]!, 2) || !isCanonicalHex(m[6]!, 2)) {
    throw new MapsParseError(lineNo, line, 'non-canonical number');
  }
  const prefixLen = m[0].length;
  let name: Buffer;
  if (line.length === prefixLen) {
    name = Buffer.alloc(0);
  } else {
    const nameAt = Math.max(MAPS_NAME_WIDTH, prefixLen) + 1;
    // Everything between the prefix and the name is seq_pad's padding.
    for (let i = prefixLen; i < nameAt; i++) {
      if (line.charCodeAt(i) !== 0x20) throw new MapsParseError(lineNo, line, 'bad padding');
    }
    if (line.length <= nameAt) throw new MapsParseError(lineNo, line, 'padding without a name');
    name = Buffer.from(line.slice(nameAt), 'latin1');
  }
  return {
    start: BigInt('0x' + m[1]),
    end: BigInt('0x' + m[2]),
    perms: m[3]!,
    offset: BigInt('0x' + m[4]),
    devMajor: parseInt(m[5]!, 16),
    devMinor: parseInt(m[6]!, 16),
    inode: BigInt(m[7]!),
    name,
    deleted: isDeletedName(name),
  };
}

/**
 * Parses a whole maps file. Names cannot contain a raw '\n' (seq_path escapes
 * it; anon names reject non-printable bytes), so lines split on '\n'.
 */
export function parseMaps(text: string | Buffer): Vma[] {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  if (s.length === 0) return [];
  if (!s.endsWith('\n')) throw new MapsParseError(0, s.slice(-120), 'no final newline');
  const lines = s.slice(0, -1).split('\n');
  return lines.map((line, i) => parseMapsLine(line, i + 1));
}
