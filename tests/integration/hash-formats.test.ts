import { readFileSync } from 'node:fs';
import type { Container } from '../../shared/container.js';
import { freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';
import { containerFor, handlersFor, memoryLogger } from '../helpers/harness.js';
import { fieldCase, vectors } from '../helpers/vectors.js';

/**
 * EMQX 4.x hash strings and auto-recognised foreign formats, stored in real PostgreSQL and real
 * MariaDB and checked through the authentication handler.
 */

interface StoredVector {
  id: string;
  format?: string;
  password_hash_config?: string;
  password: string;
  salt?: string | null;
  stored_hash: string;
  expect: string;
}

const foreign = JSON.parse(readFileSync(new URL('../vectors/foreign-hashes.json', import.meta.url), 'utf8')) as StoredVector[];
// hash-4-bcrypt-2y (cost 16, seconds per check) stays in the unit tests; "bcrypt" is stored here with B05's cost-6 hash.
const legacy = [
  ...(vectors.filter((v) => v.kind === 'hash' && v.emqx === '4.x' && v.id !== 'hash-4-bcrypt-2y') as unknown as StoredVector[]),
  ...foreign.filter((v) => v.format === 'emqx4'),
  { id: 'b05-under-bcrypt', password_hash_config: 'bcrypt', ...(fieldCase('B05').input.vectors[1] as { password: string; stored_hash: string }), salt: 'ignored', expect: 'match' },
];
const autoRows = foreign.filter((v) => v.format !== 'emqx4' && v.expect === 'match' && !v.stored_hash.includes('m=65536'));

describe.each<[Engine]>([['postgres'], ['mysql']])('stored hash formats against real %s', (engine) => {
  let db: TestDatabase;
  const containers: Container[] = [];
  const make = (env: Record<string, string>, log?: ReturnType<typeof memoryLogger>['log']) => {
    const c = containerFor({ DATABASE_URL: db.url, AUTHN_QUERY: 'SELECT password, salt FROM legacy_user WHERE username = ${username} LIMIT 1', ...env }, undefined, log);
    containers.push(c);
    return handlersFor(c);
  };
  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
  const insert = (username: string, password: string, salt: string | null | undefined) =>
    db.exec(`INSERT INTO legacy_user (username, password, salt) VALUES (${m(1)}, ${m(2)}, ${m(3)})`, [username, password, salt ?? null]);

  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_it_hashfmt_${engine}`);
    // The 4.x reference table, with the password column wide enough for the longest foreign string.
    await db.exec(`CREATE TABLE legacy_user (username VARCHAR(100) UNIQUE, password VARCHAR(255), salt VARCHAR(40))`);
    for (const v of legacy) await insert(v.id, v.stored_hash, v.salt);
    for (const v of autoRows) await insert(v.id, v.stored_hash, 'a salt column auto ignores');
    const b12 = fieldCase('B12');
    await insert('b12-django', b12.input.django_string, null);
    for (const [i, t] of (fieldCase('B10').input.vectors as { stored_hash: string }[]).entries()) await insert(`b10-${i}`, t.stored_hash, null);
    await insert('hex-under-auto', '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8', null);
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.close()));
    await db.close();
  });

  it('has a row for each 4.x form', () =>
    expect(legacy.map((v) => v.password_hash_config)).toEqual(['md5', 'sha', 'sha256', 'pbkdf2,sha,1,16', 'salt,bcrypt', 'pbkdf2,md5,1,16', 'pbkdf2,ripemd160,2,20', 'bcrypt']));

  for (const v of legacy) {
    it(`${v.id}: PASSWORD_HASH="${v.password_hash_config}" allows the right password and denies a wrong one`, async () => {
      const h = make({ PASSWORD_HASH: v.password_hash_config ?? '' });
      expect((await h.auth({ username: v.id, password: v.password, clientid: 'c1' })).body).toEqual({ result: 'allow', is_superuser: false });
      expect((await h.auth({ username: v.id, password: `${v.password}!`, clientid: 'c1' })).body).toEqual({ result: 'deny' });
    });
  }

  it('salt,sha256 and sha256,salt read the salt column as prefix and suffix', async () => {
    await insert('prefixed', 'ac63a624e7074776d677dd61a003b8c803eb11db004d0ec6ae032a5d7c9c5caf', 'salt');
    await insert('suffixed', '7a37b85c8918eac19a9089c0fa5a2ab4dce3f90528dcdeec108b23ddf3607b99', 'salt');
    expect((await make({ PASSWORD_HASH: 'salt,sha256' }).auth({ username: 'prefixed', password: 'sha256' })).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await make({ PASSWORD_HASH: 'sha256,salt' }).auth({ username: 'suffixed', password: 'password' })).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await make({ PASSWORD_HASH: 'salt,sha256' }).auth({ username: 'suffixed', password: 'password' })).body).toEqual({ result: 'deny' });
  });

  describe('{"name":"auto"}', () => {
    it('has a row for each foreign format', () => expect(new Set(autoRows.map((v) => v.format))).toEqual(new Set(['phc-argon2', 'django-argon2', 'goauth-pbkdf2', 'django-pbkdf2', 'mosquitto-passwd'])));

    for (const v of autoRows) {
      it(`${v.id} (${v.format}) allows the right password and denies a wrong one`, async () => {
        const h = make({ PASSWORD_HASH: '{"name":"auto"}' });
        expect((await h.auth({ username: v.id, password: v.password })).body).toEqual({ result: 'allow', is_superuser: false });
        expect((await h.auth({ username: v.id, password: `${v.password}!` })).body).toEqual({ result: 'deny' });
      });
    }

    it('B12: a Django pbkdf2_sha256 row verifies', async () => {
      const h = make({ PASSWORD_HASH: '{"name":"auto"}' });
      expect((await h.auth({ username: 'b12-django', password: fieldCase('B12').input.password })).body).toEqual({ result: 'allow', is_superuser: false });
    });

    it('B10: np-tool rows verify with salt_encoding utf8; the truncated row is denied and logged as malformed without the hash', async () => {
      const c = fieldCase('B10');
      const mem = memoryLogger();
      const h = make({ PASSWORD_HASH: '{"name":"auto","salt_encoding":"utf8"}' }, mem.log);
      const tests = c.input.vectors as { password: string; stored_hash: string }[];
      const results: boolean[] = [];
      for (const [i, t] of tests.entries()) results.push((await h.auth({ username: `b10-${i}`, password: t.password })).body.result === 'allow');
      expect(results).toEqual(c.expected.results);
      const logged = mem.lines().join('\n');
      expect(logged).toMatch(/malformed stored hash.*go-auth PBKDF2 key is not base64/);
      expect(logged).not.toContain(tests[2]?.stored_hash);
      expect(logged).not.toContain(tests[2]?.password);
    });

    it('a row auto cannot recognise is a deny, logged without the stored value', async () => {
      const mem = memoryLogger();
      const h = make({ PASSWORD_HASH: '{"name":"auto"}' }, mem.log);
      expect((await h.auth({ username: 'hex-under-auto', password: 'password' })).body).toEqual({ result: 'deny' });
      const logged = mem.lines().join('\n');
      expect(logged).toMatch(/malformed stored hash.*not a format auto recognises/);
      expect(logged).not.toContain('5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8');
    });
  });
});
