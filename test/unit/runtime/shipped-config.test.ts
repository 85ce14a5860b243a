/** The deployment files in mount/ say what the code does (names and paths in one place each). */
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, test } from 'vitest';

const ROOT = path.resolve(__dirname, '../../..');
const read = (f: string): string => fs.readFileSync(path.join(ROOT, 'mount', f), 'utf8');

describe('mount/ deployment files', () => {
  test('Docker daemon.json names the runtime executable that the containerd config and installer install', () => {
    const d = JSON.parse(read('docker/daemon.json')) as { runtimes: Record<string, { path: string }> };
    expect(d.runtimes.procfuse!.path).toBe('/usr/local/bin/procfuse-runtime');
    expect(read('kubernetes/procfuse-installer.yaml')).toContain('BinaryName = "/usr/local/bin/procfuse-runtime"');
    expect(read('kubernetes/procfuse-installer.yaml')).toContain('ln -sfn /opt/procfuse/mount/procfuse-runtime /host/usr/local/bin/procfuse-runtime');
  });
  test('the RuntimeClass handler is the containerd runtime name', () => {
    expect(read('kubernetes/runtimeclass.yaml')).toMatch(/^handler: procfuse$/m);
    expect(read('kubernetes/procfuse-installer.yaml')).toContain('containerd.runtimes.procfuse]');
  });
  test('the systemd unit serves a per-caller view in the foreground', () => {
    expect(read('systemd/procfuse.service')).toMatch(/^ExecStart=\/usr\/local\/bin\/procfuse mount \S+ --foreground -o pidns=caller /m);
  });
  test('the shipped scripts are executable', () => {
    for (const f of ['procfuse-runtime', 'mount.fuse.procfuse']) expect(fs.statSync(path.join(ROOT, 'mount', f)).mode & 0o111).toBe(0o111);
  });
});
