import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, test } from 'vitest';

import { LogSink } from '../../../src/cli/log-sink';

describe('LogSink', () => {
  test('writes to /dev/full are counted, not thrown', () => {
    const sink = LogSink.open('/dev/full');
    expect(() => {
      sink.write('one\n');
      sink.write('two\n');
    }).not.toThrow();
    expect(sink.failures).toBe(2);
  });

  test('an unopenable log fails at open, with the errno', () => {
    expect(() => LogSink.open('/nonexistent-dir/x.log')).toThrow(/ENOENT/);
  });

  test('after a rotation the file is opened again, and lost lines are reported once', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procfuse-sink-'));
    try {
      const p = path.join(dir, 'log');
      const sink = LogSink.open(p);
      sink.write('a\n');
      fs.renameSync(p, `${p}.1`);
      sink.reopen();
      sink.write('b\n');
      expect(fs.readFileSync(`${p}.1`, 'utf8')).toBe('a\n');
      expect(fs.readFileSync(p, 'utf8')).toBe('b\n');
      fs.rmSync(dir, { recursive: true });
      sink.reopen(); // the directory is gone: counted
      sink.write('c\n');
      expect(sink.failures).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
