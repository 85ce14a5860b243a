import { describe, expect, test } from 'vitest';

import { decidePath, parsePolicy, policyPath } from '../../../src/policy/policy-file';

const TEXT = `{
  "rules": [
    { "path": "kallsyms", "action": "hide" },
    {
      "path": "<pid>/environ", "action": "deny", "uid": [1000]
    },
    { "path": "sys/**", "action": "deny", "pidns": "own" }
  ]
}`;
const P = parsePolicy(TEXT, 'p.json');
const OWN = { uid: 0, pidns: 'own' };

describe('policy files', () => {
  test('rules keep their index and the line they start on', () => {
    expect(P.rules.map((r) => [r.index, r.line, r.action])).toEqual([
      [1, 3, 'hide'],
      [2, 4, 'deny'],
      [3, 7, 'deny'],
    ]);
  });

  test('errors name the file, the rule and its line', () => {
    expect(() => parsePolicy('{"rules": [\n {"path": "a", "action": "hide"},\n {"path": "b", "action": "nuke"}]}', 'x.json')).toThrow(
      'x.json: rule 2 (line 3): "action" must be "hide" or "deny", not "nuke"',
    );
    expect(() => parsePolicy('{"rules": [{"path": "a", "action": "hide", "who": 1}]}', 'x')).toThrow(/rule 1 \(line 1\): unknown field "who"/);
    expect(() => parsePolicy('{"rules": [{"path": "../etc", "action": "hide"}]}', 'x')).toThrow(/may not contain \.\./);
    expect(() => parsePolicy('{"rules": [{"path": "a", "action": "deny", "uid": "root"}]}', 'x')).toThrow(/"uid" must be/);
    expect(() => parsePolicy('{"rules": {}}', 'x')).toThrow(/"rules" array/);
    expect(() => parsePolicy('{"rules": [', 'x')).toThrow(/not valid JSON/);
  });

  test('paths: numbers at the root are <pid>, below <pid>/task <tid>', () => {
    expect(policyPath([], '42')).toEqual(['<pid>']);
    expect(policyPath(['<pid>', 'task'], '43')).toEqual(['<pid>', 'task', '<tid>']);
    expect(policyPath(['<pid>', 'fd'], '3')).toEqual(['<pid>', 'fd', '3']);
  });

  test('first matching rule decides; uid and pidns select; a denied directory denies below it', () => {
    expect(decidePath(P, ['kallsyms'], OWN)?.action).toBe('hide');
    expect(decidePath(P, ['<pid>', 'environ'], OWN)).toBeUndefined();
    expect(decidePath(P, ['<pid>', 'environ'], { uid: 1000, pidns: 'own' })?.action).toBe('deny');
    expect(decidePath(P, ['<pid>', 'task', '<tid>', 'environ'], { uid: 1000, pidns: 'own' })).toBeUndefined();
    expect(decidePath(P, ['sys'], OWN)?.action).toBe('deny');
    expect(decidePath(P, ['sys', 'kernel', 'pid_max'], OWN)?.rule.index).toBe(3);
    expect(decidePath(P, ['sys', 'kernel'], { uid: 0, pidns: '4026532210' })).toBeUndefined();
    expect(decidePath(parsePolicy('{"rules":[{"path":"*/maps","action":"hide"}]}'), ['<pid>', 'maps'], OWN)?.action).toBe('hide');
  });
});
