/**
 * `procfuse faults status|reload <mountpoint>`: a unix socket per mount with
 * --faults, /run/procfuse/<mountpoint>.faults.sock (mode 0600: the daemon's
 * user only). One request line ("status" or "reload"), one JSON answer, close.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import type { FaultRulesFile } from './fault-rules-file';

const DIRS = ['/run/procfuse', '/tmp/procfuse'];

function socketName(abs: string): string {
  return `${abs.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_') || 'root'}.faults.sock`;
}

/** Starts the control socket; it is removed when the process exits. */
export function serveFaultControl(abs: string, faults: FaultRulesFile): net.Server | undefined {
  for (const dir of DIRS) {
    let sock: string;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      sock = path.join(dir, socketName(abs));
      fs.rmSync(sock, { force: true }); // a socket left by a killed daemon
    } catch {
      continue;
    }
    const server = net.createServer((conn) => {
      let got = '';
      conn.setEncoding('utf8');
      conn.on('error', () => conn.destroy());
      conn.on('data', (d: string) => {
        got += d;
        if (!got.includes('\n') || got.length > 64) return;
        const cmd = got.trim();
        if (cmd === 'reload') faults.reload('procfuse faults reload');
        const answer = cmd === 'status' || cmd === 'reload' ? faults.status() : { error: `unknown request '${cmd}'` };
        conn.end(`${JSON.stringify(answer)}\n`);
      });
    });
    const old = process.umask(0o177);
    try {
      server.listen(sock);
    } finally {
      process.umask(old);
    }
    server.unref();
    process.on('exit', () => fs.rmSync(sock, { force: true }));
    return server;
  }
  return undefined;
}

/** Asks the daemon of the mount at `abs`; resolves to its JSON answer. */
export async function queryFaultControl(abs: string, cmd: 'status' | 'reload', timeoutMs = 10_000): Promise<unknown> {
  const sock = DIRS.map((d) => path.join(d, socketName(abs))).find((p) => fs.existsSync(p));
  if (!sock) throw new Error(`no fault rules control socket for ${abs} (is it a procfuse mount with --faults?)`);
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(sock);
    let got = '';
    const timer = setTimeout(() => conn.destroy(new Error(`no answer from ${sock}`)), timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${cmd}\n`));
    conn.on('data', (d: string) => (got += d));
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    conn.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(got));
      } catch {
        reject(new Error(`bad answer from ${sock}: ${got.slice(0, 200)}`));
      }
    });
  });
}
