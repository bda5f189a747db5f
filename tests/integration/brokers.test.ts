import { createMosquittoAclHandler } from '../../functions/mosquitto-acl.js';
import { createMosquittoAuthHandler } from '../../functions/mosquitto-auth.js';
import { createRabbitmqAclHandler } from '../../functions/rabbitmq-acl.js';
import { createRabbitmqAuthHandler } from '../../functions/rabbitmq-auth.js';
import { createVernemqHandler } from '../../functions/vernemq.js';
import type { Container } from '../../shared/container.js';
import type { SqlStore } from '../../shared/db/port.js';
import { hashPassword, parseHashConfig } from '../../shared/hash.js';
import { freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import { callRaw, containerFor, handlersFor, memoryLogger, type RawAnswer, type Sent } from '../helpers/harness.js';
import { fieldCase } from '../helpers/vectors.js';

/** RabbitMQ, mosquitto-go-auth and VerneMQ, asked through the real handlers, over real PostgreSQL and MariaDB. */

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

function brokers(c: Container) {
  const rabbitAuth = createRabbitmqAuthHandler(c);
  const rabbitAcl = createRabbitmqAclHandler(c);
  const mosqAuth = createMosquittoAuthHandler(c);
  const mosqAcl = createMosquittoAclHandler(c);
  const verne = createVernemqHandler(c);
  return {
    /** RabbitMQ sends a form body by POST (`auth_http.http_method = post`) or a query string by GET. */
    rabbit: (path: 'user' | 'vhost' | 'resource' | 'topic', fields: Record<string, string>, method: 'GET' | 'POST' = 'POST') =>
      callRaw((path === 'user' || path === 'vhost' ? rabbitAuth : rabbitAcl) as never, `/rabbitmq/${path}`, method === 'GET' ? { method, query: form(fields) } : { contentType: FORM, body: form(fields) }),
    /** go-auth's default: JSON parameters by POST. */
    mosquitto: (path: 'user' | 'superuser' | 'acl', fields: Record<string, unknown>, sent: Sent = {}) =>
      callRaw((path === 'acl' ? mosqAcl : mosqAuth) as never, `/mosquitto/${path}`, { contentType: JSON_TYPE, body: JSON.stringify(fields), ...sent }),
    verne: (hook: string, fields: Record<string, unknown>) => callRaw(verne as never, '/vernemq', { contentType: JSON_TYPE, body: JSON.stringify(fields), headers: { 'vernemq-hook': hook } }),
  };
}

const text = (body: string): RawAnswer => ({ status: 200, contentType: 'text/plain', body });
const jsonBody = (status: number, body: unknown): RawAnswer => ({ status, contentType: JSON_TYPE, body: JSON.stringify(body) });

describe.each<Engine>(['postgres', 'mysql'])('other brokers against real %s', (engine) => {
  let db: TestDatabase;
  const containers: Container[] = [];
  const make = (env: Record<string, string> = {}, log = memoryLogger().log) => {
    const c = containerFor({ DATABASE_URL: db.url, PASSWORD_HASH: '{"name":"bcrypt"}', ...env }, undefined, log);
    containers.push(c);
    return brokers(c);
  };
  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
  /** Handlers over the real database through a store that records every statement it runs. */
  const counted = async (env: Record<string, string> = {}, log = memoryLogger().log) => {
    const settings = { DATABASE_URL: db.url, PASSWORD_HASH: '{"name":"bcrypt"}', ...env };
    const real = containerFor(settings);
    containers.push(real);
    const store = await real.store();
    const statements: string[] = [];
    const counting: SqlStore = {
      dialect: store.dialect,
      query: (text, params) => {
        statements.push(text);
        return store.query(text, params);
      },
      close: async () => {}, // the real container closes the real store
    };
    const c = containerFor(settings, counting, log);
    containers.push(c);
    return { h: brokers(c), statements };
  };

  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_it_brokers_${engine}`);
    await db.execFile(SCHEMA[engine]);
    const cfg = parseHashConfig({ name: 'bcrypt', salt_rounds: 4 });
    for (const [username, password, superuser] of [
      ['alice', 'alice-pw', false],
      ['root', 'root-pw', true],
    ] as const) {
      const stored = await hashPassword(cfg, password);
      await db.exec(`INSERT INTO mqtt_user (username, password_hash, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)})`, [username, stored.hash, superuser]);
    }
    const rows: Array<[string, string, string, string, string | null]> = [
      ['alice', 'allow', 'all', 'alice/#', null],
      ['alice', 'allow', 'publish', 'outbox/#', null],
      ['alice', 'allow', 'subscribe', 'devices/${clientid}/+', null],
      ['alice', 'allow', 'subscribe', 'slow/#', '0'],
      ['alice', 'deny', 'all', '#', null],
    ];
    for (const r of rows) await db.exec(`INSERT INTO mqtt_acl (username, permission, action, topic, qos) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)}, ${m(5)})`, r);
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.close()));
    await db.close();
  });

  describe('RabbitMQ rabbitmq_auth_backend_http', () => {
    it('user: allow for the right password, by POST form and by GET query', async () => {
      const h = make();
      expect(await h.rabbit('user', { username: 'alice', password: 'alice-pw', vhost: '/', client_id: 'c-alice' })).toEqual(text('allow'));
      expect(await h.rabbit('user', { username: 'alice', password: 'alice-pw', vhost: '/', client_id: 'c-alice' }, 'GET')).toEqual(text('allow'));
    });

    it('user: a superuser is `allow administrator`', async () => {
      expect(await make().rabbit('user', { username: 'root', password: 'root-pw', vhost: '/', client_id: 'c-root' })).toEqual(text('allow administrator'));
    });

    it('user: deny for a wrong password and for an unknown user (RabbitMQ has no ignore)', async () => {
      const h = make();
      expect(await h.rabbit('user', { username: 'alice', password: 'nope', vhost: '/', client_id: 'c-alice' })).toEqual(text('deny'));
      expect(await h.rabbit('user', { username: 'ghost', password: 'alice-pw', vhost: '/', client_id: 'c-ghost' })).toEqual(text('deny'));
    });

    it('user: a backend failure is deny under either authentication failure policy', async () => {
      for (const policy of ['ignore', 'deny']) {
        const h = make({ AUTHN_QUERY: 'SELECT password_hash FROM no_such_table WHERE username = ${username}', AUTHN_BACKEND_FAILURE: policy });
        expect(await h.rabbit('user', { username: 'alice', password: 'alice-pw', vhost: '/', client_id: 'c-alice' })).toEqual(text('deny'));
      }
    });

    it('vhost: allow (asked only after the user check succeeded)', async () => {
      expect(await make().rabbit('vhost', { username: 'alice', vhost: '/', ip: '127.0.0.1', tags: '', client_id: 'c-alice' })).toEqual(text('allow'));
    });

    it("resource: the MQTT exchange and the client's own queues only", async () => {
      const h = make();
      const ask = (resource: string, name: string, permission: string, client_id = 'c-alice') => h.rabbit('resource', { username: 'alice', vhost: '/', resource, name, permission, tags: '', client_id });
      expect(await ask('queue', 'mqtt-subscription-c-aliceqos1', 'configure')).toEqual(text('allow'));
      expect(await ask('queue', 'mqtt-subscription-c-aliceqos0', 'read')).toEqual(text('allow'));
      expect(await ask('queue', 'mqtt-subscription-c-bobqos1', 'read')).toEqual(text('deny'));
      expect(await ask('queue', 'orders', 'write')).toEqual(text('deny'));
      expect(await ask('exchange', 'amq.topic', 'read')).toEqual(text('allow'));
      expect(await ask('exchange', 'amq.topic', 'write')).toEqual(text('allow'));
      expect(await ask('exchange', 'amq.topic', 'configure')).toEqual(text('deny'));
      expect(await ask('exchange', 'amq.direct', 'write')).toEqual(text('deny'));
    });

    it('topic: routing keys mapped back to MQTT topics and judged by the same rules', async () => {
      const h = make();
      const ask = (routing_key: string, permission: 'read' | 'write', tags = '') =>
        h.rabbit('topic', { username: 'alice', vhost: '/', resource: 'topic', name: 'amq.topic', permission, tags, routing_key, 'variable_map.client_id': 'c-alice', 'variable_map.username': 'alice', 'variable_map.vhost': '/' });
      expect(await ask('alice.x', 'write')).toEqual(text('allow'));
      expect(await ask('alice.#', 'read')).toEqual(text('allow'));
      expect(await ask('outbox.x', 'write')).toEqual(text('allow'));
      expect(await ask('outbox.#', 'read')).toEqual(text('deny'));
      expect(await ask('devices.c-alice.*', 'read')).toEqual(text('allow'));
      expect(await ask('devices.c-alice.#', 'read')).toEqual(text('deny'));
      expect(await ask('devices.c-bob.*', 'read')).toEqual(text('deny'));
      expect(await ask('bob.x', 'write')).toEqual(text('deny'));
      // A qos condition cannot be checked (RabbitMQ sends no qos): that allow rule does not apply.
      expect(await ask('slow.x', 'read')).toEqual(text('deny'));
      // The administrator tag of a user our sources do not call a superuser (RabbitMQ's internal
      // `guest` carries it) changes nothing: the rules judge.
      expect(await ask('bob.x', 'write', 'administrator')).toEqual(text('deny'));
      expect(await ask('alice.x', 'write', 'administrator')).toEqual(text('allow'));
      const asRoot = (tags: string) =>
        h.rabbit('topic', { username: 'root', vhost: '/', resource: 'topic', name: 'amq.topic', permission: 'write', tags, routing_key: 'bob.x', 'variable_map.client_id': 'c-root', 'variable_map.username': 'root', 'variable_map.vhost': '/' });
      // The tag our user endpoint gives a superuser, confirmed by the superuser check.
      expect(await asRoot('administrator')).toEqual(text('allow'));
      expect(await asRoot('')).toEqual(text('deny'));
      const nobody = await h.rabbit('topic', { username: 'guest', vhost: '/', resource: 'topic', name: 'amq.topic', permission: 'write', tags: 'administrator', routing_key: 'bob.x', 'variable_map.client_id': 'c-guest', 'variable_map.username': 'guest', 'variable_map.vhost': '/' });
      expect(nobody).toEqual(text('deny'));
    });

    it('topic: an authorization backend failure is deny', async () => {
      const h = make({ AUTHZ_QUERY: 'SELECT permission, action, topic FROM no_such_table WHERE username = ${username}', AUTHZ_BACKEND_FAILURE: 'ignore' });
      expect(await h.rabbit('topic', { username: 'alice', vhost: '/', resource: 'topic', name: 'amq.topic', permission: 'write', tags: '', routing_key: 'alice.x' })).toEqual(text('deny'));
    });

    it('bad input is 200 `deny` with a log line naming the problem', async () => {
      const logger = memoryLogger();
      const h = make({}, logger.log);
      expect(await h.rabbit('user', { password: 'alice-pw', vhost: '/' })).toEqual(text('deny'));
      expect(await h.rabbit('topic', { username: 'alice', permission: 'write', routing_key: 'alice.x', name: 'amq.topic' }, 'GET')).toEqual(text('allow'));
      expect(await h.rabbit('topic', { username: 'alice', permission: 'configure', routing_key: 'alice.x', name: 'amq.topic' })).toEqual(text('deny'));
      expect(await h.rabbit('resource', { username: 'alice', resource: 'topic', name: 'x', permission: 'read' })).toEqual(text('deny'));
      const lines = logger.lines().join('\n');
      expect(lines).toContain('username is required');
      expect(lines).toContain('permission must be read or write');
      expect(lines).toContain('resource must be queue or exchange');
      expect(lines).not.toContain('alice-pw');
    });

    it('field case B44: every answer on every path, through the handlers, is a body RabbitMQ reads as we mean it', async () => {
      const b44 = fieldCase('B44');
      const bodies = b44.input['bodies'] as string[];
      const readings = b44.expected['rabbitmq_user_path_reads_as'] as string[];
      const readingOf = (body: string) => readings[bodies.indexOf(body)];
      const h = make();
      const broken = make({ AUTHN_QUERY: 'SELECT password_hash FROM no_such_table WHERE username = ${username}', AUTHZ_QUERY: 'SELECT permission, action, topic FROM no_such_table WHERE username = ${username}' });
      const user = (who: ReturnType<typeof make>, username: string, password: string) => who.rabbit('user', { username, password, vhost: '/', client_id: `c-${username}` });
      const topic = (who: ReturnType<typeof make>, routing_key: string) =>
        who.rabbit('topic', { username: 'alice', vhost: '/', resource: 'topic', name: 'amq.topic', permission: 'write', tags: '', routing_key, 'variable_map.client_id': 'c-alice' });
      const resource = (name: string) => h.rabbit('resource', { username: 'alice', vhost: '/', resource: 'queue', name, permission: 'read', tags: '', client_id: 'c-alice' });
      const userAnswers = {
        right: await user(h, 'alice', 'alice-pw'),
        superuser: await user(h, 'root', 'root-pw'),
        wrong: await user(h, 'alice', 'nope'),
        unknown: await user(h, 'ghost', 'nope'),
        failure: await user(broken, 'alice', 'alice-pw'),
        unreadable: await h.rabbit('user', { password: 'alice-pw' }),
      };
      const otherAnswers = {
        vhost: await h.rabbit('vhost', { username: 'alice', vhost: '/', ip: '127.0.0.1', tags: '', client_id: 'c-alice' }),
        ownQueue: await resource('mqtt-subscription-c-aliceqos1'),
        otherQueue: await resource('orders'),
        allowedTopic: await topic(h, 'alice.x'),
        deniedTopic: await topic(h, 'bob.x'),
        failedTopic: await topic(broken, 'alice.x'),
        unreadable: await h.rabbit('topic', { username: 'alice', permission: 'configure', routing_key: 'alice.x' }),
      };
      for (const a of [...Object.values(userAnswers), ...Object.values(otherAnswers)]) expect(a).toMatchObject({ status: 200, contentType: 'text/plain' });
      const read = (answers: Record<string, { body: string }>) => Object.fromEntries(Object.entries(answers).map(([k, a]) => [k, readingOf(a.body) ?? a.body]));
      // The user path: allow, deny, and the tagged allow in the shape of B44's "allow management policymaker".
      expect(readingOf('allow management policymaker')).toBe('allow, tags [management, policymaker]');
      expect(read(userAnswers)).toEqual({ right: 'allow', superuser: 'allow administrator', wrong: 'deny', unknown: 'deny', failure: 'deny', unreadable: 'deny' });
      // The other paths take only allow or deny (rabbitmq_resource_topic_path).
      expect(b44.expected['rabbitmq_resource_topic_path']).toMatch(/^only 'allow'\/'deny'/);
      expect(read(otherAnswers)).toEqual({ vhost: 'allow', ownQueue: 'allow', otherQueue: 'deny', allowedTopic: 'allow', deniedTopic: 'deny', failedTopic: 'deny', unreadable: 'deny' });
    });
  });

  describe('mosquitto-go-auth HTTP backend', () => {
    it('status mode (the default): 200 granted, 403 refused', async () => {
      const h = make();
      expect(await h.mosquitto('user', { username: 'alice', password: 'alice-pw', clientid: 'c-alice' })).toMatchObject({ status: 200 });
      expect(await h.mosquitto('user', { username: 'alice', password: 'wrong', clientid: 'c-alice' })).toMatchObject({ status: 403 });
      expect(await h.mosquitto('user', { username: 'ghost', password: 'x', clientid: 'c' })).toMatchObject({ status: 403 });
      expect(await h.mosquitto('superuser', { username: 'root' })).toMatchObject({ status: 200 });
      expect(await h.mosquitto('superuser', { username: 'alice' })).toMatchObject({ status: 403 });
      expect(await h.mosquitto('superuser', { username: 'ghost' })).toMatchObject({ status: 403 });
    });

    it('acl: acc 1 read, 2 write, 3 read-write, 4 subscribe', async () => {
      const h = make();
      const acl = async (topic: string, acc: number) => (await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic, acc })).status;
      expect(await acl('alice/x', 2)).toBe(200);
      expect(await acl('alice/x', 1)).toBe(200);
      expect(await acl('alice/x', 3)).toBe(200);
      expect(await acl('alice/#', 4)).toBe(200);
      expect(await acl('outbox/x', 2)).toBe(200);
      expect(await acl('outbox/x', 1)).toBe(403);
      expect(await acl('outbox/x', 3)).toBe(403);
      expect(await acl('devices/c-alice/+', 4)).toBe(200);
      expect(await acl('devices/c-alice/temp', 1)).toBe(200);
      expect(await acl('devices/c-alice/#', 4)).toBe(403);
      expect(await acl('bob/x', 2)).toBe(403);
    });

    it('json mode: {"Ok":…,"Error":…}, status 200 granted, 403 refused', async () => {
      const h = make({ MOSQUITTO_RESPONSE_MODE: 'json' });
      expect(await h.mosquitto('user', { username: 'alice', password: 'alice-pw', clientid: 'c-alice' })).toEqual(jsonBody(200, { Ok: true, Error: '' }));
      expect(await h.mosquitto('user', { username: 'alice', password: 'wrong', clientid: 'c-alice' })).toEqual(jsonBody(403, { Ok: false, Error: 'deny: wrong password' }));
      expect(await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'bob/x', acc: 2 })).toEqual(jsonBody(403, { Ok: false, Error: 'publish deny: row 4 matched' }));
    });

    it('text mode: 200 `ok`, or 403 with the reason', async () => {
      const h = make({ MOSQUITTO_RESPONSE_MODE: 'text' });
      expect(await h.mosquitto('superuser', { username: 'root' })).toEqual(text('ok'));
      expect(await h.mosquitto('superuser', { username: 'alice' })).toEqual({ status: 403, contentType: 'text/plain', body: 'not a superuser' });
      expect(await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'alice/1', acc: 2 })).toEqual(text('ok'));
    });

    it('whatever auth_opt_http_response_mode go-auth runs in, no refusal of ours reads as granted', async () => {
      /** go-auth's httpRequest (brokers.md §3.3): non-2xx refuses; then status grants, text needs `ok`, json needs Ok true. */
      const goAuthGrants = (mode: string, a: RawAnswer): boolean => {
        if (a.status < 200 || a.status >= 300) return false;
        if (mode === 'text') return a.body === 'ok';
        if (mode !== 'json') return true;
        try {
          return (JSON.parse(a.body) as { Ok?: unknown }).Ok === true;
        } catch {
          return false;
        }
      };
      const modes = ['status', 'json', 'text'];
      for (const ours of modes) {
        const h = make({ MOSQUITTO_RESPONSE_MODE: ours });
        const refused = [
          await h.mosquitto('user', { username: 'alice', password: 'wrong', clientid: 'c-alice' }),
          await h.mosquitto('user', { username: 'ghost', password: 'x', clientid: 'c-ghost' }),
          await h.mosquitto('superuser', { username: 'alice' }),
          await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'bob/x', acc: 2 }),
          await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'alice/x', acc: 9 }),
        ];
        const granted = await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'alice/x', acc: 2 });
        for (const theirs of modes) {
          expect([ours, theirs, refused.map((a) => goAuthGrants(theirs, a))]).toEqual([ours, theirs, refused.map(() => false)]);
          // A grant needs the mode's body: status takes any; text and status write the same `ok`.
          expect([ours, theirs, goAuthGrants(theirs, granted)]).toEqual([ours, theirs, theirs === 'status' || (theirs === 'json') === (ours === 'json')]);
        }
      }
    });

    it('form parameters (auth_opt_http_params_mode form)', async () => {
      const h = make();
      expect((await h.mosquitto('user', {}, { contentType: FORM, body: form({ username: 'alice', password: 'alice-pw', clientid: 'c-alice' }) })).status).toBe(200);
      expect((await h.mosquitto('acl', {}, { contentType: FORM, body: form({ username: 'alice', clientid: 'c-alice', topic: 'alice/x', acc: '2' }) })).status).toBe(200);
    });

    it('a JSON body sent with GET or PUT (auth_opt_http_method) is read like a POST', async () => {
      const h = make();
      expect((await h.mosquitto('user', { username: 'alice', password: 'alice-pw', clientid: 'c-alice' }, { method: 'GET' })).status).toBe(200);
      expect((await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'bob/x', acc: 2 }, { method: 'PUT' })).status).toBe(403);
      expect((await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'alice/x', acc: 2 }, { method: 'PUT' })).status).toBe(200);
    });

    it('field case B24: a rule whose placeholder has no value does not match; no filler text', async () => {
      const b24 = fieldCase('B24');
      const row = b24.input['rows'][0] as { username: string; rw: number; topic: string };
      // The %c form of the row needs the legacy renderer (EMQX 4 mode); its ${clientid} form is the same rule.
      await db.exec(`INSERT INTO mqtt_acl (username, permission, action, topic) VALUES (${m(1)}, 'allow', 'publish', ${m(2)})`, [row.username, row.topic.replace('%c', '${clientid}')]);
      const h = make({ AUTHZ_NO_MATCH: b24.input['no_match'] as string });
      const requests = b24.input['requests'] as Array<{ username: string; clientid: string | null; topic: string }>;
      const got = [];
      for (const r of requests) got.push((await h.mosquitto('acl', { username: r.username, clientid: r.clientid, topic: r.topic, acc: row.rw })).status === 200 ? 'allow' : 'deny');
      expect(got).toEqual(b24.expected['decisions']);
    });

    it('acc 3 (read-write) reads the rules once for both checks, answering as before', async () => {
      const { h, statements } = await counted({ MOSQUITTO_RESPONSE_MODE: 'json' });
      expect(await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'alice/x', acc: 3 })).toEqual(jsonBody(200, { Ok: true, Error: '' }));
      expect(statements).toHaveLength(1);
      expect(await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'outbox/x', acc: 3 })).toEqual(jsonBody(403, { Ok: false, Error: 'subscribe deny: row 4 matched' }));
      expect(await h.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'devices/c-alice/t', acc: 3 })).toEqual(jsonBody(403, { Ok: false, Error: 'publish deny: row 4 matched' }));
      expect(statements).toHaveLength(3);
    });

    it('bad input: 400 with the problem, logged; a backend failure: refused', async () => {
      const logger = memoryLogger();
      const h = make({ MOSQUITTO_RESPONSE_MODE: 'json' }, logger.log);
      expect(await h.mosquitto('acl', { username: 'alice', topic: 'alice/x', acc: 5 })).toEqual(jsonBody(400, { Ok: false, Error: 'acc must be 1 (read), 2 (write), 3 (read-write) or 4 (subscribe)' }));
      expect(await h.mosquitto('user', { password: 'alice-pw' })).toEqual(jsonBody(400, { Ok: false, Error: 'username is required' }));
      expect(logger.lines().join('\n')).toContain('acc must be 1');
      expect(logger.lines().join('\n')).not.toContain('alice-pw');
      const broken = make({ AUTHZ_QUERY: 'SELECT permission FROM no_such_table WHERE username = ${username}', AUTHZ_BACKEND_FAILURE: 'ignore' });
      expect((await broken.mosquitto('acl', { username: 'alice', clientid: 'c-alice', topic: 'alice/x', acc: 2 })).status).toBe(403);
    });
  });

  describe('connect-time ACL on /mqtt/auth (EMQX 5.8+, CONNECT_ACL=on)', () => {
    const emqx = (env: Record<string, string> = {}) => {
      const c = containerFor({ DATABASE_URL: db.url, PASSWORD_HASH: '{"name":"bcrypt"}', CONNECT_ACL: 'on', ...env });
      containers.push(c);
      return handlersFor(c);
    };

    it("an allow carries the client's rendered rules and expire_at (Unix seconds, now + CONNECT_ACL_TTL)", async () => {
      const before = Math.floor(Date.now() / 1000);
      const answer = await emqx({ CONNECT_ACL_TTL: '600' }).auth({ username: 'alice', password: 'alice-pw', clientid: 'c-alice' });
      const after = Math.floor(Date.now() / 1000);
      expect(answer.status).toBe(200);
      const { expire_at, ...rest } = answer.body;
      expect(rest).toEqual({
        result: 'allow',
        is_superuser: false,
        acl: [
          { permission: 'allow', action: 'all', topic: 'alice/#' },
          { permission: 'allow', action: 'publish', topic: 'outbox/#' },
          { permission: 'allow', action: 'subscribe', topic: 'devices/c-alice/+' },
          { permission: 'allow', action: 'subscribe', topic: 'slow/#', qos: [0] },
          { permission: 'deny', action: 'all', topic: '#' },
        ],
      });
      expect(expire_at).toBeGreaterThanOrEqual(before + 600);
      expect(expire_at).toBeLessThanOrEqual(after + 600);
    });

    it('a client id that would widen a rule loses that rule, not the others', async () => {
      const answer = await emqx().auth({ username: 'alice', password: 'alice-pw', clientid: '#' });
      expect((answer.body['acl'] as Array<{ topic: string }>).map((r) => r.topic)).toEqual(['alice/#', 'outbox/#', 'slow/#', '#']);
    });

    it('a superuser, a wrong password and an unknown user get no rules', async () => {
      const h = emqx();
      expect((await h.auth({ username: 'root', password: 'root-pw', clientid: 'c-root' })).body).toEqual({ result: 'allow', is_superuser: true });
      expect((await h.auth({ username: 'alice', password: 'nope', clientid: 'c-alice' })).body).toEqual({ result: 'deny' });
      expect((await h.auth({ username: 'ghost', password: 'nope', clientid: 'c-ghost' })).body).toEqual({ result: 'ignore' });
    });

    it('an ACL query failure never allows with partial rules: by default the login answers AUTHN_BACKEND_FAILURE', async () => {
      const broken = { AUTHZ_QUERY: 'SELECT permission, action, topic FROM no_such_table WHERE username = ${username}' };
      expect((await emqx(broken).auth({ username: 'alice', password: 'alice-pw' })).body).toEqual({ result: 'ignore' });
      expect((await emqx({ ...broken, AUTHN_BACKEND_FAILURE: 'deny' }).auth({ username: 'alice', password: 'alice-pw' })).body).toEqual({ result: 'deny' });
      // AUTHZ_BACKEND_FAILURE=ignore: let in without rules; every check then goes to /mqtt/acl.
      expect((await emqx({ ...broken, AUTHZ_BACKEND_FAILURE: 'ignore' }).auth({ username: 'alice', password: 'alice-pw' })).body).toEqual({ result: 'allow', is_superuser: false });
    });
  });

  describe('VerneMQ webhooks', () => {
    const client = { client_id: 'c-alice', mountpoint: '', username: 'alice' };

    it('auth_on_register and _m5: ok, error, next', async () => {
      const h = make();
      const reg = { peer_addr: '127.0.0.1', peer_port: 51000, mountpoint: '', client_id: 'c-alice', clean_session: true };
      expect(await h.verne('auth_on_register', { ...reg, username: 'alice', password: 'alice-pw' })).toEqual(jsonBody(200, { result: 'ok' }));
      expect(await h.verne('auth_on_register_m5', { ...reg, username: 'alice', password: 'alice-pw', properties: {} })).toEqual(jsonBody(200, { result: 'ok' }));
      expect(await h.verne('auth_on_register', { ...reg, username: 'alice', password: 'wrong' })).toEqual(jsonBody(200, { result: { error: 'not_allowed' } }));
      expect(await h.verne('auth_on_register', { ...reg, username: 'ghost', password: 'x' })).toEqual(jsonBody(200, { result: 'next' }));
    });

    it('auth_on_publish and _m5: ok or error, qos and retain passed on', async () => {
      const h = make();
      const pub = { ...client, qos: 1, payload: Buffer.from('secret payload').toString('base64'), retain: false };
      expect(await h.verne('auth_on_publish', { ...pub, topic: 'alice/x' })).toEqual(jsonBody(200, { result: 'ok' }));
      expect(await h.verne('auth_on_publish_m5', { ...pub, topic: 'bob/x', properties: {} })).toEqual(jsonBody(200, { result: { error: 'not_allowed' } }));
      expect(await h.verne('auth_on_publish', { ...pub, username: 'ghost', topic: 'alice/x' })).toEqual(jsonBody(200, { result: 'next' }));
    });

    it('auth_on_subscribe: per-topic rejection with QoS 128 (v3) or 135 (v5)', async () => {
      const h = make();
      const topics = [
        { topic: 'alice/#', qos: 1 },
        { topic: 'bob/#', qos: 0 },
        { topic: 'devices/c-alice/+', qos: 2 },
      ];
      expect(await h.verne('auth_on_subscribe', { ...client, topics: [topics[0], topics[2]] })).toEqual(jsonBody(200, { result: 'ok' }));
      expect(await h.verne('auth_on_subscribe', { ...client, topics })).toEqual(
        jsonBody(200, {
          result: 'ok',
          topics: [
            { topic: 'alice/#', qos: 1 },
            { topic: 'bob/#', qos: 128 },
            { topic: 'devices/c-alice/+', qos: 2 },
          ],
        }),
      );
      expect(await h.verne('auth_on_subscribe_m5', { ...client, topics, properties: {} })).toEqual(
        jsonBody(200, {
          result: 'ok',
          modifiers: {
            topics: [
              { topic: 'alice/#', qos: 1 },
              { topic: 'bob/#', qos: 135 },
              { topic: 'devices/c-alice/+', qos: 2 },
            ],
          },
        }),
      );
      // The qos condition is checked against the requested QoS.
      expect(await h.verne('auth_on_subscribe', { ...client, topics: [{ topic: 'slow/x', qos: 0 }] })).toEqual(jsonBody(200, { result: 'ok' }));
      expect(await h.verne('auth_on_subscribe', { ...client, topics: [{ topic: 'slow/x', qos: 1 }, { topic: 'bob/#', qos: 0 }] })).toEqual(jsonBody(200, { result: { error: 'not_allowed' } }));
      expect(await h.verne('auth_on_subscribe', { ...client, username: 'ghost', topics })).toEqual(jsonBody(200, { result: 'next' }));
    });

    /** 50 filters, 10 of each kind: allowed by `alice/#`, denied by `#`, allowed for this client id, under and over `slow/#`'s QoS 0. */
    const fifty = Array.from({ length: 50 }, (_, i) => {
      const kind = i % 5;
      const topic = [`alice/${i}`, `bob/${i}`, 'devices/c-alice/+', `slow/${i}`, `outbox/${i}`][kind]!;
      const qos = kind === 3 ? (i % 2 === 0 ? 0 : 1) : 1;
      return { topic, qos };
    });

    it('auth_on_subscribe of 50 filters: one ACL query, the same verdict per filter as 50 subscribes of one', async () => {
      const { h, statements } = await counted();
      const alone: number[] = [];
      for (const t of fifty) {
        const answer = await h.verne('auth_on_subscribe', { ...client, topics: [t] });
        expect([jsonBody(200, { result: 'ok' }), jsonBody(200, { result: { error: 'not_allowed' } })]).toContainEqual(answer);
        alone.push(answer.body === JSON.stringify({ result: 'ok' }) ? t.qos : 128);
      }
      expect(statements).toHaveLength(50);
      // Kinds 0 and 2 allowed; 1 and 4 denied by the last row; slow/ allowed only at QoS 0 (i = 3, 13, 23… alternate).
      const expected = fifty.map((t, i) => ({ topic: t.topic, qos: i % 5 === 0 || i % 5 === 2 || (i % 5 === 3 && i % 2 === 0) ? t.qos : 128 }));
      expect(alone).toEqual(expected.map((t) => t.qos));
      expect(await h.verne('auth_on_subscribe', { ...client, topics: fifty })).toEqual(jsonBody(200, { result: 'ok', topics: expected }));
      expect(statements).toHaveLength(51);
      expect(await h.verne('auth_on_subscribe_m5', { ...client, topics: fifty, properties: {} })).toEqual(
        jsonBody(200, { result: 'ok', modifiers: { topics: expected.map((t) => ({ topic: t.topic, qos: t.qos === 128 ? 135 : t.qos })) } }),
      );
      expect(statements).toHaveLength(52);
      expect(new Set(statements).size).toBe(1);
    });

    it('auth_on_subscribe over VERNEMQ_MAX_FILTERS (default 100): the whole subscribe refused, logged, no query', async () => {
      const logger = memoryLogger();
      const { h, statements } = await counted({}, logger.log);
      const filters = (n: number) => Array.from({ length: n }, (_, i) => ({ topic: `alice/${i}`, qos: 0 }));
      expect(await h.verne('auth_on_subscribe', { ...client, topics: filters(101) })).toEqual(jsonBody(200, { result: { error: 'too_many_filters' } }));
      expect(await h.verne('auth_on_subscribe_m5', { ...client, topics: filters(1000), properties: {} })).toEqual(jsonBody(200, { result: { error: 'too_many_filters' } }));
      expect(statements).toHaveLength(0);
      const refusals = logger.lines().filter((l) => l.includes('too many topic filters')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(refusals.map((l) => [l['level'], l['clientid'], l['filters'], l['max']])).toEqual([
        [40, 'c-alice', 101, 100],
        [40, 'c-alice', 1000, 100],
      ]);
      expect(await h.verne('auth_on_subscribe', { ...client, topics: filters(100) })).toEqual(jsonBody(200, { result: 'ok' }));
      expect(statements).toHaveLength(1);
      const small = await counted({ VERNEMQ_MAX_FILTERS: '2' });
      expect(await small.h.verne('auth_on_subscribe', { ...client, topics: filters(3) })).toEqual(jsonBody(200, { result: { error: 'too_many_filters' } }));
      expect(await small.h.verne('auth_on_subscribe', { ...client, topics: filters(2) })).toEqual(jsonBody(200, { result: 'ok' }));
      expect(small.statements).toHaveLength(1);
    });

    it('bad input and an unknown hook: an error result, logged, never ok or next; the payload is never logged', async () => {
      const logger = memoryLogger();
      const h = make({}, logger.log);
      expect(await h.verne('on_publish', { ...client, topic: 'alice/x' })).toEqual(
        jsonBody(200, { result: { error: 'vernemq-hook header "on_publish" is not auth_on_register, auth_on_subscribe or auth_on_publish (or their _m5 forms)' } }),
      );
      expect(await h.verne('auth_on_subscribe', { ...client, topics: [{ topic: 'a', qos: 3 }] })).toEqual(jsonBody(200, { result: { error: 'qos must be 0, 1 or 2' } }));
      expect(await h.verne('auth_on_publish', { ...client, payload: 'c2VjcmV0' })).toEqual(jsonBody(200, { result: { error: 'topic is required' } }));
      const lines = logger.lines().join('\n');
      expect(lines).toContain('topic is required');
      expect(lines).not.toContain('c2VjcmV0');
    });
  });
});
