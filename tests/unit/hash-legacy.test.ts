import { readFileSync } from 'node:fs';
import { ConfigError } from '../../shared/errors.js';
import { hashPassword, parseHashConfig, verifyPassword, type Verification } from '../../shared/hash.js';
import { loadSettings } from '../../shared/settings.js';
import { thrownBy } from '../helpers/errors.js';
import { fieldCase, vectors, vectorsOf } from '../helpers/vectors.js';

/** EMQX 4.x `password_hash` option strings: parsed into the one HashConfig and verified as 4.x does. */

interface LegacyVector {
  id: string;
  password_hash_config: string;
  password: string;
  salt: string | null;
  stored_hash: string;
  expect: 'match' | 'no_match';
}

const malformedOf = (v: Verification): unknown => ('malformed' in v ? v.malformed : undefined);
const legacy = vectors.filter((v) => v.kind === 'hash' && v.emqx === '4.x') as unknown as LegacyVector[];
const extra = (JSON.parse(readFileSync(new URL('../vectors/foreign-hashes.json', import.meta.url), 'utf8')) as Array<LegacyVector & { format: string }>).filter(
  (v) => v.format === 'emqx4',
);

describe('EMQX 4.x hash vectors (emqx-vectors.json, kind hash, emqx 4.x)', () => {
  it('loads every 4.x hash vector', () => expect(legacy.map((v) => v.id)).toEqual(['hash-4-md5', 'hash-4-sha', 'hash-4-sha256', 'hash-4-pbkdf2', 'hash-4-bcrypt-2y', 'hash-4-salt-bcrypt']));

  for (const v of legacy) {
    // hash-4-bcrypt-2y has cost 16 (about 6 s in bcryptjs on one core); kept as EMQX wrote it.
    it(`${v.id}: "${v.password_hash_config}" gives ${v.expect}`, async () => {
      const result = await verifyPassword(parseHashConfig(v.password_hash_config), v.password, v.stored_hash, v.salt);
      expect(result).toEqual({ ok: v.expect === 'match' });
    }, 120_000);
  }

  for (const v of extra) {
    it(`${v.id}: "${v.password_hash_config}" gives ${v.expect} (foreign-hashes.json)`, async () => {
      expect(await verifyPassword(parseHashConfig(v.password_hash_config), v.password, v.stored_hash, v.salt)).toEqual({ ok: v.expect === 'match' });
    });
  }

  it('hashPassword reproduces every 4.x digest and PBKDF2 vector from its salt', async () => {
    const cheap = [...legacy, ...extra].filter((v) => !v.password_hash_config.includes('bcrypt'));
    expect(cheap).toHaveLength(6);
    for (const v of cheap) {
      const made = await hashPassword(parseHashConfig(v.password_hash_config), v.password, v.salt ?? undefined);
      expect({ id: v.id, hash: made.hash }).toEqual({ id: v.id, hash: v.stored_hash });
    }
  });

  it('hashPassword under salt,bcrypt uses the given salt and reproduces hash-4-salt-bcrypt exactly', async () => {
    const v = legacy.find((x) => x.id === 'hash-4-salt-bcrypt');
    expect(v).toBeDefined();
    if (v?.salt == null) return;
    expect(await hashPassword(parseHashConfig(v.password_hash_config), v.password, v.salt)).toEqual({ hash: v.stored_hash, salt: v.salt });
  });
});

