import { Readable } from 'node:stream';
import { checkRule, checkUser } from '../../shared/builtin/model.js';
import { csvRecords, formatOf, InputError, jsonArrayRecords, jsonlRecords, type InputRecord } from '../../shared/builtin/readers.js';
import { parseHashConfig } from '../../shared/hash.js';

const COLS = ['a', 'b', 'c'];
async function all(gen: AsyncGenerator<InputRecord>): Promise<InputRecord[]> {
  const out: InputRecord[] = [];
  for await (const r of gen) out.push(r);
  return out;
}
const csv = (text: string | Buffer, chunk = 3) => {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return all(csvRecords(Readable.from(parts), COLS, ['a']));
};

describe('csvRecords', () => {
  it('keeps physical line numbers across a quoted line break, a BOM, CRLF and blank lines', async () => {
    expect(await csv('\ufeffa,b,c\r\n1,"two\r\nlines",3\r\n\r\n4,5,6\r\n7,"x ""q""",9')).toEqual([
      { at: 'line 2', fields: { a: '1', b: 'two\nlines', c: '3' } },
      { at: 'line 5', fields: { a: '4', b: '5', c: '6' } },
      { at: 'line 6', fields: { a: '7', b: 'x "q"', c: '9' } },
    ]);
  });

  it('rejects only the line that opens an unclosed quote, then reads the lines after it again', async () => {
    expect(await csv('a,b,c\n1,"open,3\n4,5,6\n7,8,9\n')).toEqual([
      { at: 'line 2', invalid: 'a quoted field is not closed' },
      { at: 'line 3', fields: { a: '4', b: '5', c: '6' } },
      { at: 'line 4', fields: { a: '7', b: '8', c: '9' } },
    ]);
  });

  it('rejects bad quoting, wrong field counts (a bare CR is data, not a line break) and bytes that are not UTF-8, keeping the rest of a group', async () => {
    const lines = ['a,b,c'];
    for (let i = 0; i < 600; i += 1) lines.push(i === 10 ? '"x"y,2,3' : i === 20 ? '1,2' : i === 30 ? '1,2\r3,4,5' : `${i},b,c`);
    const records = await csv(Buffer.concat([Buffer.from(lines.join('\n') + '\n'), Buffer.from([0x31, 0xc3, 0x28, 0x2c, 0x62, 0x2c, 0x63, 0x0a])]), 4096);
    const bad = records.filter((r) => 'invalid' in r);
    expect(bad).toEqual([
      { at: 'line 12', invalid: 'bad quoting: a closing quote is followed by text' },
      { at: 'line 22', invalid: 'expected 3 fields (a,b,c), got 2' },
      { at: 'line 32', invalid: 'expected 3 fields (a,b,c), got 4' },
      { at: 'line 602', invalid: 'not valid UTF-8' },
    ]);
    expect(records.length).toBe(601);
    expect(records[599]).toEqual({ at: 'line 601', fields: { a: '599', b: 'b', c: 'c' } });
  });

  it('refuses a header with an unknown, repeated or missing column, and an empty file', async () => {
    await expect(csv('a,zz\n1,2\n')).rejects.toThrow(new InputError('line 1: unknown column "zz"; expected a, b, c'));
    await expect(csv('a,a\n')).rejects.toThrow(new InputError('line 1: column "a" appears twice'));
    await expect(csv('b,c\n')).rejects.toThrow(new InputError('line 1: missing column a'));
    await expect(csv('')).rejects.toThrow(new InputError('the file is empty (no header line)'));
  });
});

describe('JSON readers', () => {
  it('numbers array elements and refuses bytes that are not UTF-8 after the last good element', async () => {
    const good = await all(jsonArrayRecords(Readable.from([Buffer.from('[{"a":1},\n 2, {"b":"x"}]')])));
    expect(good).toEqual([
      { at: 'element 1', fields: { a: 1 } },
      { at: 'element 2', invalid: 'not a JSON object' },
      { at: 'element 3', fields: { b: 'x' } },
    ]);
    const bad = Readable.from([Buffer.from('[{"a":1},{"b":"'), Buffer.from([0xff]), Buffer.from('"}]')]);
    await expect(all(jsonArrayRecords(bad))).rejects.toThrow(/^the file is not valid UTF-8 \(after element \d\)$/);
  });

  it('rejects a JSON Lines line on its own', async () => {
    const records = await all(jsonlRecords(Readable.from([Buffer.from('\ufeff{"a":1}\r\n[1]\n{bad\n\n'), Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), Buffer.from('{"c":3}')])));
    expect(records).toEqual([
      { at: 'line 1', fields: { a: 1 } },
      { at: 'line 2', invalid: 'not a JSON object' },
      { at: 'line 3', invalid: 'not valid JSON' },
      { at: 'line 5', invalid: 'not valid UTF-8' },
      { at: 'line 6', fields: { c: 3 } },
    ]);
  });

  it('tells the format from the file name', () => {
    expect(['u.csv', 'U.JSON', 'u.jsonl', 'u.ndjson', 'u.txt'].map(formatOf)).toEqual(['csv', 'json', 'jsonl', 'jsonl', undefined]);
  });
});

