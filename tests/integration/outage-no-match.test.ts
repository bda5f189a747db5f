import { createAclHandler } from '../../functions/acl.js';
import { createEmqx4AclHandler } from '../../functions/emqx4-acl.js';
import { createMosquittoAclHandler } from '../../functions/mosquitto-acl.js';
import { createRabbitmqAclHandler } from '../../functions/rabbitmq-acl.js';
import { createVernemqHandler } from '../../functions/vernemq.js';
import type { Container } from '../../shared/container.js';
import { freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import { callRaw, containerFor, memoryLogger, type RawAnswer } from '../helpers/harness.js';

/**
 * An outage is never a no-match: with AUTHZ_NO_MATCH=allow, an ACL query that fails (here: the
 * rules table is gone) must not let a single request through, on any broker's ACL route, whatever
 * the failure policy; and no outcome `detail` (row, algorithm, failure) reaches a broker's body.
 */

const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';

function aclRoutes(c: Container) {
  const emqx5 = createAclHandler(c);
  const emqx4 = createEmqx4AclHandler(c);
  const rabbit = createRabbitmqAclHandler(c);
  const mosq = createMosquittoAclHandler(c);
  const verne = createVernemqHandler(c);
  const json = (fields: unknown, headers: Record<string, string> = {}) => ({ contentType: JSON_TYPE, body: JSON.stringify(fields), headers });
  return {
    emqx5: (action: string) => callRaw(emqx5 as never, '/mqtt/acl', json({ username: 'u1', clientid: 'c1', topic: 't/1', action })),
    emqx4: (access: string) => callRaw(emqx4 as never, '/emqx4/acl', { contentType: FORM, body: new URLSearchParams({ username: 'u1', clientid: 'c1', access, topic: 't/1' }).toString() }),
    rabbit: (permission: string, tags = '') =>
      callRaw(rabbit as never, '/rabbitmq/topic', { contentType: FORM, body: new URLSearchParams({ username: 'u1', vhost: '/', resource: 'topic', name: 'amq.topic', permission, routing_key: 't.1', 'variable_map.client_id': 'c1', tags }).toString() }),
    mosquitto: (acc: number) => callRaw(mosq as never, '/mosquitto/acl', json({ username: 'u1', clientid: 'c1', topic: 't/1', acc })),
    vernePublish: () => callRaw(verne as never, '/vernemq', json({ username: 'u1', client_id: 'c1', topic: 't/1', qos: 0, retain: false }, { 'vernemq-hook': 'auth_on_publish' })),
    verneSubscribe: () => callRaw(verne as never, '/vernemq', json({ username: 'u1', client_id: 'c1', topics: [{ topic: 't/1', qos: 0 }, { topic: 't/#', qos: 1 }] }, { 'vernemq-hook': 'auth_on_subscribe' })),
  };
}

/** What each route answers for `ignore` and for `deny`: never its allow. */
const expected = (policy: 'ignore' | 'deny'): Record<string, RawAnswer> => ({
  emqx5: { status: 200, contentType: JSON_TYPE, body: JSON.stringify({ result: policy }) },
  emqx4: policy === 'ignore' ? { status: 200, contentType: 'text/plain', body: 'ignore' } : { status: 403, contentType: 'text/plain', body: 'deny' },
  rabbit: { status: 200, contentType: 'text/plain', body: 'deny' },
  verne: { status: 200, contentType: JSON_TYPE, body: JSON.stringify(policy === 'ignore' ? { result: 'next' } : { result: { error: 'not_allowed' } }) },
});

describe.each<Engine>(['postgres', 'mysql'])('AUTHZ_NO_MATCH=allow over a failing %s', (engine) => {
  let db: TestDatabase;
  const containers: Container[] = [];
  beforeAll(async () => {
    db = await freshDatabase(engine, 'maf_outage');
    await db.execFile(SCHEMA[engine]);
    await db.exec('DROP TABLE mqtt_acl');
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.close()));
    await db.close();
  });

  /** The suite's database without its rules table, or a port nothing listens on. */
  const urlOf = (where: 'no table' | 'no server'): string => {
    if (where === 'no table') return db.url;
    const u = new URL(db.url);
    u.port = '1';
    return u.toString();
  };

  describe.each<['ignore' | 'deny', string, 'no table' | 'no server']>([
    ['ignore', 'sql', 'no table'],
    ['deny', 'sql', 'no table'],
    ['ignore', 'sql:ignore', 'no table'],
    ['ignore', 'builtin,sql', 'no table'],
    ['ignore', 'sql', 'no server'],
    ['deny', 'builtin,sql', 'no server'],
  ])('AUTHZ_BACKEND_FAILURE=%s, SOURCES=%s, %s', (policy, sources, where) => {
    const mem = memoryLogger();
    let routes: ReturnType<typeof aclRoutes>;
    beforeAll(() => {
      const c = containerFor({ DATABASE_URL: urlOf(where), AUTHZ_NO_MATCH: 'allow', AUTHZ_BACKEND_FAILURE: policy, SOURCES: sources, DB_CONNECT_TIMEOUT_MS: '300' }, undefined, mem.log);
      containers.push(c);
      routes = aclRoutes(c);
    });

    it('no route answers allow', async () => {
      const want = expected(policy);
      for (const action of ['publish', 'subscribe']) expect(await routes.emqx5(action)).toEqual(want['emqx5']);
      for (const access of ['1', '2']) expect(await routes.emqx4(access)).toEqual(want['emqx4']);
      for (const [permission, tags] of [['read', ''], ['write', ''], ['write', 'administrator']]) expect(await routes.rabbit(permission!, tags)).toEqual(want['rabbit']);
      for (const acc of [1, 2, 3, 4]) {
        const a = await routes.mosquitto(acc);
        expect([a.status, a.contentType]).toEqual([403, 'text/plain']);
        expect(a.body).toMatch(/^(publish|subscribe) ignore: no source matched and (sql|builtin) failed \((built-in: )?backend failure: |^(publish|subscribe) deny: (built-in: )?backend failure: /);
        expect(a.body).not.toMatch(/"(failure|row|algorithm)"/);
      }
      expect(await routes.vernePublish()).toEqual(want['verne']);
      expect(await routes.verneSubscribe()).toEqual(want['verne']);
    });

    it('every line logged is one JSON record', () => {
      expect(mem.lines().length).toBeGreaterThan(0);
      for (const line of mem.lines()) {
        expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n')).toBe(true);
        expect(() => JSON.parse(line)).not.toThrow();
      }
    });
  });
});
