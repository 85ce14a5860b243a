/**
 * Errors as errno values. Nodes throw; the dispatcher catches and answers the
 * request with exactly one reply.
 *
 * | case                                          | result      |
 * | --------------------------------------------- | ----------- |
 * | name not in the directory, or no such `<pid>` | ENOENT      |
 * | process gone after lookup                     | ESRCH       |
 * | policy denies                                 | EACCES      |
 * | `mem` read at an unmapped address             | EIO         |
 * | `mem` read that runs into an unmapped page    | short read  |
 * | chmod/chown of a procfs entry                 | EPERM       |
 */
import { constants } from 'node:os';

export type ErrnoName = keyof typeof constants.errno;

export class FsError extends Error {
  constructor(
    readonly code: ErrnoName,
    message?: string,
  ) {
    super(message ?? code);
    this.name = 'FsError';
  }
}

/** Positive errno for anything thrown by a node; unknown errors become EIO. */
export function toErrno(err: unknown): number {
  if (err instanceof FsError) return constants.errno[err.code];
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    const n = (constants.errno as Record<string, number>)[(err as { code: string }).code];
    if (n !== undefined) return n;
  }
  return constants.errno.EIO;
}

/** True if `err` is an errno-carrying error with one of `codes`. */
export function hasCode(err: unknown, ...codes: string[]): boolean {
  return !!err && typeof err === 'object' && 'code' in err && codes.includes((err as { code: string }).code);
}
