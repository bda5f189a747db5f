import type { Container } from '../../shared/container.js';
import { freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { dataApiFor, DEAD_URL, DRIVERS, driverEnv, type Driver } from '../helpers/drivers.js';
import { containerFor, handlersFor } from '../helpers/harness.js';
import { vectorsOf } from '../helpers/vectors.js';

/** Authorization through the real handlers against real PostgreSQL and real MariaDB. */

interface AuthzVector {
  id: string;
  query: string | null;
  rows: Array<Record<string, unknown>>;
  client: Record<string, string>;
  request: { action: string; topic: string; qos: number; retain?: boolean };
  no_match: string;
  expect: string;
}

const wire = (r: AuthzVector['request']) => ({ action: r.action, topic: r.topic, qos: String(r.qos), retain: String(r.retain ?? false) });

describe.each<[Engine, Driver]>(DRIVERS)('authorization against real %s (%s driver)', (engine, driver) => {
  let db: TestDatabase;
  let dataApi: DataApiServer | undefined;
  const containers: Container[] = [];
  const make = (env: Record<string, string>) => {
    const c = containerFor(driverEnv(driver, engine, db, env));
    containers.push(c);
    return handlersFor(c);
  };
  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');

  beforeAll(async () => {
    dataApi = await dataApiFor(driver);
    db = await freshDatabase(engine, `maf_it_authz_${engine}_${driver === 'data-api' ? 'da' : 'pool'}`);
    await db.execFile(SCHEMA[engine]);
    const auto = engine === 'postgres' ? 'SERIAL PRIMARY KEY' : 'INT AUTO_INCREMENT PRIMARY KEY';
    // qos as a PostgreSQL INTEGER[] (a MySQL list string), qos_s/retain_s as text, retain as boolean/tinyint.
    await db.exec(`CREATE TABLE acl (id ${auto}, username VARCHAR(100), who VARCHAR(100), permission VARCHAR(10), action VARCHAR(10),
      topic VARCHAR(255), qos ${engine === 'postgres' ? 'INTEGER[]' : 'VARCHAR(10)'}, retain ${engine === 'postgres' ? 'BOOLEAN' : 'TINYINT(1)'},
      qos_s VARCHAR(10), retain_s VARCHAR(10))`);
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.close()));
    await db.close();
    await dataApi?.close();
  });

  describe('EMQX 5 authz vectors that carry their SQL query', () => {
    const all = (vectorsOf('authz') as unknown as AuthzVector[]).filter((v) => v.query !== null);
    it('covers the vectors with a query', () => expect(all.length).toBe(19));

    for (const v of all) {
      it(`${v.id}: ${v.request.action} ${v.request.topic} → ${v.expect}`, async () => {
        await db.exec('DELETE FROM acl');
        const textColumns = /qos_s as qos/i.test(v.query ?? '');
        for (const row of v.rows) {
          const qos = row['qos'] ?? null;
          const retain = row['retain'] ?? null;
          const qosValue = textColumns || qos === null ? null : engine === 'postgres' ? qos : (qos as number[]).join(',');
          await db.exec(
            `INSERT INTO acl (username, who, permission, action, topic, qos, retain, qos_s, retain_s) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)}, ${m(5)}, ${m(6)}, ${m(7)}, ${m(8)}, ${m(9)})`,
            [v.client['username'], row['who'] ?? null, row['permission'], row['action'], row['topic'], qosValue, textColumns ? null : retain, textColumns ? qos : null, textColumns ? retain : null],
          );
        }
        const h = make({ AUTHZ_QUERY: v.query ?? '', AUTHZ_NO_MATCH: v.no_match });
        const answer = await h.acl({ ...v.client, ...wire(v.request) });
        expect(answer.status).toBe(200);
        expect(answer.body).toEqual({ result: v.expect });
      });
    }
  });

  describe('the reference mqtt_acl table and the default AUTHZ_QUERY', () => {
    beforeAll(async () => {
      const rows: Array<[string, string, string, string, string | null, number | boolean | null]> = [
        ['u1', 'deny', 'subscribe', 'a/b', null, null],
        ['u1', 'allow', 'subscribe', '#', null, null],
        ['u1', 'allow', 'publish', 'devices/${clientid}/#', '0,1', null],
        ['u1', 'allow', 'publish', 'retained/#', null, engine === 'postgres' ? true : 1],
        ['u1', 'allow', 'all', 'eq exact/#', null, null],
      ];
      for (const r of rows) await db.exec(`INSERT INTO mqtt_acl (username, permission, action, topic, qos, retain) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)}, ${m(5)}, ${m(6)})`, r);
    });

    it.each([
      ['subscribe', 'a/+', 0, false, 'deny'],
      ['subscribe', 'a/#', 0, false, 'deny'],
      ['subscribe', 'a/c', 0, false, 'allow'],
      ['subscribe', '$SYS/#', 0, false, 'ignore'], // '#' never reaches $ topics: no match
      ['publish', 'devices/c1/temp', 1, false, 'allow'],
      ['publish', 'devices/c1/temp', 2, false, 'ignore'],
      ['publish', 'devices/c2/temp', 0, false, 'ignore'],
      ['publish', 'retained/x', 0, true, 'allow'],
      ['publish', 'retained/x', 0, false, 'ignore'],
      ['subscribe', 'exact/#', 0, false, 'allow'],
      ['publish', 'exact/#', 0, false, 'deny'],
    ])('u1/c1 %s %s qos %i retain %s → %s', async (action, topic, qos, retain, expected) => {
      const h = make({});
      const answer = await h.acl({ username: 'u1', clientid: 'c1', action, topic, qos: String(qos), retain: String(retain) });
      expect(answer.body).toEqual({ result: expected });
    });

    it('answers AUTHZ_NO_MATCH for a client without rows', async () => {
      expect((await make({ AUTHZ_NO_MATCH: 'deny' }).acl({ username: 'nobody', topic: 't', action: 'publish' })).body).toEqual({ result: 'deny' });
      expect((await make({ AUTHZ_NO_MATCH: 'allow' }).acl({ username: 'nobody', topic: 't', action: 'publish' })).body).toEqual({ result: 'allow' });
    });
  });

  describe('database failures answer AUTHZ_BACKEND_FAILURE, never allow', () => {
    it('authz-5-invalid-query-1: an SQL syntax error (found at run time) denies by default, even with AUTHZ_NO_MATCH=allow', async () => {
      const h = make({ AUTHZ_QUERY: 'SELECT permission, action, topic FRO', AUTHZ_NO_MATCH: 'allow' });
      expect((await h.acl({ username: 'u1', topic: 'a', action: 'publish' })).body).toEqual({ result: 'deny' });
    });

    it('an unreachable database denies by default and ignores when AUTHZ_BACKEND_FAILURE=ignore', async () => {
      const dead = DEAD_URL[engine];
      expect((await make({ DATABASE_URL: dead, AUTHZ_NO_MATCH: 'allow' }).acl({ username: 'u1', topic: 'a', action: 'publish' })).body).toEqual({ result: 'deny' });
      expect((await make({ DATABASE_URL: dead, AUTHZ_BACKEND_FAILURE: 'ignore' }).acl({ username: 'u1', topic: 'a', action: 'publish' })).body).toEqual({ result: 'ignore' });
    });
  });
});
