import { readFileSync } from 'node:fs';
import { ConfigError } from '../../shared/errors.js';
import { hashPassword, parseHashConfig, verifyPassword, type Verification } from '../../shared/hash.js';
import { thrownBy } from '../helpers/errors.js';
import { fieldCase } from '../helpers/vectors.js';

/** `{"name":"auto"}`: the stored string names its own format (bcrypt, go-auth, Django, PHC Argon2, mosquitto_passwd). */

interface ForeignVector {
  id: string;
  format: string;
  password: string;
  stored_hash: string;
  expect: 'match' | 'no_match' | 'malformed';
}

const foreign = (JSON.parse(readFileSync(new URL('../vectors/foreign-hashes.json', import.meta.url), 'utf8')) as ForeignVector[]).filter((v) => v.format !== 'emqx4');
const auto = parseHashConfig('{"name":"auto"}');
const autoText = parseHashConfig({ name: 'auto', salt_encoding: 'utf8' });
const malformedOf = (v: Verification): unknown => ('malformed' in v ? v.malformed : undefined);

describe('parseHashConfig for auto', () => {
  it('reads {"name":"auto"} with base64 go-auth salts by default', () => {
    expect(auto).toEqual({ name: 'auto', salt_encoding: 'base64' });
    expect(Object.isFrozen(auto)).toBe(true);
  });

  it.each([
    ['utf8', 'utf8'],
    ['utf-8', 'utf8'],
    ['base64', 'base64'],
  ])('reads salt_encoding %j as %j (go-auth spells it utf-8)', (salt_encoding, expected) => {
    expect(parseHashConfig({ name: 'auto', salt_encoding })).toEqual({ name: 'auto', salt_encoding: expected });
  });

  it.each([[{ name: 'auto', salt_encoding: 'hex' }], [{ name: 'auto', salt_position: 'prefix' }], [{ name: 'auto', saltEncoding: 'utf8' }], ['{"name":"auto","salt_encoding":"utf8","x":1}']])(
    'rejects %j naming PASSWORD_HASH',
    (value) => {
      const error = thrownBy(() => parseHashConfig(value));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ setting: 'PASSWORD_HASH' });
    },
  );
});

describe('foreign hash vectors (foreign-hashes.json)', () => {
  it('loads every foreign vector', () => expect(foreign).toHaveLength(14));

  for (const v of foreign) {
    it(`${v.id} (${v.format}) gives ${v.expect}`, async () => {
      const result = await verifyPassword(auto, v.password, v.stored_hash, 'a salt column auto ignores');
      if (v.expect === 'malformed') {
        expect(result.ok).toBe(false);
        expect(typeof malformedOf(result)).toBe('string');
      } else {
        expect(result).toEqual({ ok: v.expect === 'match' });
      }
    });
  }

  it('go-auth strings with base64 salts do not verify when salts are read as text', async () => {
    const goauth = foreign.filter((v) => v.format === 'goauth-pbkdf2');
    expect(goauth).toHaveLength(2);
    for (const v of goauth) expect(await verifyPassword(autoText, v.password, v.stored_hash, null)).toEqual({ ok: false });
  });

  it('a wrong password against each matching vector is a plain no (not malformed)', async () => {
    const cheap = foreign.filter((v) => v.expect === 'match' && !v.stored_hash.includes('m=65536'));
    expect(cheap.length).toBeGreaterThanOrEqual(4);
    for (const v of cheap) expect({ id: v.id, ...(await verifyPassword(auto, `${v.password}x`, v.stored_hash, null)) }).toEqual({ id: v.id, ok: false });
  });
});

