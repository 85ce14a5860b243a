/** What procfuse-runtime reads of an OCI bundle's config.json (pure). */

export interface BundleProc {
  /** maskedPaths under /proc: covered again once our /proc is in place */
  masked: string[];
  /** readonlyPaths under /proc */
  readonly: string[];
  terminal: boolean;
}

const underProc = (p: unknown): p is string => typeof p === 'string' && (p === '/proc' || p.startsWith('/proc/'));

/**
 * runc applied maskedPaths and readonlyPaths to its own procfs, which ours now
 * covers; the ones under /proc must be applied again on top of ours. Paths
 * elsewhere (/sys/firmware) are untouched by us and stay as runc left them.
 */
export function bundleProc(configJson: string): BundleProc {
  const c = JSON.parse(configJson) as {
    linux?: { maskedPaths?: unknown[]; readonlyPaths?: unknown[] };
    process?: { terminal?: boolean };
  };
  return {
    masked: (c.linux?.maskedPaths ?? []).filter(underProc).filter((p) => p !== '/proc'),
    readonly: (c.linux?.readonlyPaths ?? []).filter(underProc).filter((p) => p !== '/proc'),
    terminal: c.process?.terminal === true,
  };
}
