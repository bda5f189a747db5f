import type { Container } from '../../shared/container.js';
import { hashPassword, parseHashConfig } from '../../shared/hash.js';
import { freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { dataApiFor, DEAD_URL, DRIVERS, driverEnv, type Driver } from '../helpers/drivers.js';
import { containerFor, handlersFor, memoryLogger } from '../helpers/harness.js';
import { fieldCase, vectorsOf } from '../helpers/vectors.js';

/** Authentication through the real handlers against real PostgreSQL and real MariaDB. */

interface AuthnVector {
  id: string;
  db: string;
  query: string;
  row: Record<string, unknown> | null;
  credentials: Record<string, string>;
  password_hash_algorithm: Record<string, unknown>;
  expect: { result: 'ok' | 'error' | 'ignore'; is_superuser?: boolean };
  applies_when?: string;
  db_state?: string;
}

const expectedAnswer = (e: AuthnVector['expect']) =>
  e.result === 'ok' ? { result: 'allow', is_superuser: e.is_superuser } : { result: e.result === 'error' ? 'deny' : 'ignore' };

describe.each<[Engine, Driver]>(DRIVERS)('authentication against real %s (%s driver)', (engine, driver) => {
  let db: TestDatabase;
  let dataApi: DataApiServer | undefined;
  const containers: Container[] = [];
  const make = (env: Record<string, string>, log?: ReturnType<typeof memoryLogger>['log']) => {
    const c = containerFor(driverEnv(driver, engine, db, env), undefined, log);
    containers.push(c);
    return handlersFor(c);
  };

  beforeAll(async () => {
    dataApi = await dataApiFor(driver);
    db = await freshDatabase(engine, `maf_it_authn_${engine}_${driver === 'data-api' ? 'da' : 'pool'}`);
    await db.execFile(SCHEMA[engine]);
    const auto = engine === 'postgres' ? 'SERIAL PRIMARY KEY' : 'INT AUTO_INCREMENT PRIMARY KEY';
    await db.exec(`CREATE TABLE users (id ${auto}, username VARCHAR(100), password_hash VARCHAR(255), salt VARCHAR(64),
      is_superuser_int INT, is_superuser_str VARCHAR(20), cert_subject VARCHAR(100), cert_common_name VARCHAR(100))`);
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.close()));
    await db.close();
    await dataApi?.close();
  });

  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');

  async function addUser(username: string, password: string, algorithm: Record<string, unknown>, superuser: boolean | number = false) {
    const stored = await hashPassword(parseHashConfig(algorithm), password);
    await db.exec(`DELETE FROM mqtt_user WHERE username = ${m(1)}`, [username]);
    await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, [
      username,
      stored.hash,
      stored.salt,
      engine === 'postgres' ? Boolean(superuser) : Number(superuser),
    ]);
  }

  describe('EMQX 5 authn_row vectors', () => {
    const all = (vectorsOf('authn_row', { hardened: true }) as unknown as AuthnVector[]).filter((v) => v.db.includes(engine === 'postgres' ? 'postgresql' : 'mysql'));

    beforeAll(async () => {
      for (const v of all) {
        if (v.row === null && v.db_state !== 'unreachable') continue;
        const c = v.credentials;
        const row = v.row ?? {};
        await db.exec(
          `INSERT INTO users (username, password_hash, salt, is_superuser_int, is_superuser_str, cert_subject, cert_common_name)
           VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)}, ${m(5)}, ${m(6)}, ${m(7)})`,
          [c.username ?? c.clientid ?? null, row['password_hash'] ?? 'x', row['salt'] ?? null, row['is_superuser'] ?? null, row['is_superuser'] ?? null, c.cert_subject ?? null, c.cert_common_name ?? null],
        );
      }
    });

    for (const v of all) {
      it(`${v.id} answers ${JSON.stringify(expectedAnswer(v.expect))}`, async () => {
        const env: Record<string, string> = { AUTHN_QUERY: v.query, PASSWORD_HASH: JSON.stringify(v.password_hash_algorithm) };
        if (v.applies_when) {
          const [name, value] = v.applies_when.split(' ')[0]!.split('=');
          env[name!] = value!;
        }
        if (v.db_state === 'unreachable') env['DATABASE_URL'] = DEAD_URL[engine];
        const h = make(env);
        const answer = await h.auth({ ...v.credentials });
        expect(answer.status).toBe(200);
        expect(answer.contentType).toBe('application/json');
        expect(answer.body).toEqual(expectedAnswer(v.expect));
      });
    }
  });

  describe('the reference schema and default settings', () => {
    beforeAll(async () => {
      await addUser('alice', 'alicepw', { name: 'sha256', salt_position: 'prefix' });
      await addUser('root', 'rootpw', { name: 'sha256', salt_position: 'prefix' }, true);
    });

    it('allows the right password and reports is_superuser from the boolean/tinyint column', async () => {
      const h = make({});
      expect((await h.auth({ username: 'alice', password: 'alicepw', clientid: 'c1' })).body).toEqual({ result: 'allow', is_superuser: false });
      expect((await h.auth({ username: 'root', password: 'rootpw', clientid: 'c2' })).body).toEqual({ result: 'allow', is_superuser: true });
    });

    it('denies a wrong password and ignores an unknown user', async () => {
      const h = make({});
      expect((await h.auth({ username: 'alice', password: 'nope' })).body).toEqual({ result: 'deny' });
      expect((await h.auth({ username: 'nobody', password: 'alicepw' })).body).toEqual({ result: 'ignore' });
    });

    it('compares usernames exactly: trailing spaces and other letter cases are other users', async () => {
      const h = make({});
      for (const username of ['alice ', 'Alice', 'ALICE', ' alice']) {
        expect((await h.auth({ username, password: 'alicepw' })).body).toEqual({ result: 'ignore' });
      }
    });

    it('reads a BIT(1) or integer is_superuser column with EMQX coercion', async () => {
      const type = engine === 'mysql' ? 'BIT(1)' : 'BOOLEAN';
      await db.exec(`CREATE TABLE su_bits (username VARCHAR(50), password_hash VARCHAR(100), flag ${type}, flag_int INT)`);
      const stored = await hashPassword(parseHashConfig({ name: 'sha256', salt_position: 'disable' }), 'pw');
      await db.exec(`INSERT INTO su_bits VALUES (${m(1)}, ${m(2)}, ${engine === 'mysql' ? "b'1'" : 'true'}, 7), (${m(3)}, ${m(4)}, ${engine === 'mysql' ? "b'0'" : 'false'}, 0)`, [
        'on',
        stored.hash,
        'off',
        stored.hash,
      ]);
      const base = { PASSWORD_HASH: '{"name":"sha256","salt_position":"disable"}' };
      const bits = make({ ...base, AUTHN_QUERY: 'SELECT password_hash, flag AS is_superuser FROM su_bits WHERE username = ${username}' });
      expect((await bits.auth({ username: 'on', password: 'pw' })).body).toEqual({ result: 'allow', is_superuser: true });
      expect((await bits.auth({ username: 'off', password: 'pw' })).body).toEqual({ result: 'allow', is_superuser: false });
      const ints = make({ ...base, AUTHN_QUERY: 'SELECT password_hash, flag_int AS is_superuser FROM su_bits WHERE username = ${username}' });
      expect((await ints.auth({ username: 'on', password: 'pw' })).body).toEqual({ result: 'allow', is_superuser: true });
      expect((await ints.auth({ username: 'off', password: 'pw' })).body).toEqual({ result: 'allow', is_superuser: false });
    });

    it('binds the quoted forms "${x}" and \'${x}\' as parameters', async () => {
      const h = make({ AUTHN_QUERY: `SELECT password_hash, salt FROM mqtt_user WHERE username = '\${username}' AND "\${username}" = username LIMIT 1` });
      expect((await h.auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'allow', is_superuser: false });
    });

    it('falls back to a column named password and treats a NULL salt as empty', async () => {
      const h = make({ AUTHN_QUERY: "SELECT password_hash AS password, NULL AS salt FROM mqtt_user WHERE username = ${username}", PASSWORD_HASH: '{"name":"sha256","salt_position":"suffix"}' });
      await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt) VALUES (${m(1)}, ${m(2)}, NULL)`, ['nullsalt', 'efa1f375d76194fa51a3556a97e641e61685f914d446979da50a551a4333ffd7']);
      expect((await h.auth({ username: 'nullsalt', password: 'public' })).body).toEqual({ result: 'allow', is_superuser: false });
    });

    it('denies, with a logged reason and no secret, when the stored hash is malformed', async () => {
      await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt) VALUES (${m(1)}, ${m(2)}, '')`, ['broken', 'not-a-digest']);
      const mem = memoryLogger();
      const h = make({ PASSWORD_HASH: '{"name":"sha256","salt_position":"prefix"}' }, mem.log);
      expect((await h.auth({ username: 'broken', password: 'Secret-Pw-1' })).body).toEqual({ result: 'deny' });
      const logged = mem.lines().join('\n');
      expect(logged).toMatch(/malformed stored hash/);
      expect(logged).not.toMatch(/Secret-Pw-1|not-a-digest/);
    });
  });

  describe('field cases', () => {
    it('B15: a superuser with a wrong password is not authenticated', async () => {
      const fc = fieldCase('B15');
      const row = fc.input['user_row'];
      await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, '', ${m(3)})`, [
        row.username,
        row.password_hash,
        engine === 'postgres' ? true : 1,
      ]);
      const h = make({ PASSWORD_HASH: '{"name":"md5","salt_position":"disable"}' });
      const answer = await h.auth({ username: row.username, password: fc.input['login_password'] });
      expect(answer.body.result === 'allow').toBe(fc.expected['authenticated']);
      expect(answer.body).toEqual({ result: 'deny' });
      expect((await h.auth({ username: row.username, password: 'right-password' })).body).toEqual({ result: 'allow', is_superuser: true });
    });

    it('B32: credentials are bound, never spliced into SQL (no SQL error, no injection)', async () => {
      const fc = fieldCase('B32');
      const algo = { name: 'sha256', salt_position: 'prefix' };
      for (const u of fc.input['db_users']) await addUser(u.username, u.password_plain, algo);
      const mem = memoryLogger();
      const h = make({ AUTHN_QUERY: fc.input['query_template'] }, mem.log);
      const results: boolean[] = [];
      for (const a of fc.input['attempts']) results.push((await h.auth({ username: a.username, password: a.password })).body.result === 'allow');
      expect(results).toEqual(fc.expected['results']);
      const sqlErrors = mem.lines().filter((l) => l.includes('backend failure')).length;
      expect(sqlErrors).toBe(fc.expected['sql_errors']);
    });

    it('B33: a NUL byte never truncates an identity or a password', async () => {
      const fc = fieldCase('B33');
      for (const u of fc.input['db_users']) await addUser(u.username, u.password_plain, { name: 'sha256', salt_position: 'prefix' });
      const h = make({});
      const results: boolean[] = [];
      for (const a of fc.input['attempts']) {
        const answer = await h.auth({ username: a.username, password: a.password });
        // A username containing U+0000 is refused outright (400, which EMQX reads as ignore).
        if (a.username.includes('\u0000')) expect(answer.status).toBe(400);
        results.push(answer.status === 200 && answer.body.result === 'allow');
      }
      expect(results).toEqual(fc.expected['results']);
      const form = await h.rawAuth({ contentType: 'application/x-www-form-urlencoded', body: fc.input['http_form_body_example'] });
      expect(form.status).toBe(400);
      expect(form.body['error']).toMatch(/NUL/);
    });

    it('B34: a client without username and password never authenticates as a stored "undefined" user', async () => {
      const fc = fieldCase('B34');
      for (const u of fc.input['db_users']) await addUser(u.username, u.password_plain, { name: 'sha256', salt_position: 'prefix' });
      const h = make({});
      const answer = await h.auth(fc.input['http_request_json']);
      expect(answer.body.result === 'allow').toBe(fc.expected['authenticated']);
      expect(answer.body).toEqual({ result: 'ignore' });
      expect((await h.auth({ clientid: 'c1' })).body).toEqual({ result: 'ignore' });
    });

    it('B35: Unicode usernames survive form and JSON decoding and the database charset', async () => {
      const fc = fieldCase('B35');
      for (const u of fc.input['db_users']) await addUser(u.username, u.password_plain, { name: 'sha256', salt_position: 'prefix' });
      const h = make({});
      const results: boolean[] = [];
      for (const r of fc.input['requests']) results.push((await h.rawAuth({ contentType: r.content_type, body: r.body })).body.result === 'allow');
      expect(results).toEqual(fc.expected['results']);
    });
  });

  describe('database failures answer the failure policy, never allow', () => {
    it('an unreachable database answers AUTHN_BACKEND_FAILURE (ignore by default, deny when set)', async () => {
      expect((await make({ DATABASE_URL: DEAD_URL[engine] }).auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'ignore' });
      expect((await make({ DATABASE_URL: DEAD_URL[engine], AUTHN_BACKEND_FAILURE: 'deny' }).auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'deny' });
    });

    it('an SQL error found at run time is a backend failure', async () => {
      const h = make({ AUTHN_QUERY: 'SELECT password_hash FROM no_such_table WHERE username = ${username}', AUTHN_BACKEND_FAILURE: 'deny' });
      expect((await h.auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'deny' });
    });

    it('never writes a bound value into the log, even when the server quotes it in an error', async () => {
      const mem = memoryLogger();
      const h = make({ AUTHN_QUERY: 'SELECT password_hash FROM mqtt_user WHERE id = ${password}' }, mem.log);
      expect((await h.auth({ username: 'alice', password: 'Secret-Pw-9' })).body).toEqual({ result: 'ignore' });
      const logged = mem.lines().join('\n');
      // PostgreSQL refuses the text as an integer and quotes it; MySQL converts it and finds no row.
      if (engine === 'postgres') expect(logged).toMatch(/22P02.*withheld: the statement binds a secret/);
      expect(logged).not.toContain('Secret-Pw-9');
    });

    it('withholds the server message whenever the statement binds a secret, however the value is transformed', async () => {
      const mem = memoryLogger();
      // PostgreSQL quotes the upper-cased password in its error; a scrubber looking for the value itself would miss it.
      const transformed = engine === 'postgres' ? 'upper(${password})::int > 0' : 'upper(${password}) = 0';
      const h = make({ AUTHN_QUERY: `SELECT password_hash FROM mqtt_user WHERE username = \${username} AND ${transformed} LIMIT 1` }, mem.log);
      // MySQL converts the text to 0, finds alice's row and the password check fails.
      expect((await h.auth({ username: 'alice', password: 'leakme-7731' })).body).toEqual({ result: engine === 'postgres' ? 'ignore' : 'deny' });
      const logged = mem.lines().join('\n');
      if (engine === 'postgres') expect(logged).toMatch(/22P02/);
      expect(logged).not.toMatch(/leakme|LEAKME/);
    });

    it('keeps the server message (it names the problem) when no secret is bound', async () => {
      const mem = memoryLogger();
      const h = make({ AUTHN_QUERY: 'SELECT password_hash FROM no_such_table WHERE username = ${username}' }, mem.log);
      expect((await h.auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'ignore' });
      expect(mem.lines().join('\n')).toMatch(/no_such_table/);
    });

    it('a query slower than DB_QUERY_TIMEOUT_MS answers the policy inside the broker budget', async () => {
      const sleep = engine === 'postgres' ? 'pg_sleep(3)' : 'SLEEP(3)';
      const h = make({ AUTHN_QUERY: `SELECT (SELECT password_hash FROM mqtt_user WHERE username = \${username}) AS password_hash, ${sleep} AS s`, DB_QUERY_TIMEOUT_MS: '300', DB_CONNECT_TIMEOUT_MS: '500' });
      const started = Date.now();
      expect((await h.auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'ignore' });
      expect(Date.now() - started).toBeLessThan(2900);
    });

    it('with the default timeouts, a hung query answers the policy well inside EMQX\'s 5 s (no retry of a timeout)', async () => {
      const sleep = engine === 'postgres' ? 'pg_sleep(8)' : 'SLEEP(8)';
      const h = make({ AUTHN_QUERY: `SELECT (SELECT password_hash FROM mqtt_user WHERE username = \${username}) AS password_hash, ${sleep} AS s`, AUTHN_BACKEND_FAILURE: 'deny' });
      const started = Date.now();
      expect((await h.auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'deny' });
      expect(Date.now() - started).toBeLessThan(3500);
    });

    it('B48: after the database drops every connection, the next request succeeds (broken connection replaced, query retried once)', async () => {
      const h = make({});
      expect((await h.auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'allow', is_superuser: false });
      expect(await db.killClientConnections()).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 100));
      expect((await h.auth({ username: 'alice', password: 'alicepw' })).body).toEqual({ result: 'allow', is_superuser: false });
    });
  });
});