describe('parseHashConfig reads 4.x strings into the same HashConfig as the EMQX 5 object', () => {
  it.each([
    ['plain', { name: 'plain', salt_position: 'disable' }],
    ['md5', { name: 'md5', salt_position: 'disable' }],
    ['sha', { name: 'sha', salt_position: 'disable' }],
    ['sha256', { name: 'sha256', salt_position: 'disable' }],
    ['sha512', { name: 'sha512', salt_position: 'disable' }],
    ['salt,sha256', { name: 'sha256', salt_position: 'prefix' }],
    ['sha256,salt', { name: 'sha256', salt_position: 'suffix' }],
    ['salt,md5', { name: 'md5', salt_position: 'prefix' }],
    ['sha512,salt', { name: 'sha512', salt_position: 'suffix' }],
    ['salt,plain', { name: 'plain', salt_position: 'prefix' }],
    ['pbkdf2,sha256,1000,20', { name: 'pbkdf2', mac_fun: 'sha256', iterations: 1000, dk_length: 20 }],
    ['pbkdf2, sha256, 1000, 20', { name: 'pbkdf2', mac_fun: 'sha256', iterations: 1000, dk_length: 20 }],
    ['pbkdf2,sha,1,16', { name: 'pbkdf2', mac_fun: 'sha', iterations: 1, dk_length: 16 }],
    ['pbkdf2,md5,1,16', { name: 'pbkdf2', mac_fun: 'md5', iterations: 1, dk_length: 16 }],
    ['pbkdf2,ripemd160,2,20', { name: 'pbkdf2', mac_fun: 'ripemd160', iterations: 2, dk_length: 20 }],
    ['bcrypt', { name: 'bcrypt', salt_rounds: 10 }],
    ['salt,bcrypt', { name: 'bcrypt', salt_rounds: 10, salt_column: true }],
    ['bcrypt,salt', { name: 'bcrypt', salt_rounds: 10, salt_column: true }],
    [' salt , sha256 ', { name: 'sha256', salt_position: 'prefix' }],
  ])('%j → %j', (text, cfg) => {
    const parsed = parseHashConfig(text);
    expect(parsed).toEqual(cfg);
    expect(Object.isFrozen(parsed)).toBe(true);
  });

  it.each([
    ['pbkdf2,md4,1000,20', /md4 is not available/],
    ['pbkdf2,sha3,1000,20', /pbkdf2 mac "sha3"/],
    ['pbkdf2,sha256,0,20', /iterations/],
    ['pbkdf2,sha256,1e3,20', /iterations/],
    ['pbkdf2,sha256,1000,0', /dklen/],
    ['pbkdf2,sha256,1000', /not a hash configuration/],
    ['sha3', /not a hash configuration/],
    ['SHA256', /not a hash configuration/],
    ['salt', /not a hash configuration/],
    ['salt,salt', /not a hash configuration/],
    ['pepper,sha256', /not a hash configuration/],
    ['salt,sha256,salt', /not a hash configuration/],
    ['', /not a hash configuration/],
  ])('rejects %j naming PASSWORD_HASH', (text, message) => {
    const error = thrownBy(() => parseHashConfig(text));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: 'PASSWORD_HASH' });
    expect(String((error as Error).message)).toMatch(message);
  });

  it('keeps rejecting md5 and ripemd160 as mac_fun in the EMQX 5 object (EMQX 5 cannot run them)', () => {
    for (const mac_fun of ['md5', 'ripemd160']) {
      expect(thrownBy(() => parseHashConfig({ name: 'pbkdf2', mac_fun, iterations: 10 }))).toBeInstanceOf(ConfigError);
    }
  });
});

describe('4.x strings give the verdict of the equivalent EMQX 5 object on every 5.x digest vector', () => {
  const digestVectors = vectorsOf('hash').filter((v) => {
    const a = (v as unknown as { algorithm: { name: string } }).algorithm;
    return ['plain', 'md5', 'sha', 'sha256', 'sha512', 'pbkdf2'].includes(a.name);
  });
  it('has digest and pbkdf2 vectors to reuse', () => expect(digestVectors.length).toBeGreaterThanOrEqual(12));

  const legacyString = (a: { name: string; salt_position?: string; mac_fun?: string; iterations?: number; dk_length?: number }): string | undefined => {
    if (a.name === 'pbkdf2') return a.dk_length === undefined ? undefined : `pbkdf2,${a.mac_fun},${a.iterations},${a.dk_length}`;
    const position = a.salt_position ?? 'prefix';
    return position === 'disable' ? a.name : position === 'prefix' ? `salt,${a.name}` : `${a.name},salt`;
  };

  for (const v of digestVectors) {
    const { algorithm, password, salt, stored_hash, expect: outcome } = v as unknown as {
      algorithm: { name: string; salt_position?: string; mac_fun?: string; iterations?: number; dk_length?: number };
      password: string;
      salt: string;
      stored_hash: string;
      expect: 'match' | 'no_match';
    };
    const text = legacyString(algorithm);
    if (text === undefined) continue;
    it(`${v.id} as "${text}" gives ${outcome}`, async () => {
      expect((await verifyPassword(parseHashConfig(text), password, stored_hash, salt)).ok).toBe(outcome === 'match');
    });
  }
});

