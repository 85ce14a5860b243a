/**
 * Reads, writes and opens of /proc/<pid>/mem (the host's or the mount's) from
 * this process, for the mem tests. Each returns the errno code instead of
 * throwing, so a test can compare two sides' answers with one toEqual.
 */
import fs from 'node:fs';

import { addr, type TargetLine } from './c-programs';

/** Data (or a byte count), or the errno code that was thrown. */
export type ReadResult = Buffer | string;

/** The errno code ('EIO') of a thrown fs error; anything else is rethrown. */
export function codeOf(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') throw e;
  return code;
}

/** The errno code open(2) fails with, or null when it opens (the fd is closed again). */
export function openErrno(path: string, flags = 'r'): string | null {
  try {
    fs.closeSync(fs.openSync(path, flags));
    return null;
  } catch (e) {
    return codeOf(e);
  }
}

/** One pread(2) (fs.readSync with a bigint position). */
export function readFd(fd: number, at: bigint, len: number): ReadResult {
  const buf = Buffer.alloc(len);
  try {
    const n = fs.readSync(fd, buf, 0, len, at);
    return buf.subarray(0, n);
  } catch (e) {
    return codeOf(e);
  }
}

/** open, one pread(2), close. */
export function readPath(path: string, at: bigint, len: number): ReadResult {
  const fd = fs.openSync(path, 'r');
  try {
    return readFd(fd, at, len);
  } finally {
    fs.closeSync(fd);
  }
}

// fs.writeSync ignores a bigint position (it would write at f_pos): pass a number;
// user addresses are < 2^53.
/** One pwrite(2): the byte count, or the errno code. */
export function writeFd(fd: number, at: bigint, data: Buffer): number | string {
  try {
    return fs.writeSync(fd, data, 0, data.length, Number(at));
  } catch (e) {
    return codeOf(e);
  }
}

/** `len` bytes with byte i = f(i) & 0xff (the fills the targets write). */
export function pattern(len: number, f: (i: number) => number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = f(i) & 0xff;
  return b;
}

/** mem_target's fills (test/fixtures/c/mem_target.c): byte i of each region, before & 0xff. */
export const MEM_TARGET_FILL = {
  heap: (i: number): number => i * 31 + 7,
  stack: (i: number): number => i * 17 + 3,
  file: (i: number): number => i * 13 + 5,
  prot: (i: number): number => i * 11 + 1,
  hole: (i: number): number => i * 5 + 9,
} as const;

/**
 * mem_target's heap, stack and file regions with the bytes they must hold, and
 * `textLen` bytes of its text (contents not known here: null): [name, address, length, bytes].
 */
export function memTargetRegions(info: TargetLine, textLen: number): Array<[string, bigint, number, Buffer | null]> {
  const region = (name: 'heap' | 'stack' | 'file'): [string, bigint, number, Buffer] => {
    const len = info[`${name}Len`] as number;
    return [name, addr(info[name]), len, pattern(len, MEM_TARGET_FILL[name])];
  };
  return [region('heap'), region('stack'), region('file'), ['text', addr(info.text), textLen, null]];
}

/**
 * Index of the first little-endian uint32 word of `got` that is not mem_target's
 * `big` fill, word w = (w * 2654435761) ^ 0xA5A5A5A5; -1 when all match.
 */
export function firstBadBigWord(got: Buffer): number {
  for (let w = 0; w < got.length / 4; w++) {
    if (got.readUInt32LE(w * 4) !== ((Math.imul(w, 2654435761) ^ 0xa5a5a5a5) >>> 0)) return w;
  }
  return -1;
}

/** The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or null once the pid is gone. */
export function procState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
  } catch {
    return null;
  }
}

/** Polls `cond` every 10 ms; throws after `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
