import { PGlite } from '@electric-sql/pglite';
import { migrate } from '../../shared/builtin/schema.js';
import type { Container } from '../../shared/container.js';
import type { SqlStore } from '../../shared/db/port.js';
import { BuiltinSource } from '../../shared/sources/builtin.js';
import { loadSettings } from '../../shared/settings.js';
import type { AclRequest, AuthnRequest, Row } from '../../shared/types.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { dataApiFor, DRIVERS, driverEnv } from '../helpers/drivers.js';
import { containerFor, memoryLogger } from '../helpers/harness.js';

/**
 * The built-in source against real PostgreSQL and MariaDB (pooled and Data API drivers) and embedded
 * PGlite: tables from migrate(), rows written with plain SQL, decisions asserted exactly.
 */

// sha256 with prefix salt (the default PASSWORD_HASH): H('salt' + 'sha256'), from the EMQX vectors.
const HASH = 'ac63a624e7074776d677dd61a003b8c803eb11db004d0ec6ae032a5d7c9c5caf';
/** What explain learns when the hasher ran: the user row and the algorithm. */
const HASHED = { row: 0, algorithm: 'sha256' };
/** A matched rule: its place among the rows read and the id `mqtt-auth rule list` shows. */
const matched = (result: 'allow' | 'deny', row: number, id: number) => ({ result, reason: `built-in: rule ${id} matched`, detail: { row, rule: `rule ${id}` } });
const client = (c: Partial<AuthnRequest>): AuthnRequest => ({ client_attrs: {}, ...c });
const acl = (c: Partial<AclRequest> & Pick<AclRequest, 'topic' | 'action'>): AclRequest => ({ client_attrs: {}, ...c });

interface Backend {
  store: SqlStore;
  /** The Data API takes named markers (:p1), the pooled drivers their own. */
  named: boolean;
  settings: (env?: Record<string, string>) => ReturnType<typeof loadSettings>;
  close(): Promise<void>;
}

