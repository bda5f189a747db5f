import { toBool } from '../../shared/superuser.js';
import { vectorsOf } from '../helpers/vectors.js';

describe('is_superuser vectors (emqx-vectors.json, kind is_superuser, EMQX 5.x)', () => {
  const all = vectorsOf('is_superuser');
  it('loads every 5.x is_superuser vector', () => expect(all).toHaveLength(19));

  for (const v of all) {
    const { value, expect: expected } = v as unknown as { value: unknown; expect: boolean };
    it(`${v.id}: toBool(${JSON.stringify(value)}) is ${expected}`, () => expect(toBool(value)).toBe(expected));
  }
});

describe('toBool on values the drivers deliver', () => {
  it.each([
    ['MySQL TINYINT(1) 1', 1, true],
    ['MySQL TINYINT(1) 0', 0, false],
    ['a bigint 1n', 1n, true],
    ['a bigint 0n', 0n, false],
    ['a large bigint', 9007199254740993n, true],
    ['a negative bigint', -1n, false],
    ['an integer above 1', 123, true],
    ['a negative integer', -1, false],
    ['a fraction', 0.5, false],
    ['a fraction above 1', 1.5, false],
    ['NaN', Number.NaN, false],
    ['boolean true', true, true],
    ['boolean false', false, false],
    ['undefined', undefined, false],
  ])('%s is %s', (_label, value, expected) => expect(toBool(value)).toBe(expected));
});

describe('toBool on strings', () => {
  it.each([
    ['1', true],
    ['123', true],
    ['-1', false],
    ['0', false],
    ['00', false],
    ['true', true],
    ['TRUE', false],
    ['True', false],
    ['t', false],
    ['yes', false],
    ['false', false],
    ['', false],
    ['1.0', false],
  ])('%j is %s', (value, expected) => expect(toBool(value)).toBe(expected));
});

describe('superuserAnswer (a chain source answering the superuser question)', () => {
  it('a known user decides; a backend failure stops the chain only under the deny policy', async () => {
    const { superuserAnswer } = await import('../../shared/sources/sql.js');
    expect(superuserAnswer({ yes: true, known: true, reason: 'is_superuser' }, 'ignore', 'built-in: ')).toEqual({ known: true, is_superuser: true, reason: 'built-in: is_superuser' });
    expect(superuserAnswer({ yes: false, known: false, reason: 'no such user' }, 'deny')).toEqual({ known: false, reason: 'no such user' });
    const failed = { yes: false, known: false, reason: 'backend failure: PostgreSQL query failed (42P01)', failure: true } as const;
    expect(superuserAnswer(failed, 'ignore')).toEqual({ known: false, reason: 'backend failure: PostgreSQL query failed (42P01)' });
    expect(superuserAnswer(failed, 'deny')).toEqual({ known: true, is_superuser: false, reason: 'backend failure: PostgreSQL query failed (42P01)' });
    // The failure is the check's own flag, never read from the reason's text.
    expect(superuserAnswer({ yes: false, known: false, reason: 'backend failure: looks like one' }, 'deny')).toEqual({ known: false, reason: 'backend failure: looks like one' });
  });
});