describe('field cases for foreign formats', () => {
  it('B10: np-tool PBKDF2 strings verify with salt_encoding utf8; the hash cut to 45 characters is malformed, not an exception', async () => {
    const c = fieldCase('B10');
    expect(c.input.salt_encoding).toBe('utf8');
    const cfg = parseHashConfig({ name: 'auto', salt_encoding: c.input.salt_encoding });
    const tests = c.input.vectors as { password: string; stored_hash: string }[];
    const results = await Promise.all(tests.map((t) => verifyPassword(cfg, t.password, t.stored_hash, null)));
    expect(results.map((r) => r.ok)).toEqual(c.expected.results);
    expect(tests[2]?.stored_hash).toHaveLength(45);
    expect(results[2]).toEqual({ ok: false, malformed: 'go-auth PBKDF2 key is not base64 of at least 16 bytes (a truncated column?)' });
  });

  it('B10: with go-auth\'s default base64 salts the same strings do not verify', async () => {
    const tests = fieldCase('B10').input.vectors as { password: string; stored_hash: string }[];
    const results = await Promise.all(tests.map((t) => verifyPassword(auto, t.password, t.stored_hash, null)));
    expect(results.map((r) => r.ok)).toEqual([false, false, false]);
    expect(results.slice(0, 2)).toEqual([{ ok: false }, { ok: false }]);
  });

  it('B12: the Django string verifies under auto (the format is supported), as does its EMQX-style form', async () => {
    const c = fieldCase('B12');
    expect(await verifyPassword(auto, c.input.password as string, c.input.django_string as string, null)).toEqual({ ok: true });
    expect(await verifyPassword(auto, 'Password', c.input.django_string as string, null)).toEqual({ ok: false });
    const e = c.input.emqx_style as { mac_fun: string; iterations: number; dk_length: number; salt: string; stored_hex: string };
    const legacy = parseHashConfig(`pbkdf2,${e.mac_fun},${e.iterations},${e.dk_length}`);
    expect(await verifyPassword(legacy, c.input.password as string, e.stored_hex, e.salt)).toEqual({ ok: c.expected.emqx_style_verify });
  });

  it('B05/B06: bcrypt $2a$, $2b$, $2y$ verify under auto; the salt column is ignored; a truncated hash is malformed', async () => {
    for (const id of ['B05', 'B06']) {
      const c = fieldCase(id);
      const tests = c.input.vectors as { password: string; stored_hash: string; salt_column?: string | null }[];
      const results = await Promise.all(tests.map((t) => verifyPassword(auto, t.password, t.stored_hash, t.salt_column)));
      expect({ id, results: results.map((r) => r.ok) }).toEqual({ id, results: c.expected.results });
    }
    const b05 = fieldCase('B05').input.vectors as { stored_hash: string }[];
    const truncated = await verifyPassword(auto, 'password', b05[4]?.stored_hash ?? '', null);
    expect(typeof malformedOf(truncated)).toBe('string');
  });
});