async function seed(store: SqlStore, named: boolean): Promise<void> {
  const m = (i: number) => (named ? `:p${i}` : store.dialect === 'postgres' ? `$${i}` : '?');
  await store.query(`INSERT INTO mqtt_builtin_user (user_id, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['alice', HASH, 'salt', '0']);
  await store.query(`INSERT INTO mqtt_builtin_user (user_id, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['root', HASH, 'salt', '1']);
  await store.query(`INSERT INTO mqtt_builtin_user (user_id, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['dev-7', HASH, 'salt', '0']);
  await store.query(`INSERT INTO mqtt_builtin_user (user_id, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['broken', 'not-hex', '', '0']);
  const rule = (whoType: string, who: string, permission: string, action: string, topic: string, qos = '0,1,2', retain = 'all') =>
    store.query(`INSERT INTO mqtt_builtin_acl (who_type, who, permission, action, topic, qos, retain) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)}, ${m(5)}, ${m(6)}, ${m(7)})`, [
      whoType,
      who,
      permission,
      action,
      topic,
      qos,
      retain,
    ]);
  // Inserted in the "wrong" order: the username's allow comes first by id, yet the client id's deny wins.
  await rule('username', 'alice', 'allow', 'all', 't/#');
  await rule('all', '', 'allow', 'publish', 'x/${clientid}');
  await rule('clientid', 'c1', 'deny', 'publish', 't/1');
  await rule('username', 'alice', 'allow', 'publish', 'q/1', '1');
  await rule('username', 'alice', 'deny', 'publish', 'r/1', '0,1,2', 'true');
  await rule('username', 'alice', 'allow', 'publish', 'r/#');
  await rule('all', '', 'deny', 'subscribe', '$SYS/#');
}

function contract(name: string, open: () => Promise<Backend>) {
  describe(`BuiltinSource against ${name}`, () => {
    let b: Backend;
    let source: BuiltinSource;
    const memory = memoryLogger();
    beforeAll(async () => {
      b = await open();
      expect(await migrate(b.store)).toEqual(['mqtt_builtin_user', 'mqtt_builtin_acl']);
      expect(await migrate(b.store)).toEqual([]);
      await seed(b.store, b.named);
      source = new BuiltinSource(b.store, b.settings(), memory.log);
    }, 60_000);
    afterAll(() => b.close());

    it('allows the right password and reads the superuser flag', async () => {
      expect(await source.authenticate(client({ username: 'alice', clientid: 'c1', password: 'sha256' }))).toEqual({
        result: 'allow',
        is_superuser: false,
        reason: 'built-in: password verified',
        detail: HASHED,
      });
      expect(await source.authenticate(client({ username: 'root', password: 'sha256' }))).toEqual({ result: 'allow', is_superuser: true, reason: 'built-in: password verified', detail: HASHED });
    });

    it('denies a wrong password and ignores an unknown user, a missing username and a different case', async () => {
      expect(await source.authenticate(client({ username: 'alice', password: 'wrong' }))).toEqual({ result: 'deny', reason: 'built-in: wrong password', detail: HASHED });
      expect(await source.authenticate(client({ username: 'nobody', password: 'sha256' }))).toEqual({ result: 'ignore', reason: 'built-in: no such user' });
      expect(await source.authenticate(client({ clientid: 'alice', password: 'sha256' }))).toEqual({ result: 'ignore', reason: 'built-in: no username to look up' });
      expect(await source.authenticate(client({ username: 'Alice', password: 'sha256' }))).toEqual({ result: 'ignore', reason: 'built-in: no such user' });
      // MySQL's PAD SPACE collations would find 'alice' here; the VARBINARY column does not.
      expect(await source.authenticate(client({ username: 'alice ', password: 'sha256' }))).toEqual({ result: 'ignore', reason: 'built-in: no such user' });
    });

    it('denies a stored value that is not a hash of the algorithm, and logs no hash', async () => {
      const out = await source.authenticate(client({ username: 'broken', password: 'x' }));
      expect(out).toEqual({ result: 'deny', reason: 'built-in: malformed stored hash: stored value is not a 64-character hex sha256 digest', detail: HASHED });
      expect(memory.lines().join('')).not.toContain('not-hex');
    });

    it('looks users up by client id when BUILTIN_USER_ID_TYPE=clientid', async () => {
      const byClient = new BuiltinSource(b.store, b.settings({ BUILTIN_USER_ID_TYPE: 'clientid' }), memory.log);
      expect(await byClient.authenticate(client({ username: 'whoever', clientid: 'dev-7', password: 'sha256' }))).toEqual({
        result: 'allow',
        is_superuser: false,
        reason: 'built-in: password verified',
        detail: HASHED,
      });
      expect(await byClient.authenticate(client({ username: 'alice', clientid: 'c9', password: 'sha256' }))).toEqual({ result: 'ignore', reason: 'built-in: no such user' });
      expect(await byClient.authenticate(client({ username: 'alice', password: 'sha256' }))).toEqual({ result: 'ignore', reason: 'built-in: no clientid to look up' });
    });

    it('evaluates client id rules, then username rules, then rules for all', async () => {
      const alice = { username: 'alice', clientid: 'c1' };
      expect(await source.authorize(acl({ ...alice, action: 'publish', topic: 't/1', qos: 0, retain: false }))).toEqual(matched('deny', 0, 3));
      expect(await source.authorize(acl({ ...alice, action: 'publish', topic: 't/2', qos: 0, retain: false }))).toEqual(matched('allow', 1, 1));
      expect(await source.authorize(acl({ username: 'alice', clientid: 'c2', action: 'publish', topic: 't/1', qos: 0, retain: false }))).toEqual(matched('allow', 0, 1));
      expect(await source.authorize(acl({ username: 'bob', clientid: 'c2', action: 'publish', topic: 'x/c2', qos: 0, retain: false }))).toEqual(matched('allow', 0, 2));
      expect(await source.authorize(acl({ username: 'alice ', clientid: 'c2', action: 'publish', topic: 't/2', qos: 0, retain: false }))).toEqual({
        result: 'ignore',
        reason: 'built-in: no rule matched',
      });
      expect(await source.authorize(acl({ username: 'bob', clientid: 'c2', action: 'publish', topic: 'x/c3', qos: 0, retain: false }))).toEqual({
        result: 'ignore',
        reason: 'built-in: no rule matched',
      });
      expect(await source.authorize(acl({ username: 'bob', clientid: 'c2', action: 'subscribe', topic: '$SYS/brokers', qos: 0 }))).toEqual(matched('deny', 1, 7));
    });

    it('applies qos and retain conditions, and reads 0,1,2 and all as no condition', async () => {
      const alice = { username: 'alice', clientid: 'c5' };
      expect(await source.authorize(acl({ ...alice, action: 'publish', topic: 'q/1', qos: 1, retain: false }))).toEqual(matched('allow', 1, 4));
      expect(await source.authorize(acl({ ...alice, action: 'publish', topic: 'q/1', qos: 0, retain: false }))).toEqual({ result: 'ignore', reason: 'built-in: no rule matched' });
      expect(await source.authorize(acl({ ...alice, action: 'publish', topic: 'r/1', qos: 0, retain: true }))).toEqual(matched('deny', 2, 5));
      expect(await source.authorize(acl({ ...alice, action: 'publish', topic: 'r/1', qos: 0, retain: false }))).toEqual(matched('allow', 3, 6));
      // No qos or retain sent: the rule stored with 0,1,2 / all has no condition and still allows.
      expect(await source.authorize(acl({ ...alice, action: 'subscribe', topic: 't/+' }))).toEqual(matched('allow', 0, 1));
    });

    it('authorizeMany reads the rules once and answers each request as authorize does alone', async () => {
      const alice = { username: 'alice', clientid: 'c5' };
      const reqs = [
        acl({ ...alice, action: 'publish', topic: 'q/1', qos: 1, retain: false }),
        acl({ ...alice, action: 'publish', topic: 'q/1', qos: 0, retain: false }),
        acl({ ...alice, action: 'publish', topic: 'r/1', qos: 0, retain: true }),
        acl({ ...alice, action: 'publish', topic: 'r/1', qos: 0, retain: false }),
        acl({ ...alice, action: 'subscribe', topic: 't/+' }),
        acl({ ...alice, action: 'subscribe', topic: 't/#/x' }),
      ];
      const statements: string[] = [];
      const counting: SqlStore = { dialect: b.store.dialect, query: (text, params) => (statements.push(text), b.store.query(text, params)), close: async () => {} };
      const batched = new BuiltinSource(counting, b.settings(), memory.log);
      const alone = [];
      for (const r of reqs) alone.push(await batched.authorize(r));
      expect(statements).toHaveLength(reqs.length - 1); // an invalid filter is denied unread
      expect(await batched.authorizeMany(reqs)).toEqual(alone);
      expect(statements).toHaveLength(reqs.length);
      expect(alone).toEqual([
        matched('allow', 1, 4),
        { result: 'ignore', reason: 'built-in: no rule matched' },
        matched('deny', 2, 5),
        matched('allow', 3, 6),
        matched('allow', 0, 1),
        { result: 'deny', reason: 'built-in: invalid topic filter' },
      ]);
    });

    it('answers the superuser question from the flag without a password, leaves unknown users to the next source, and says no without the identity it keys users by', async () => {
      const who = (c: Partial<AuthnRequest>) => ({ client_attrs: {}, ...c });
      expect(await source.superuser(who({ username: 'root' }))).toEqual({ known: true, is_superuser: true, reason: 'built-in: is_superuser' });
      expect(await source.superuser(who({ username: 'alice', clientid: 'root' }))).toEqual({ known: true, is_superuser: false, reason: 'built-in: not a superuser' });
      expect(await source.superuser(who({ username: 'nobody' }))).toEqual({ known: false, reason: 'built-in: no such user' });
      expect(await source.superuser(who({ username: 'Root' }))).toEqual({ known: false, reason: 'built-in: no such user' });
      // Without the identity the store keys users by, the answer is no and the chain stops there.
      expect(await source.superuser(who({ clientid: 'root' }))).toEqual({ known: true, is_superuser: false, reason: 'built-in: no username to look up: not a superuser' });
      const byClient = new BuiltinSource(b.store, b.settings({ BUILTIN_USER_ID_TYPE: 'clientid' }), memory.log);
      expect(await byClient.superuser(who({ username: 'dev-7', clientid: 'root' }))).toEqual({ known: true, is_superuser: true, reason: 'built-in: is_superuser' });
      expect(await byClient.superuser(who({ username: 'root', clientid: 'dev-7' }))).toEqual({ known: true, is_superuser: false, reason: 'built-in: not a superuser' });
      expect(await byClient.superuser(who({ username: 'root' }))).toEqual({ known: true, is_superuser: false, reason: 'built-in: no clientid to look up: not a superuser' });
    });

    it('exports the client\'s rules for connect-time ACL in the order authorize judges them, rendered for the client', async () => {
      expect(await source.connectAcl(client({ username: 'alice', clientid: 'c1' }))).toEqual({
        acl: [
          { permission: 'deny', action: 'publish', topic: 't/1' },
          { permission: 'allow', action: 'all', topic: 't/#' },
          { permission: 'allow', action: 'publish', topic: 'q/1', qos: [1] },
          { permission: 'deny', action: 'publish', topic: 'r/1', retain: true },
          { permission: 'allow', action: 'publish', topic: 'r/#' },
          { permission: 'allow', action: 'publish', topic: 'x/c1' },
          { permission: 'deny', action: 'subscribe', topic: '$SYS/#' },
        ],
        dropped: 0,
      });
      // Without a client id the rule for all on x/${clientid} can apply to nobody: dropped, as the evaluator never matches it.
      expect(await source.connectAcl(client({ username: 'bob' }))).toEqual({ acl: [{ permission: 'deny', action: 'subscribe', topic: '$SYS/#' }], dropped: 1 });
    });
  });
}

const containers: Container[] = [];
let dataApi: DataApiServer | undefined;
afterAll(async () => {
  await Promise.all(containers.map((c) => c.close()));
  await dataApi?.close();
});

for (const [engine, driver] of DRIVERS) {
  contract(`real ${engine} (${driver} driver)`, async () => {
    if (driver === 'data-api') dataApi ??= await dataApiFor(driver);
    const db: TestDatabase = await freshDatabase(engine, `maf_it_builtin_${engine}_${driver === 'data-api' ? 'da' : 'pool'}`);
    const env = (extra: Record<string, string> = {}) => driverEnv(driver, engine, db, extra);
    const c = containerFor(env());
    containers.push(c);
    return { store: await c.store(), named: driver === 'data-api', settings: (extra) => loadSettings(env(extra)), close: () => db.close() };
  });
}

contract('embedded PGlite', async () => {
  const pg = await PGlite.create();
  const store: SqlStore = {
    dialect: 'postgres',
    query: async (text, params) => (await pg.query<Row>(text, [...params])).rows,
    close: () => pg.close(),
  };
  return { store, named: false, settings: (extra = {}) => loadSettings(extra), close: () => pg.close() };
});

describe('BuiltinSource without the tables', () => {
  it('answers the failure policies (ignore for authentication, deny for authorization), never allow', async () => {
    const db = await freshDatabase('postgres', 'maf_it_builtin_empty');
    const c = containerFor({ DATABASE_URL: db.url });
    containers.push(c);
    const source = new BuiltinSource(await c.store(), c.settings, memoryLogger().log);
    const authn = await source.authenticate(client({ username: 'alice', password: 'sha256' }));
    expect(authn.result).toBe('ignore');
    expect(authn.reason).toMatch(/^built-in: backend failure: PostgreSQL query failed \(42P01\)$/);
    expect(await source.authorize(acl({ username: 'alice', action: 'publish', topic: 't', qos: 0, retain: false }))).toEqual({
      result: 'deny',
      reason: 'built-in: backend failure: PostgreSQL query failed (42P01)',
      detail: { failure: true },
    });
    // Superuser: not known under AUTHN_BACKEND_FAILURE=ignore (the next source answers); under deny, no (the chain stops).
    expect(await source.superuser({ username: 'alice', client_attrs: {} })).toEqual({ known: false, reason: 'built-in: backend failure: PostgreSQL query failed (42P01)' });
    const strict = new BuiltinSource(await c.store(), loadSettings({ DATABASE_URL: db.url, AUTHN_BACKEND_FAILURE: 'deny' }), memoryLogger().log);
    expect(await strict.superuser({ username: 'alice', client_attrs: {} })).toEqual({ known: true, is_superuser: false, reason: 'built-in: backend failure: PostgreSQL query failed (42P01)' });
    expect(await source.connectAcl(client({ username: 'alice', clientid: 'c1' }))).toEqual({ failed: 'backend failure: PostgreSQL query failed (42P01)' });
    await db.close();
  });
});
