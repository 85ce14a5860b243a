/**
 * Directory names that can name a process, parsed like the kernel's name_to_int
 * (fs/proc/util.c): decimal digits only, no sign, no leading zero (except that
 * "0" itself parses, and then names no process), no overflow of an unsigned int.
 * Returns undefined for anything else, which the caller turns into ENOENT.
 */
const UINT_MAX = 0xffffffff;

export function parsePidName(name: string): number | undefined {
  if (name.length === 0 || name.length > 10) return undefined;
  if (name.length > 1 && name[0] === '0') return undefined;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const n = Number(name);
  if (n > UINT_MAX) return undefined;
  return n;
}
