import { ConfigError } from '../../shared/errors.js';
import { thrownBy } from '../helpers/errors.js';
import { hashPassword, parseHashConfig, storedHashProblem, verifyPassword, type HashConfig, type Verification } from '../../shared/hash.js';
import { fieldCase, vectorsOf } from '../helpers/vectors.js';


/** The `malformed` reason of a verification, or undefined when there is none. */
const malformedOf = (v: Verification): unknown => ('malformed' in v ? v.malformed : undefined);

describe('hash vectors (emqx-vectors.json, kind hash, EMQX 5.x)', () => {
  const all = vectorsOf('hash');
  it('loads every 5.x hash vector', () => expect(all).toHaveLength(18));

  for (const v of all) {
    const { algorithm, password, salt, stored_hash, expect: outcome } = v as unknown as {
      algorithm: unknown;
      password: string;
      salt: string;
      stored_hash: string;
      expect: 'match' | 'no_match';
    };
    it(`${v.id}: ${JSON.stringify(algorithm)} gives ${outcome}`, async () => {
      const result = await verifyPassword(parseHashConfig(algorithm), password, stored_hash, salt);
      expect(result.ok).toBe(outcome === 'match');
    });
  }
});

describe('field cases for password verification', () => {
  it('B04: plain compares case-sensitively, so only the exact password passes', async () => {
    const c = fieldCase('B04');
    const cfg = parseHashConfig({ name: 'plain', salt_position: 'disable' });
    const attempts = c.input.attempts as string[];
    expect(attempts).toHaveLength(3);
    for (const attempt of attempts) {
      const result = await verifyPassword(cfg, attempt, c.input.stored_hash as string, null);
      expect({ attempt, ok: result.ok }).toEqual({ attempt, ok: c.expected[attempt] });
    }
  });

  it('B05: bcrypt ignores the salt column and a truncated hash fails as malformed without throwing', async () => {
    const c = fieldCase('B05');
    const cfg = parseHashConfig({ name: 'bcrypt' });
    const vectors = c.input.vectors as { password: string; stored_hash: string; salt_column?: string | null }[];
    const results = await Promise.all(vectors.map((t) => verifyPassword(cfg, t.password, t.stored_hash, t.salt_column)));
    expect(results.map((r) => r.ok)).toEqual(c.expected.results);

    const truncated = results[4];
    expect(truncated).toBeDefined();
    if (truncated === undefined) return;
    expect(truncated.ok).toBe(false);
    expect(typeof malformedOf(truncated)).toBe('string');
  });

  it('B06: bcrypt accepts the $2b$ and $2y$ prefixes as well as $2a$', async () => {
    const c = fieldCase('B06');
    const cfg = parseHashConfig({ name: 'bcrypt' });
    const vectors = c.input.vectors as { password: string; stored_hash: string }[];
    const results = await Promise.all(vectors.map((t) => verifyPassword(cfg, t.password, t.stored_hash, '')));
    expect(results.map((r) => r.ok)).toEqual(c.expected.results);
  });

  it('B12: the EMQX-style pbkdf2 form (hex key, salt column) verifies', async () => {
    const c = fieldCase('B12');
    const e = c.input.emqx_style as { algorithm: string; mac_fun: string; iterations: number; dk_length: number; salt: string; stored_hex: string };
    const cfg = parseHashConfig({ name: e.algorithm, mac_fun: e.mac_fun, iterations: e.iterations, dk_length: e.dk_length });
    const result = await verifyPassword(cfg, c.input.password as string, e.stored_hex, e.salt);
    expect(result.ok).toBe(c.expected.emqx_style_verify);
  });

  it('B13: sending the stored digest as the password fails (no pass-the-hash), the real password passes', async () => {
    const c = fieldCase('B13');
    const cfg = parseHashConfig({ name: c.input.algorithm, salt_position: 'disable' });
    const attack = await verifyPassword(cfg, c.input.password as string, c.input.stored_hash as string, null);
    const control = await verifyPassword(cfg, c.input.control.password as string, c.input.control.stored_hash as string, null);
    expect(attack.ok).toBe(c.expected.verify);
    expect(control.ok).toBe(c.expected.control_verify);
  });

  it('B14: a NULL salt with a salted mode is the empty string, not an error', async () => {
    const c = fieldCase('B14');
    const cfg = parseHashConfig({ name: c.input.algorithm, salt_position: c.input.salt_position });
    const result = await verifyPassword(cfg, c.input.password as string, c.input.stored_hash as string, c.input.salt as null);
    expect(result.ok).toBe(c.expected.verify);
  });
});

