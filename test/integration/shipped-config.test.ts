/**
 * The deployment files in mount/ are accepted by the tools that read them, where
 * this machine has those tools: systemd's own verifier for the unit, a YAML
 * parser for the Kubernetes manifests (no cluster, Docker daemon or systemd runs
 * here, so none of them can be exercised for real).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, test } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const pythonYaml = have('python3') && spawnSync('python3', ['-c', 'import yaml']).status === 0;

describe('mount/ deployment files', () => {
  test.skipIf(!have('systemd-analyze'))('systemd-analyze verify accepts procfuse.service', { timeout: 30_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-test-unit-'));
    try {
      // verify also checks that ExecStart names an executable: point it at one that exists here
      const unit = fs.readFileSync(path.join(ROOT, 'mount/systemd/procfuse.service'), 'utf8').replaceAll('/usr/local/bin/procfuse', '/bin/true');
      fs.writeFileSync(path.join(dir, 'procfuse.service'), unit);
      const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'procfuse.service')], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(!pythonYaml)('the Kubernetes manifests are YAML with the kinds they claim', { timeout: 30_000 }, () => {
    const kinds = (file: string): string[] => {
      const r = spawnSync(
        'python3',
        ['-c', 'import sys, yaml; print(" ".join(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d))', path.join(ROOT, 'mount/kubernetes', file)],
        { encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      return r.stdout.trim().split(' ');
    };
    expect(kinds('runtimeclass.yaml')).toEqual(['RuntimeClass', 'Pod']);
    expect(kinds('procfuse-installer.yaml')).toEqual(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
  });
});
