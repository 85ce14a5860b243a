/**
 * A small least-recently-used map of open fds. Every fd the daemon keeps open is
 * one more entry that `lsof`, `ls /proc/<daemon>/fd` and every other tool walking
 * the daemon's fd table has to look at (through the mount, each is a FUSE round
 * trip), so the cache stays small: it exists to make a burst of requests about
 * the same few tasks cheap (one open, many preads), not to hold the whole host.
 */
export class FdCache<K, V extends { fd: number }> {
  private readonly entries = new Map<K, V>();

  constructor(
    readonly capacity: number,
    private readonly close: (fd: number) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry for `key`, now the most recently used one. */
  get(key: K): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  /** Adds (or replaces) an entry, closing the least recently used one if full. */
  set(key: K, value: V): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      if (old.fd !== value.fd) this.close(old.fd);
    }
    while (this.entries.size >= this.capacity) {
      const [k, v] = this.entries.entries().next().value as [K, V];
      this.entries.delete(k);
      this.close(v.fd);
    }
    this.entries.set(key, value);
  }

  /** Forgets an entry and closes its fd. */
  drop(key: K): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.close(v.fd);
  }
}