describe('a stored string auto cannot recognise is malformed, never an allow, and the reason never quotes it', () => {
  it.each([
    ['a hex sha256 digest', '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'],
    ['a plaintext password equal to the one sent', 'password'],
    ['an empty value', ''],
    ['an unknown bcrypt prefix', '$2x$06$eHX8EKlD8G.A/4/hqnN8DuHbBFx/5.H5kCzXnHI93vnJXi.Uzo8Kq'],
    ['go-auth with an unsupported digest', 'PBKDF2$sha1$901$SuPQNHe56L/DAnTQ$mHgOmr+cyuF3GTK5vFHHWoXgBrydzwRX'],
    ['go-auth with zero iterations', 'PBKDF2$sha256$0$AQIDBAUGBwgJCgsMDQ4PEA==$Ko6ItdHL6ClFtnFkbfuBqXfuwhscmwBRT3+fd2AaScE='],
    ['go-auth with iterations past the bound', 'PBKDF2$sha256$10000001$AQIDBAUGBwgJCgsMDQ4PEA==$Ko6ItdHL6ClFtnFkbfuBqXfuwhscmwBRT3+fd2AaScE='],
    ['go-auth with a salt that is not base64', 'PBKDF2$sha256$4096$not*base64$Ko6ItdHL6ClFtnFkbfuBqXfuwhscmwBRT3+fd2AaScE='],
    ['go-auth with a sixth field', 'PBKDF2$sha256$4096$AQIDBAUGBwgJCgsMDQ4PEA==$Ko6ItdHL6ClFtnFkbfuBqXfuwhscmwBRT3+fd2AaScE=$x'],
    ['Django with an unsupported digest', 'pbkdf2_sha512$36000$jVzOPOCIrf3C$gWdG9Xk/UeYrxEagMJRSJZhdEYil73D6aTZ4cz9nqtQ='],
    ['Django with its key cut short', 'pbkdf2_sha256$36000$jVzOPOCIrf3C$gWdG9Xk/UeYrxEagMJRSJZhdEYil73D6'],
    ['Django without a salt', 'pbkdf2_sha256$36000$$gWdG9Xk/UeYrxEagMJRSJZhdEYil73D6aTZ4cz9nqtQ='],
    ['Argon2 without its key', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ'],
    ['Argon2 with an extra parameter', '$argon2id$v=19$m=65536,t=2,p=1,keyid=a$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc'],
    ['Argon2 asking for 2 GiB', '$argon2id$v=19$m=2097152,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc'],
    // 64 MiB × 100000 passes would stall the event loop for hours; refused before deriving.
    ['Argon2 asking for more than 1 GiB × 4 passes of work', '$argon2id$v=19$m=65536,t=100000,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc'],
    ['Argon2 with less memory than 8 KiB per lane', '$argon2id$v=19$m=8,t=2,p=2$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc'],
    ['Argon2 with a salt under 8 bytes', '$argon2id$v=19$m=4096,t=3,p=2$c2FsdA$/Jn0QpQleR9txGnjadNiCg'],
    ['Argon2 with its key cut short', '$argon2id$v=19$m=4096,t=3,p=2$c2FsdHNhbHRzYWx0$/Jn0QpQleR9t'],
    ['an unknown Argon2 variant', '$argon2x$v=19$m=4096,t=3,p=2$c2FsdHNhbHRzYWx0$/Jn0QpQleR9txGnjadNiCg'],
    ['glibc sha512-crypt (starts with $6$ too)', '$6$VdBtYq4pvxq6FjHR$oWxbzRIZMJPE8Ll8Thhw96l5m53fSoksN29u9husslCEH0PmacpHXGW3aU3n8ugSPMt7j7xt99r013zoXOvmj1'],
    ['mosquitto_passwd $7$ without iterations', '$7$$vcUD4mymmpj+oynh$+5+KbaHDfstIxRyceymjjCLAlFbY7wZ2X1sSrzS+J9X13AuvqI7sRg/fYAcDD88so2kgCnFPZzPs00uczouIcA=='],
    ['mosquitto_passwd $7$ with its key cut short', '$7$101$vcUD4mymmpj+oynh$+5+KbaHDfstIxRyceymjjCLAlFbY7wZ2X1sSrzS+J9X13AuvqI7sRg/fYAcDD88so2kgCnFPZzPs00uczou'],
    ['mosquitto_passwd $6$ without a salt', '$6$$hd8/qcgdxgO37/XRXiL3GV52vntYaF5h9t6xI1V6heinrlzNB0N8z5NPfUJLAsCtjUKbEixYZI6e7U9A/BNlAw=='],
    ['scrypt in PHC form', '$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E'],
  ])('%s', async (_label, stored) => {
    const result = await verifyPassword(auto, 'password', stored, null);
    expect(result.ok).toBe(false);
    const reason = malformedOf(result);
    expect(typeof reason).toBe('string');
    if (stored !== '') expect(String(reason)).not.toContain(stored);
  });

  it('names the formats auto reads when the value is none of them', async () => {
    const result = await verifyPassword(auto, 'password', '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8', null);
    expect(malformedOf(result)).toMatch(/^not a format auto recognises: bcrypt .*PBKDF2.*pbkdf2_sha256.*\$argon2id\$.*set PASSWORD_HASH to their algorithm\)$/);
  });
});

describe('hashPassword under auto', () => {
  it('makes a bcrypt hash that auto verifies', async () => {
    const { hash, salt } = await hashPassword(auto, 'pä$$wörd 1');
    expect(hash).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}$/);
    expect(salt).toBe('');
    expect(await verifyPassword(auto, 'pä$$wörd 1', hash, salt)).toEqual({ ok: true });
    expect(await verifyPassword(auto, 'pä$$wörd 2', hash, salt)).toEqual({ ok: false });
  });
});