describe('hex digests compare case-insensitively', () => {
  const hexMatches = vectorsOf('hash').filter((v) => {
    const name = (v as unknown as { algorithm: { name: string } }).algorithm.name;
    return v.expect === 'match' && name !== 'plain' && name !== 'bcrypt';
  });
  it('has matching hex vectors to reuse', () => expect(hexMatches.length).toBeGreaterThanOrEqual(8));

  for (const v of hexMatches) {
    const { algorithm, password, salt, stored_hash } = v as unknown as { algorithm: unknown; password: string; salt: string; stored_hash: string };
    it(`${v.id} still matches with its stored digest in upper case`, async () => {
      const result = await verifyPassword(parseHashConfig(algorithm), password, stored_hash.toUpperCase(), salt);
      expect(result).toEqual({ ok: true });
    });
    it(`${v.id} still matches with its stored digest in lower case`, async () => {
      const result = await verifyPassword(parseHashConfig(algorithm), password, stored_hash.toLowerCase(), salt);
      expect(result).toEqual({ ok: true });
    });
  }
});

describe('plain compares case-sensitively', () => {
  it.each([
    ['disable', 'password', '', 'password', true],
    ['disable', 'Password', '', 'password', false],
    ['disable', 'password', '', 'PASSWORD', false],
    ['suffix', 'plain', 'salt', 'plainsalt', true],
    ['suffix', 'plain', 'salt', 'PLAINSALT', false],
    ['prefix', 'password', 'SALT', 'saltpassword', false],
  ] as const)('salt_position %s, password %j, salt %j against %j is %s', async (salt_position, password, salt, stored, ok) => {
    const result = await verifyPassword(parseHashConfig({ name: 'plain', salt_position }), password, stored, salt);
    expect(result.ok).toBe(ok);
  });
});

describe('parseHashConfig', () => {
  it('rejects pbkdf2 with an unsupported mac_fun (md4) as a ConfigError naming PASSWORD_HASH', () => {
    const error = thrownBy(() => parseHashConfig({ name: 'pbkdf2', mac_fun: 'md4', iterations: 1000 }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: 'PASSWORD_HASH' });
    expect(String((error as Error).message)).toMatch(/^PASSWORD_HASH: .*md4/);
  });

  it.each([
    [{ name: 'sha256', salt_position: 'prefix', salt_postion: 'suffix' }],
    [{ name: 'sha256', encoding: 'base64' }],
    [{ name: 'bcrypt', salt_position: 'prefix' }],
    [{ name: 'pbkdf2', mac_fun: 'sha256', iterations: 1000, dklen: 32 }],
  ])('rejects unknown keys in %j', (algorithm) => {
    const error = thrownBy(() => parseHashConfig(algorithm));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: 'PASSWORD_HASH' });
  });

  it.each([
    [{ name: 'sha3' }],
    [{ name: 'sha256', salt_position: 'middle' }],
    [{ name: 'pbkdf2', mac_fun: 'sha256', iterations: 0 }],
    [{ salt_position: 'prefix' }],
    ['{"name":'],
  ])('rejects the invalid configuration %j', (algorithm) => {
    const error = thrownBy(() => parseHashConfig(algorithm));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: 'PASSWORD_HASH' });
  });

  it('names the setting it is given', () => {
    expect(thrownBy(() => parseHashConfig({ name: 'md4' }, 'OTHER_HASH'))).toMatchObject({ setting: 'OTHER_HASH' });
  });

  it('reads salt_position as prefix when it is omitted', async () => {
    const cfg = parseHashConfig({ name: 'sha256' });
    expect(cfg).toEqual({ name: 'sha256', salt_position: 'prefix' });
    const prefixed = await verifyPassword(cfg, 'sha256', 'ac63a624e7074776d677dd61a003b8c803eb11db004d0ec6ae032a5d7c9c5caf', 'salt');
    expect(prefixed).toEqual({ ok: true });
  });

  it('accepts the same configuration as JSON text', () => {
    expect(parseHashConfig('{"name":"pbkdf2","mac_fun":"sha512","iterations":4096}')).toEqual({ name: 'pbkdf2', mac_fun: 'sha512', iterations: 4096 });
  });

  it('returns a frozen configuration', () => {
    expect(Object.isFrozen(parseHashConfig({ name: 'md5', salt_position: 'suffix' }))).toBe(true);
  });
});

