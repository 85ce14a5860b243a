/**
 * ptrace access modes (include/linux/ptrace.h). SPEC-57.
 *
 * A mode is READ or ATTACH, plus exactly one of FSCREDS (use the caller's
 * fsuid/fsgid and effective caps: procfs files) or REALCREDS (real ids and
 * permitted caps: ptrace(2), process_vm_readv).
 */
export const PTRACE_MODE_READ = 0x01;
export const PTRACE_MODE_ATTACH = 0x02;
export const PTRACE_MODE_NOAUDIT = 0x04;
export const PTRACE_MODE_FSCREDS = 0x08;
export const PTRACE_MODE_REALCREDS = 0x10;

export const PTRACE_MODE_READ_FSCREDS = PTRACE_MODE_READ | PTRACE_MODE_FSCREDS;
export const PTRACE_MODE_READ_REALCREDS = PTRACE_MODE_READ | PTRACE_MODE_REALCREDS;
export const PTRACE_MODE_ATTACH_FSCREDS = PTRACE_MODE_ATTACH | PTRACE_MODE_FSCREDS;
export const PTRACE_MODE_ATTACH_REALCREDS = PTRACE_MODE_ATTACH | PTRACE_MODE_REALCREDS;

/** CLI / log spelling of the four shorthands. */
export const PTRACE_MODE_NAMES = {
  'read-fscreds': PTRACE_MODE_READ_FSCREDS,
  'read-realcreds': PTRACE_MODE_READ_REALCREDS,
  'attach-fscreds': PTRACE_MODE_ATTACH_FSCREDS,
  'attach-realcreds': PTRACE_MODE_ATTACH_REALCREDS,
} as const;

export function parsePtraceMode(name: string): number | undefined {
  return (PTRACE_MODE_NAMES as Record<string, number>)[name];
}

/** "attach-fscreds", "read-realcreds|noaudit", or the hex value for odd masks. */
export function formatPtraceMode(mode: number): string {
  const base = mode & ~PTRACE_MODE_NOAUDIT;
  const name = Object.entries(PTRACE_MODE_NAMES).find(([, v]) => v === base)?.[0] ?? `0x${base.toString(16)}`;
  return mode & PTRACE_MODE_NOAUDIT ? `${name}|noaudit` : name;
}
