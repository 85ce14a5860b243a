/**
 * Where a daemon's log lines go: a file (or fd) that may stop accepting writes
 * (`--log /dev/full`, a full /run, a closed pipe). A failed write is counted,
 * never fatal; the next write that succeeds first says how many were lost.
 * `reopen()` (SIGHUP) opens the path again, for logrotate.
 */
import fs from 'node:fs';

export class LogSink {
  /** writes that failed since the daemon started */
  failures = 0;
  private unreported = 0;
  private lastError = '';
  private fd: number;

  /** Opens `path` for appending; throws the open's error (the caller reports it). */
  static open(path: string, mode = 0o600): LogSink {
    return new LogSink(fs.openSync(path, 'a', mode), path);
  }

  constructor(
    fd: number,
    private readonly path?: string,
  ) {
    this.fd = fd;
  }

  write(text: string | Uint8Array): void {
    try {
      if (this.unreported > 0) {
        fs.writeSync(this.fd, `procfuse: ${this.unreported} log writes failed before this one (${this.lastError})\n`);
        this.unreported = 0;
      }
      if (typeof text === 'string') fs.writeSync(this.fd, text);
      else fs.writeSync(this.fd, text);
    } catch (e) {
      this.failures++;
      this.unreported++;
      this.lastError = (e as NodeJS.ErrnoException).code ?? String(e);
    }
  }

  /** Opens the path again (after a rotation); keeps the old fd if that fails. */
  reopen(): void {
    if (this.path === undefined) return;
    try {
      const fd = fs.openSync(this.path, 'a', 0o600);
      const old = this.fd;
      this.fd = fd;
      if (old > 2) fs.closeSync(old);
    } catch (e) {
      this.failures++;
      this.unreported++;
      this.lastError = (e as NodeJS.ErrnoException).code ?? String(e);
    }
  }
}

/**
 * Routes process.stdout and process.stderr (console.*, `debug`) through `sink`:
 * Node's own streams end the process on a write error no one listens to, and
 * stay broken after the first one.
 */
export function routeOutputTo(sink: LogSink): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.write = ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean => {
      sink.write(typeof chunk === 'string' ? chunk : Buffer.from(chunk));
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }) as typeof stream.write;
  }
}