describe('checkUser', () => {
  const bcrypt = parseHashConfig('{"name":"bcrypt"}');
  const stored = '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy';

  it('accepts a bcrypt hash, ignoring the salt column, and refuses text that is not one', async () => {
    expect(await checkUser({ user_id: 'u', password_hash: stored, salt: 'ignored', is_superuser: 'TRUE' }, bcrypt)).toEqual({
      ok: { userId: 'u', passwordHash: stored, salt: '', isSuperuser: true },
    });
    expect(await checkUser({ user_id: 'u', password_hash: stored.slice(0, 59) }, bcrypt)).toEqual({
      invalid: 'password_hash is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters) (PASSWORD_HASH is bcrypt)',
    });
  });

  it('refuses a password together with a hash, an overlong or control-character id, and a non-text field', async () => {
    const sha = parseHashConfig('{"name":"sha256","salt_position":"suffix"}');
    expect(await checkUser({ user_id: 'u', password: 'p', password_hash: 'x' }, sha)).toEqual({ invalid: 'give password or password_hash, not both' });
    expect(await checkUser({ user_id: 'u'.repeat(256), password: 'p' }, sha)).toEqual({ invalid: 'user_id is longer than 255 characters' });
    expect(await checkUser({ user_id: 'a\u0000b', password: 'p' }, sha)).toEqual({ invalid: 'user_id contains a control character' });
    expect(await checkUser({ user_id: { x: 1 }, password: 'p' }, sha)).toEqual({ invalid: 'user_id must be text, got an object' });
  });

  it('hashes a password with the salt the record gives (EMQX Cloud example: sha256, suffix)', async () => {
    const sha = parseHashConfig('{"name":"sha256","salt_position":"suffix"}');
    expect(await checkUser({ user_id: 'u', password: 'public', salt: 'slat_foo123' }, sha)).toEqual({
      ok: { userId: 'u', passwordHash: '44edc2d57cde8d79c98145003e105b90a14f1460b79186ea9cfe83942fc5abb5', salt: 'slat_foo123', isSuperuser: false },
    });
  });
});

describe('checkRule', () => {
  it('normalises action, qos and retain, and keeps eq topics and placeholders', () => {
    expect(checkRule({ username: 'u', permission: 'allow', action: 'pub', topic: 'eq t/#', qos: '2, 0,2', retain: 1 })).toEqual({
      ok: { whoType: 'username', who: 'u', permission: 'allow', action: 'publish', topic: 'eq t/#', qos: '0,2', retain: 'true' },
    });
    expect(checkRule({ permission: 'deny', action: 'sub', topic: 'd/${clientid}/#', qos: [1], retain: false })).toEqual({
      ok: { whoType: 'all', who: '', permission: 'deny', action: 'subscribe', topic: 'd/${clientid}/#', qos: '1', retain: 'false' },
    });
  });

  it('refuses a bad action, retain, empty topic and an empty owner list of qos', () => {
    expect(checkRule({ permission: 'allow', action: 'read', topic: 't' })).toEqual({ invalid: 'action must be publish, subscribe or all' });
    expect(checkRule({ permission: 'allow', action: 'all', topic: 't', retain: 'yes' })).toEqual({ invalid: 'retain must be true, false or all (empty for any)' });
    expect(checkRule({ permission: 'allow', action: 'all', topic: '' })).toEqual({ invalid: 'topic is empty' });
    expect(checkRule({ permission: 'allow', action: 'all', topic: 't', qos: [] })).toEqual({ invalid: 'qos must be 0, 1, 2 or a list of them (empty for any)' });
  });
});