describe('malformed stored values are a deny with a reason, never an exception', () => {
  it.each([
    ['hex one character short', { name: 'sha256', salt_position: 'disable' }, '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d'],
    ['hex one byte too long', { name: 'md5', salt_position: 'disable' }, '5f4dcc3b5aa765d61d8327deb882cf9900'],
    ['the right length but not hex', { name: 'sha256', salt_position: 'disable' }, 'zz884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'],
    ['empty', { name: 'sha', salt_position: 'prefix' }, ''],
    ['not a bcrypt string under bcrypt', { name: 'bcrypt' }, 'password'],
    ['a hex digest under bcrypt', { name: 'bcrypt' }, '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'],
    ['an unknown bcrypt prefix', { name: 'bcrypt' }, '$2x$06$eHX8EKlD8G.A/4/hqnN8DuHbBFx/5.H5kCzXnHI93vnJXi.Uzo8Kq'],
    ['a pbkdf2 key of the wrong length', { name: 'pbkdf2', mac_fun: 'sha', iterations: 2, dk_length: 32 }, '01dbee7f4a9e243e988b62c73cda935da05378b9'],
    ['a pbkdf2 key longer than the digest size', { name: 'pbkdf2', mac_fun: 'sha', iterations: 2 }, '01dbee7f4a9e243e988b62c73cda935da05378b93244ec8f48a99e61ad799d86'],
    ['a pbkdf2 key that is not hex', { name: 'pbkdf2', mac_fun: 'sha', iterations: 2 }, 'g1dbee7f4a9e243e988b62c73cda935da05378b9'],
  ])('%s', async (_label, algorithm, stored) => {
    const result = await verifyPassword(parseHashConfig(algorithm), 'password', stored, 'ATHENA.MIT.EDUraeburn');
    expect(result.ok).toBe(false);
    expect(typeof malformedOf(result)).toBe('string');
  });

  it('refuses a stored bcrypt cost above 16 before hashing (it could never answer in time), under bcrypt, auto and salt,bcrypt', async () => {
    // Cost 17 would take ~14 s in bcryptjs; the check must come back at once.
    const costly = '$2b$17$eHX8EKlD8G.A/4/hqnN8DuHbBFx/5.H5kCzXnHI93vnJXi.Uzo8Kq';
    const refused = { ok: false, malformed: 'bcrypt cost above 16: one check would take longer than the broker waits' };
    const started = Date.now();
    expect(await verifyPassword(parseHashConfig({ name: 'bcrypt' }), 'password', costly, null)).toEqual(refused);
    expect(await verifyPassword(parseHashConfig({ name: 'auto' }), 'password', costly, null)).toEqual(refused);
    expect(await verifyPassword(parseHashConfig('salt,bcrypt'), 'password', costly, costly.slice(0, 29))).toEqual(refused);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(storedHashProblem(parseHashConfig({ name: 'bcrypt' }), costly)).toBe(refused.malformed);
    expect(storedHashProblem(parseHashConfig({ name: 'bcrypt' }), costly.replace('$17$', '$16$'))).toBeUndefined();
  });

  it('reports no malformed reason for a well-formed hash of another password', async () => {
    const result = await verifyPassword(parseHashConfig({ name: 'md5', salt_position: 'disable' }), 'wrong', '5f4dcc3b5aa765d61d8327deb882cf99', null);
    expect(result).toEqual({ ok: false });
  });
});

describe('hashPassword produces what verifyPassword accepts', () => {
  const configs: HashConfig[] = [
    ...(['plain', 'md5', 'sha', 'sha256', 'sha512'] as const).flatMap((name) =>
      (['disable', 'prefix', 'suffix'] as const).map((salt_position) => parseHashConfig({ name, salt_position })),
    ),
    parseHashConfig({ name: 'bcrypt', salt_rounds: 4 }),
    ...(['sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const).map((mac_fun) => parseHashConfig({ name: 'pbkdf2', mac_fun, iterations: 10 })),
    parseHashConfig({ name: 'pbkdf2', mac_fun: 'sha256', iterations: 10, dk_length: 16 }),
    parseHashConfig({ name: 'pbkdf2', mac_fun: 'sha', iterations: 10, dk_length: 100 }),
  ];

  it.each(configs.map((cfg) => [JSON.stringify(cfg), cfg] as const))('round-trips under %s', async (_label, cfg) => {
    const { hash, salt } = await hashPassword(cfg, 'pä$$wörd 1');
    expect(await verifyPassword(cfg, 'pä$$wörd 1', hash, salt)).toEqual({ ok: true });
    expect(await verifyPassword(cfg, 'pä$$wörd 2', hash, salt)).toEqual({ ok: false });
  });

  it('uses a given salt and reproduces every salted digest vector', async () => {
    const salted = vectorsOf('hash').filter((v) => {
      const a = (v as unknown as { algorithm: { name: string; salt_position?: string } }).algorithm;
      return v.expect === 'match' && a.name !== 'bcrypt' && a.salt_position !== 'disable';
    });
    expect(salted.length).toBeGreaterThanOrEqual(6);
    for (const v of salted) {
      const { algorithm, password, salt, stored_hash } = v as unknown as { algorithm: unknown; password: string; salt: string; stored_hash: string };
      expect({ id: v.id, ...(await hashPassword(parseHashConfig(algorithm), password, salt)) }).toEqual({ id: v.id, hash: stored_hash.toLowerCase(), salt });
    }
  });

  it('stores no salt when salt_position is disable', async () => {
    const { salt } = await hashPassword(parseHashConfig({ name: 'md5', salt_position: 'disable' }), 'password', 'ignored');
    expect(salt).toBe('');
  });
});
