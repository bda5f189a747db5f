import { covers, isValidFilter, matches, overlaps, stripShare } from '../../shared/topic.js';
import { effectiveTopic, parseRow, ruleMatches } from '../../shared/rules.js';
import type { AclRequest } from '../../shared/types.js';
import { vectorsOf } from '../helpers/vectors.js';

const client = { username: 'u', clientid: 'c', client_attrs: {} };

/** A subscribe request judged by one allow rule: how the authz vectors' topic contexts are applied. */
function authzSubscribeMatch(filter: string, requested: string): boolean {
  const parsed = parseRow({ permission: 'allow', action: 'subscribe', topic: filter });
  if (!('rule' in parsed)) throw new Error(parsed.invalid);
  const req: AclRequest = { ...client, action: 'subscribe', topic: requested, qos: 0, retain: false };
  const topic = effectiveTopic(req);
  return topic !== undefined && ruleMatches(parsed.rule, req, topic);
}

describe('topic vectors (emqx-vectors.json, kind topic)', () => {
  const all = vectorsOf('topic');
  it('loads every topic vector', () => expect(all).toHaveLength(33));

  for (const v of all) {
    const { topic, filter, match, context } = v as unknown as { topic: string; filter: string; match: boolean; context: string };
    if (context.startsWith('mqtt')) {
      it(`${v.id}: matches("${topic}", "${filter}") is ${match}`, () => expect(matches(topic, filter)).toBe(match));
    } else if (context.startsWith('authz rule matching')) {
      // A publish to a $ topic against rule '#' (EMQX >= 5.8.2).
      it(`${v.id}: publish "${topic}" vs rule "${filter}" is ${match}`, () => {
        const parsed = parseRow({ permission: 'allow', action: 'publish', topic: filter });
        if (!('rule' in parsed)) throw new Error(parsed.invalid);
        expect(ruleMatches(parsed.rule, { ...client, action: 'publish', topic, qos: 0, retain: false }, topic)).toBe(match);
      });
    } else {
      it(`${v.id}: subscribe "${topic}" vs rule "${filter}" is ${match}`, () => expect(authzSubscribeMatch(filter, topic)).toBe(match));
    }
  }
});

describe('covers (allow rules need the rule to cover every topic the requested filter can match)', () => {
  it.each([
    ['t/+', 't/+', true],
    ['t/+', 't/1', true],
    ['t/+', 't/#', false],
    ['x/#', 'x', true],
    ['x/#', 'x/y/z', true],
    ['x/+/#', 'x', false],
    ['#', '+/#', true],
    ['#', '$SYS/#', false],
    ['$SYS/#', '$SYS/broker', true],
    ['+/x', '$a/x', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/+', false],
  ])('rule %s covers %s: %s', (rule, requested, expected) => expect(covers(rule, requested)).toBe(expected));
});

describe('overlaps (deny rules apply as soon as some topic matches both filters)', () => {
  it.each([
    ['a/b', 'a/+', true],
    ['a/b', 'a/#', true],
    ['a/b', 'a/c', false],
    ['#', '$testtopic/#', false],
    ['$SYS/#', '#', false],
    ['+/+', '$SYS/+', false],
    ['a/#', 'a', true],
    ['a/+', 'a', false],
    ['+/b', 'a/+', true],
  ])('%s overlaps %s: %s', (a, b, expected) => {
    expect(overlaps(a, b)).toBe(expected);
    expect(overlaps(b, a)).toBe(expected);
  });
});

describe('filters and shared subscriptions', () => {
  it.each([
    ['a/#', true],
    ['#', true],
    ['a/#/b', false],
    ['a+', false],
    ['a/b#', false],
    ['', false],
    ['a/\u0000', false],
  ])('isValidFilter(%j) is %s', (f, ok) => expect(isValidFilter(f)).toBe(ok));

  it.each([
    ['$share/g/t/#', 't/#'],
    ['$queue/t/1', 't/1'],
    ['t/1', 't/1'],
    ['$share/g', undefined],
    ['$share//t', undefined],
    ['$share/+/t', undefined],
    // A share inside a share is malformed (EMQX refuses it): stripped once it would be a `$` filter that `#` rules never reach.
    ['$share/g/$share/g/t', undefined],
    ['$share/g/$queue/t', undefined],
    ['$queue/$share/g/t', undefined],
    ['$queue/$queue/t', undefined],
    ['$share/g/$SYS/x', '$SYS/x'],
  ])('stripShare(%j) is %j', (f, out) => expect(stripShare(f)).toBe(out));

  it('a nested shared subscription is denied, not left to AUTHZ_NO_MATCH past a deny #', () => {
    const parsed = parseRow({ permission: 'deny', action: 'all', topic: '#' });
    if (!('rule' in parsed)) throw new Error(parsed.invalid);
    const req: AclRequest = { ...client, action: 'subscribe', topic: '$share/g/$share/g/secret/x', qos: 0 };
    expect(effectiveTopic(req)).toBeUndefined();
  });
});
