/** /proc/<pid>/status as key -> value text (fs/proc/array.c proc_pid_status). */
export function parseStatus(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return out;
}

/** "1000\t1000\t1000\t1000" -> [1000, 1000, 1000, 1000] */
export function parseIdList(value: string | undefined): number[] {
  if (!value) return [];
  return value
    .split(/\s+/)
    .filter((s) => s.length > 0)
    .map(Number);
}
