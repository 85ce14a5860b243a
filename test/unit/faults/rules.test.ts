import { describe, expect, test } from 'vitest';

import { applyMapsRules, compileMemRules, mappingMatches, type OpenFacts } from '../../../src/faults/compile';
import { parseFaultRules } from '../../../src/faults/rules';
import { parseMaps } from '../../../src/host/parse-maps';

const MAPS = [
  '55d000000000-55d000001000 r--p 00000000 08:01 100                        /usr/bin/t',
  '55d000001000-55d000003000 r-xp 00001000 08:01 100                        /usr/bin/t',
  '7f0000000000-7f0000028000 r--p 00000000 08:01 200                        /usr/lib/x86_64-linux-gnu/libc.so.6',
  '7f0000028000-7f0000100000 r-xp 00028000 08:01 200                        /usr/lib/x86_64-linux-gnu/libc.so.6',
  '7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]',
  '7ffc00100000-7ffc00102000 r-xp 00000000 00:00 0                          [vdso]',
  '',
].join('\n');

const doc = (rules: unknown[]): string => JSON.stringify({ version: 1, rules });

function facts(over: { callerPid?: number; callerTgid?: number; targetTgid?: number; comm?: string } = {}): OpenFacts {
  return {
    caller: {
      pid: over.callerPid ?? 10,
      uid: 0,
      tgid: () => over.callerTgid ?? over.callerPid ?? 10,
      viewTgid: () => (over.callerPid === 0 ? undefined : (over.callerTgid ?? over.callerPid ?? 10)),
      comm: () => 'gdb',
    },
    target: { tgid: over.targetTgid ?? 20, tid: over.targetTgid ?? 20, comm: () => over.comm ?? 'target', uid: () => 1000 },
  };
}

describe('parseFaultRules: every error names the rule', () => {
  test.each([
    [doc([{ name: 'x', action: 'eoi' }]), /rule 1 "x": "action" must be one of eio, short/],
    [doc([{ action: 'eio' }, { name: 'y', action: 'delay' }]), /rule 2 "y": "ms" must be a whole number/],
    [doc([{ name: 'z', action: 'eio', range: { start: '0x1001', end: '0x3000' } }]), /rule 1 "z": an "eio" range must start and end on a page boundary/],
    [doc([{ name: 'w', action: 'eio', tagret: 'self' }]), /rule 1 "w": unknown key 'tagret'/],
    [doc([{ name: 'v', file: 'maps', action: 'hide' }]), /rule 1 "v": "hide" needs a "mapping"/],
    [doc([{ name: 'u', file: 'maps', action: 'truncate', lines: 1, bytes: 2 }]), /exactly one of "lines" or "bytes"/],
    [doc([{ name: 'c', action: 'eio', target: { comm: 'a-very-long-command-name' } }]), /longer than 15 bytes/],
    [doc([{ name: 'd', action: 'eio' }, { name: 'd', action: 'eof' }]), /rule 2 "d": the name is used by an earlier rule/],
    [doc([{ name: 'e', file: 'maps', action: 'hide', mapping: '[stack]', nth: 2 }]), /unknown key 'nth' for a maps rule/],
    ['{"version": 2, "rules": []}', /"version" must be 1/],
    ['not json', /not JSON/],
  ])('%s', (text, err) => {
    expect(() => parseFaultRules(text)).toThrow(err);
  });

  test('defaults: file mem, probability 1, every read', () => {
    const [r] = parseFaultRules(doc([{ action: 'short' }]));
    expect(r).toMatchObject({ name: 'rule-1', file: 'mem', action: 'short', arg: 0, nth: 0, after: 0, probability: 1 });
  });
});

describe('compileMemRules: ranges from maps at open', () => {
  const vmas = parseMaps(MAPS);

  test('mapping names: brackets and paths exact, bare names by basename, elf-header at file offset 0', () => {
    expect(vmas.filter((v) => mappingMatches('libc.so.6', v))).toHaveLength(2);
    expect(vmas.filter((v) => mappingMatches('/usr/lib/x86_64-linux-gnu/libc.so.6', v))).toHaveLength(2);
    expect(vmas.filter((v) => mappingMatches('/libc.so.6', v))).toHaveLength(0);
    expect(vmas.filter((v) => mappingMatches('elf-header', v)).map((v) => v.start)).toEqual([0x55d000000000n, 0x7f0000000000n]);
  });

  test('elf-header: the first page only; pages.last of [stack]; a range intersects the mapping', () => {
    const rules = parseFaultRules(
      doc([
        { name: 'h', mapping: 'elf-header', action: 'eio' },
        { name: 's', mapping: '[stack]', pages: { last: 2 }, action: 'eio' },
        { name: 'r', mapping: 'libc.so.6', range: { start: '0x7f0000020000', end: '0x7f0000030000' }, action: 'zeros' },
      ]),
    );
    const out = compileMemRules(rules, facts(), () => vmas).map((e) => [e.rule, e.start.toString(16), e.end.toString(16)]);
    expect(out).toEqual([
      [0, '55d000000000', '55d000001000'],
      [0, '7f0000000000', '7f0000001000'],
      [1, '7ffc0001f000', '7ffc00021000'],
      [2, '7f0000020000', '7f0000028000'],
      [2, '7f0000028000', '7f0000030000'],
    ]);
  });

  test('target and caller selectors: self, pid, comm; an invisible caller matches no caller selector', () => {
    const rules = parseFaultRules(
      doc([
        { name: 'self', target: 'self', action: 'eio' },
        { name: 'pid', target: { pid: 20 }, action: 'eio' },
        { name: 'comm', target: { comm: 'other' }, action: 'eio' },
        { name: 'gdb', caller: { comm: 'gdb' }, action: 'eio' },
      ]),
    );
    const names = (f: OpenFacts): number[] => compileMemRules(rules, f, () => []).map((e) => e.rule);
    expect(names(facts())).toEqual([1, 3]);
    expect(names(facts({ callerPid: 20, targetTgid: 20 }))).toEqual([0, 1, 3]);
    expect(names(facts({ targetTgid: 21, comm: 'other' }))).toEqual([2, 3]);
    expect(names(facts({ callerPid: 0, targetTgid: 21 }))).toEqual([]);
  });
});

describe('applyMapsRules', () => {
  const lines = MAPS.split('\n').filter((l) => l);
  const apply = (rules: unknown[]): string[] =>
    applyMapsRules(parseFaultRules(doc(rules)), facts(), Buffer.from(MAPS, 'latin1')).text.toString('latin1').split('\n').filter((l) => l);

  test('hide, truncate by lines and by bytes, torn', () => {
    expect(apply([{ file: 'maps', action: 'hide', mapping: '[vdso]' }])).toEqual(lines.slice(0, 5));
    expect(apply([{ file: 'maps', action: 'truncate', lines: 2 }])).toEqual(lines.slice(0, 2));
    expect(applyMapsRules(parseFaultRules(doc([{ file: 'maps', action: 'truncate', bytes: 10 }])), facts(), Buffer.from(MAPS)).text.toString()).toBe(MAPS.slice(0, 10));
    expect(apply([{ file: 'maps', action: 'torn', lines: 1, mapping: 'elf-header' }])).toEqual([lines[0], lines[1], lines[3], lines[4], lines[5]]);
  });

  test('a rule that changes nothing has no hit', () => {
    const out = applyMapsRules(parseFaultRules(doc([{ file: 'maps', action: 'hide', mapping: '[heap]' }])), facts(), Buffer.from(MAPS));
    expect(out.hits).toEqual([]);
    expect(out.text.toString()).toBe(MAPS);
  });
});
