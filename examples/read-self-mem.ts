/**
 * The smallest use of procfuse: mount it on a temporary directory (served by a
 * child daemon: this process must never serve its own reads), read our own
 * maps and 16 bytes of our own memory through <mnt>/self, then unmount.
 *
 *   npm run build && node dist/examples/read-self-mem.js     (as root)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CLI = path.resolve(__dirname, '../mount/cli.js');

async function main(): Promise<void> {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-example-'));
  // `mount --foreground --ready-fd 3` writes "ready" on fd 3 once mounted.
  const daemon = spawn(process.execPath, [CLI, 'mount', mnt, '--foreground', '--ready-fd', '3'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let log = '';
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const ready = await new Promise<boolean>((resolve) => {
    daemon.stdio[3]!.on('data', () => resolve(true));
    daemon.on('exit', () => resolve(false));
  });
  try {
    if (!ready) throw new Error(`procfuse did not mount ${mnt}: ${log.trim()}`);
    console.log(`mounted procfuse at ${mnt} (daemon pid ${daemon.pid})`);

    // self is the reader: this process, not the daemon.
    console.log(`${mnt}/self -> ${fs.readlinkSync(`${mnt}/self`)} (our pid ${process.pid})`);
    const maps = fs.readFileSync(`${mnt}/self/maps`, 'utf8').trimEnd().split('\n');
    console.log(`${mnt}/self/maps: ${maps.length} lines; first: ${maps[0]}`);

    // 16 bytes at the start of our first mapping (node's ELF header), read with
    // pread at the address, as a crash reporter does.
    const [start, object] = [BigInt(`0x${maps[0]!.split('-')[0]}`), maps[0]!.split(/\s+/)[5]];
    const buf = Buffer.alloc(16);
    const fd = fs.openSync(`${mnt}/self/mem`, 'r');
    const n = fs.readSync(fd, buf, 0, 16, start);
    fs.closeSync(fd);
    const host = Buffer.alloc(16);
    const hostFd = fs.openSync('/proc/self/mem', 'r');
    fs.readSync(hostFd, host, 0, 16, start);
    fs.closeSync(hostFd);
    console.log(`${mnt}/self/mem at 0x${start.toString(16)} (${object}): ${buf.subarray(0, n).toString('hex')}`);
    console.log(`/proc/self/mem at 0x${start.toString(16)}: ${host.toString('hex')} (${buf.equals(host) ? 'same' : 'DIFFERENT'})`);
  } finally {
    // SIGTERM: the daemon unmounts and exits.
    if (daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    fs.rmdirSync(mnt);
    console.log(`unmounted ${mnt}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