describe('4.x bcrypt forms', () => {
  const saltBcrypt = legacy.find((v) => v.id === 'hash-4-salt-bcrypt');

  it('"bcrypt" takes the salt from the stored hash and ignores the salt column (field case B05)', async () => {
    const c = fieldCase('B05');
    const cfg = parseHashConfig('bcrypt');
    const tests = c.input.vectors as { password: string; stored_hash: string; salt_column?: string | null }[];
    const results = await Promise.all(tests.map((t) => verifyPassword(cfg, t.password, t.stored_hash, t.salt_column)));
    expect(results.map((r) => r.ok)).toEqual(c.expected.results);
  });

  it('"salt,bcrypt" refuses a stored hash made with another salt than the salt column', async () => {
    expect(saltBcrypt).toBeDefined();
    if (saltBcrypt === undefined) return;
    const cfg = parseHashConfig('salt,bcrypt');
    // B05's hash carries its own salt; under salt,bcrypt the salt column decides, so it does not verify.
    const b05 = fieldCase('B05').input.vectors[0] as { password: string; stored_hash: string };
    expect(await verifyPassword(cfg, b05.password, b05.stored_hash, saltBcrypt.salt)).toEqual({ ok: false });
    expect(await verifyPassword(cfg, 'bar', saltBcrypt.stored_hash, saltBcrypt.salt)).toEqual({ ok: false });
  });

  it.each([
    ['an empty salt column', '$2a$12$sSS8Eg.ovVzaHzi1nUHYK.HbUIOdlQI0iS22Q5rd5z.JVVYH6sfm6', null],
    ['a salt column that is not a bcrypt salt', '$2a$12$sSS8Eg.ovVzaHzi1nUHYK.HbUIOdlQI0iS22Q5rd5z.JVVYH6sfm6', 'sSS8Eg.ovVzaHzi1nUHYK.'],
    ['a truncated stored hash', '$2a$12$sSS8Eg.ovVzaHzi1nUHYK.HbUIOdlQI0iS22Q5rd5z.JVVYH6sfm', '$2a$12$sSS8Eg.ovVzaHzi1nUHYK.'],
  ])('"salt,bcrypt" with %s is malformed, not an exception', async (_label, stored, salt) => {
    const result = await verifyPassword(parseHashConfig('salt,bcrypt'), 'foo', stored, salt);
    expect(result.ok).toBe(false);
    expect(typeof malformedOf(result)).toBe('string');
  });

  it('hashPassword under salt,bcrypt returns the generated salt, which verifies the hash', async () => {
    const cfg = { ...parseHashConfig('salt,bcrypt'), salt_rounds: 4 } as const;
    const { hash, salt } = await hashPassword(cfg, 'pw-4x');
    expect(salt).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{22}$/);
    expect(hash.startsWith(salt)).toBe(true);
    expect(await verifyPassword(cfg, 'pw-4x', hash, salt)).toEqual({ ok: true });
    expect(await verifyPassword(cfg, 'pw-4y', hash, salt)).toEqual({ ok: false });
  });
});

describe('PASSWORD_HASH in loadSettings', () => {
  it.each([
    ['salt,sha256', { name: 'sha256', salt_position: 'prefix' }],
    ['pbkdf2, sha256, 1000, 20', { name: 'pbkdf2', mac_fun: 'sha256', iterations: 1000, dk_length: 20 }],
    ['salt,bcrypt', { name: 'bcrypt', salt_rounds: 10, salt_column: true }],
    ['{"name":"auto","salt_encoding":"utf-8"}', { name: 'auto', salt_encoding: 'utf8' }],
    ['{"name":"auto"}', { name: 'auto', salt_encoding: 'base64' }],
  ])('takes %j', (PASSWORD_HASH, expected) => {
    const settings = loadSettings({ PASSWORD_HASH });
    expect(settings.passwordHash).toEqual(expected);
    expect(Object.isFrozen(settings.passwordHash)).toBe(true);
  });

  it.each([['sha3'], ['salt,sha3'], ['pbkdf2,md4,1000,20'], ['{"name":"auto","salt_encoding":"latin1"}']])('stops start-up on %j, naming PASSWORD_HASH', (PASSWORD_HASH) => {
    const error = thrownBy(() => loadSettings({ PASSWORD_HASH }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).toMatch(/^PASSWORD_HASH: /);
  });
});
