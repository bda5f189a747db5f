import { createHash } from 'node:crypto';
import { createAclHandler } from '../../functions/acl.js';
import { createAuthHandler } from '../../functions/auth.js';
import { createEmqx4AclHandler } from '../../functions/emqx4-acl.js';
import { createEmqx4AuthHandler } from '../../functions/emqx4-auth.js';
import type { Container } from '../../shared/container.js';
import type { SqlStore } from '../../shared/db/port.js';
import { readEvent } from '../../shared/http/event.js';
import type { EmqxAclRule } from '../../shared/connectacl.js';
import { parseEmqx4Acl } from '../../shared/http/emqx4.js';
import { freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';
import { apiEvent, callRaw, containerFor, memoryLogger, type RawAnswer, type Sent } from '../helpers/harness.js';
import { fieldCase, vectors, type Vector } from '../helpers/vectors.js';

/**
 * EMQX 4.x / Cloud v4 legacy mode through the real handlers, over real PostgreSQL and MariaDB with
 * the Cloud v4 tables (infra/schema/emqx4-*.sql).
 */

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const EMQX4_SCHEMA: Record<Engine, URL> = {
  postgres: new URL('../../infra/schema/emqx4-postgresql.sql', import.meta.url),
  mysql: new URL('../../infra/schema/emqx4-mysql.sql', import.meta.url),
};

/** The 4.4 defaults (emqx.md §14), spelled with the 4.x placeholders. */
const AUTH_QUERY_4 = "select password from mqtt_user where username = '%u' limit 1";
const SUPER_QUERY_4 = "select is_superuser from mqtt_user where username = '%u' limit 1";
const ACL_QUERY_4 = "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'";
const ALL_ROWS = 'select allow, ipaddr, username, clientid, access, topic from mqtt_acl order by id';
const SHA256 = '{"name":"sha256","salt_position":"disable"}';
const PLAIN = '{"name":"plain","salt_position":"disable"}';

type Verdict = 'allow' | 'deny' | 'ignore';

/**
 * How EMQX 4's emqx_auth_http reads an answer (emqx.md §12). Checked against the 4.x
 * http_response vectors and field case B40 below, then used to judge our own answers.
 */
function emqx4Reads(api: 'authn' | 'authz', status: number, body: string): { result: string; reason?: string } {
  if (api === 'authz') return status === 200 ? { result: body === 'ignore' ? 'ignore' : 'allow' } : { result: 'deny' };
  if (status === 200) return { result: body === 'ignore' ? 'ignore' : 'ok' };
  const reasons: Record<number, string> = { 400: 'bad_username_or_password', 401: 'bad_username_or_password', 403: 'not_authorized', 429: 'banned', 503: 'server_unavailable', 504: 'server_busy' };
  return { result: 'error', reason: reasons[status] ?? 'server_unavailable' };
}

/** The verdict EMQX 4 takes from one of our answers. */
function verdictOf(api: 'authn' | 'authz', a: RawAnswer): Verdict {
  const read = emqx4Reads(api, a.status, a.body).result;
  return read === 'ok' ? 'allow' : read === 'error' ? 'deny' : (read as Verdict);
}

const vectorsOf4 = (kind: string): Vector[] => vectors.filter((v) => v.kind === kind && v.emqx === '4.x');

/**
 * How EMQX 5.8.2+ reads an `acl` list from the authentication answer for one request without qos or
 * retain (emqx.md §3.3, emqx_authz_rule): first match wins; a requested filter is matched as if it
 * were a topic name; a filter starting with a wildcard never matches a `$` topic; no match goes on
 * to the authorization sources.
 */
function emqx5AclReads(acl: readonly EmqxAclRule[], req: { action: 'publish' | 'subscribe'; topic: string }): 'allow' | 'deny' | 'nomatch' {
  const matchesName = (name: string, filter: string): boolean => {
    if (name.startsWith('$') && /^[+#]/.test(filter)) return false;
    const n = name.split('/');
    const f = filter.split('/');
    for (const [i, level] of f.entries()) {
      if (level === '#') return true;
      if (i >= n.length || (level !== '+' && level !== n[i])) return false;
    }
    return n.length === f.length;
  };
  for (const rule of acl) {
    if (rule.action !== 'all' && rule.action !== req.action) continue;
    if (rule.topic.startsWith('eq ') ? rule.topic.slice(3) === req.topic : matchesName(req.topic, rule.topic)) return rule.permission;
  }
  return 'nomatch';
}

describe('the EMQX 4 reading of an answer (test oracle)', () => {
  it.each(vectorsOf4('http_response').map((v) => [v.id, v] as const))('%s', (_id, v) => {
    expect(emqx4Reads(v['api'] as 'authn' | 'authz', v['status'] as number, v['body'] as string)).toEqual(v['expect']);
  });

  it('B40: the five responses read as field case B40 says EMQX 4 reads them', () => {
    const c = fieldCase('B40');
    const responses = c.input['responses_under_test'] as Array<{ status: number; body: unknown }>;
    const read = responses.map((r) => verdictOf('authn', { status: r.status, contentType: undefined, body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body) }));
    expect(read).toEqual(c.expected['emqx4_interpretation']);
  });
});

interface LegacyRow {
  id?: number;
  allow?: number;
  ipaddr?: string | null;
  username?: string | null;
  clientid?: string | null;
  access: number;
  topic: string;
}

describe.each<Engine>(['postgres', 'mysql'])('EMQX 4 legacy mode against real %s', (engine) => {
  let db: TestDatabase;
  const containers: Container[] = [];
  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');

  function make(env: Record<string, string> = {}, log = memoryLogger().log) {
    const c = containerFor({ DATABASE_URL: db.url, PASSWORD_HASH: SHA256, AUTHN_QUERY: AUTH_QUERY_4, AUTHZ_QUERY: ACL_QUERY_4, ...env }, undefined, log);
    containers.push(c);
    const auth = createEmqx4AuthHandler(c);
    const acl = createEmqx4AclHandler(c);
    const send = (handler: unknown, path: string, fields: Record<string, string>, how: 'form' | 'json' | 'get') =>
      callRaw(handler as never, path, how === 'get' ? { method: 'GET', query: form(fields) } : how === 'json' ? { contentType: JSON_TYPE, body: JSON.stringify(fields) } : { contentType: FORM, body: form(fields) });
    return {
      auth: (fields: Record<string, string>, how: 'form' | 'json' | 'get' = 'form') => send(auth, '/emqx4/auth', fields, how),
      superuser: (fields: Record<string, string>, how: 'form' | 'json' | 'get' = 'form') => send(auth, '/emqx4/superuser', fields, how),
      acl: (fields: Record<string, string>, how: 'form' | 'json' | 'get' = 'form') => send(acl, '/emqx4/acl', fields, how),
      raw: (path: '/emqx4/auth' | '/emqx4/superuser' | '/emqx4/acl', sent: Sent) => callRaw((path === '/emqx4/acl' ? acl : auth) as never, path, sent),
      /** The EMQX 5 routes of the same container, for the "row shape decides on every route" checks. */
      mqttAcl: async (fields: Record<string, string>) => JSON.parse((await callRaw(createAclHandler(c) as never, '/mqtt/acl', { contentType: JSON_TYPE, body: JSON.stringify(fields) })).body) as unknown,
      mqttAclRaw: (sent: Sent) => callRaw(createAclHandler(c) as never, '/mqtt/acl', sent),
      mqttAuth: async (fields: Record<string, string>) => JSON.parse((await callRaw(createAuthHandler(c) as never, '/mqtt/auth', { contentType: JSON_TYPE, body: JSON.stringify(fields) })).body) as unknown,
    };
  }

  const text = (status: number, body: string): RawAnswer => ({ status, contentType: 'text/plain', body });
  const OK = text(200, 'ok');
  const IGNORE = text(200, 'ignore');
  const DENY_AUTH = text(401, 'deny');
  const DENY = text(403, 'deny');
  const answerFor: Record<string, RawAnswer> = { allow: OK, deny: DENY, nomatch: IGNORE, ignore: IGNORE };

  async function setRows(rows: readonly LegacyRow[]): Promise<void> {
    await db.exec(engine === 'postgres' ? 'TRUNCATE mqtt_acl RESTART IDENTITY' : 'TRUNCATE mqtt_acl');
    for (const r of rows) {
      const values = [r.allow ?? 1, r.ipaddr ?? null, r.username ?? null, r.clientid ?? null, r.access, r.topic];
      if (r.id === undefined) await db.exec(`INSERT INTO mqtt_acl (allow, ipaddr, username, clientid, access, topic) VALUES (${[1, 2, 3, 4, 5, 6].map(m).join(', ')})`, values);
      else await db.exec(`INSERT INTO mqtt_acl (id, allow, ipaddr, username, clientid, access, topic) VALUES (${[1, 2, 3, 4, 5, 6, 7].map(m).join(', ')})`, [r.id, ...values]);
    }
  }

  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_it_emqx4_${engine}`);
    await db.execFile(EMQX4_SCHEMA[engine]);
    const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
    const users: Array<[string, string, boolean]> = [
      // The Cloud v4 sample user (emqx.md §14): sha256 of "public", NULL salt.
      ['emqx', 'efa1f375d76194fa51a3556a97e641e61685f914d446979da50a551a4333ffd7', false],
      ['root', sha256('root-pw'), true],
      // Stored as plain text, for the plain-hash placeholder vectors.
      ['plain', 'plain', false],
      ['testuser1', 'pass1', false],
    ];
    for (const [username, password, superuser] of users) {
      await db.exec(`INSERT INTO mqtt_user (username, password, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)})`, [username, password, engine === 'postgres' ? superuser : superuser ? 1 : 0]);
    }
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.close()));
    await db.close();
  });

  describe('the 4.x http_response vectors, met by our own answers', () => {
    /** For each vector, the request whose answer from us must have the vector's status and reading. */
    const scenarios: Record<string, () => Promise<RawAnswer>> = {
      'http-4-authn-200': () => make().auth({ username: 'emqx', password: 'public' }),
      'http-4-authn-ignore': () => make().auth({ username: 'ghost', password: 'public' }),
      'http-4-authn-401': () => make().auth({ username: 'emqx', password: 'wrong' }),
      'http-4-authn-test-deny': () => make().auth({ password: 'public' }),
      'http-4-acl-200': async () => {
        await setRows([{ allow: 1, username: '$all', access: 1, topic: 't/#' }]);
        return make().acl({ access: '1', username: 'u1', topic: 't/1' });
      },
      'http-4-acl-400': () => make().acl({ access: '9', username: 'u1', topic: 't/1' }),
      'http-4-acl-ignore': async () => {
        await setRows([]);
        return make().acl({ access: '1', username: 'u1', topic: 't/1' });
      },
    };

    it('has a scenario for every 4.x http_response vector', () => {
      expect(Object.keys(scenarios).sort()).toEqual(vectorsOf4('http_response').map((v) => v.id).sort());
    });

    it.each(vectorsOf4('http_response').map((v) => [v.id, v] as const))('%s', async (id, v) => {
      const ours = await scenarios[id]!();
      expect(ours.status).toBe(v['status']);
      if (v['body'] === 'ignore') expect(ours.body).toBe('ignore');
      expect(emqx4Reads(v['api'] as 'authn' | 'authz', ours.status, ours.body)).toEqual(v['expect']);
    });
  });

  describe('the 4.x hash vectors through /emqx4/auth, with their 4.x PASSWORD_HASH strings', () => {
    const hashVectors = vectorsOf4('hash') as unknown as Array<{ id: string; password_hash_config: string; password: string; salt: string | null; stored_hash: string; expect: string }>;
    // EMQX 4's auth_query with the salt column (pbkdf2 and salt,bcrypt need it; the others ignore it).
    const SALTED_QUERY = "select password, salt from mqtt_user where username = '%u' limit 1";

    beforeAll(async () => {
      for (const v of hashVectors) await db.exec(`INSERT INTO mqtt_user (username, password, salt) VALUES (${m(1)}, ${m(2)}, ${m(3)})`, [v.id, v.stored_hash, v.salt]);
    });

    it('covers every 4.x hash vector, each expected to match', () => {
      expect(hashVectors.map((v) => v.id)).toEqual(vectors.filter((v) => v.kind === 'hash' && v.emqx === '4.x').map((v) => v.id));
      expect(new Set(hashVectors.map((v) => v.expect))).toEqual(new Set(['match']));
    });

    for (const v of hashVectors) {
      // hash-4-bcrypt-2y is bcrypt cost 16: seconds per check, so only the right password is tried.
      const slow = v.stored_hash.startsWith('$2y$16$');
      it(
        `${v.id}: PASSWORD_HASH=${v.password_hash_config}: 200 ok for the right password${slow ? '' : ', 401 for a wrong one'}`,
        async () => {
          const h = make({ PASSWORD_HASH: v.password_hash_config, AUTHN_QUERY: SALTED_QUERY });
          expect(await h.auth({ clientid: 'c1', username: v.id, password: v.password })).toEqual(OK);
          if (!slow) expect(await h.auth({ clientid: 'c1', username: v.id, password: `${v.password}x` })).toEqual(DENY_AUTH);
        },
        slow ? 180_000 : 30_000,
      );
    }
  });

  describe('the 4.x placeholder vectors at the HTTP level', () => {
    it("ph-4-sql-pg: the default acl_query binds '%a' '%u' '%c' in order and leaves the literal '$all' as text", async () => {
      const v = vectorsOf4('placeholder').find((x) => x.id === 'ph-4-sql-pg')!;
      const expected = v['expect'] as { statement: string; params: string[] };
      const client = v['client'] as { peerhost: string; username: string; clientid: string };
      const base = containerFor({ DATABASE_URL: db.url });
      containers.push(base);
      const real = await base.store();
      // The real driver, recording what it is asked: the statement and its bound values.
      const seen: Array<{ text: string; params: readonly string[] }> = [];
      const recording: SqlStore = { dialect: real.dialect, query: (text, params) => (seen.push({ text, params }), real.query(text, params)), close: async () => {} };
      const c = containerFor({ DATABASE_URL: db.url, AUTHZ_QUERY: v['template'] as string, AUTHZ_NO_MATCH: 'deny' }, recording);
      await setRows([
        { allow: 1, username: '$all', access: 1, topic: 'all/#' },
        { allow: 1, ipaddr: client.peerhost, access: 1, topic: 'ip/#' },
        { allow: 1, username: client.username, access: 1, topic: 'user/#' },
        { allow: 1, clientid: client.clientid, access: 1, topic: 'client/#' },
        { allow: 1, username: 'someone-else', access: 1, topic: 'other/#' },
      ]);
      const acl = createEmqx4AclHandler(c);
      const ask = (topic: string) => callRaw(acl as never, '/emqx4/acl', { contentType: FORM, body: form({ access: '1', username: client.username, clientid: client.clientid, ipaddr: client.peerhost, topic }) });
      const got = [];
      for (const topic of ['all/x', 'ip/x', 'user/x', 'client/x', 'other/x']) got.push(verdictOf('authz', await ask(topic)));
      expect(got).toEqual(['allow', 'allow', 'allow', 'allow', 'deny']);
      // PostgreSQL numbers its markers; MySQL's are all `?`.
      const statement = engine === 'postgres' ? expected.statement : expected.statement.replace(/\$[0-9]+/g, '?');
      expect(seen[0]).toEqual({ text: statement, params: expected.params });
    });

    it('ph-4-topic: a whole-level %c row admits its own client id; with no client id it never matches', async () => {
      const v = vectorsOf4('placeholder').find((x) => x.id === 'ph-4-topic')!;
      const client = v['client'] as { clientid: string };
      const rendered = (v['expect'] as { rendered: string }).rendered;
      await setRows([{ allow: 1, username: '$all', access: 1, topic: v['template'] as string }]);
      const h = make({ AUTHZ_QUERY: ALL_ROWS });
      expect(await h.acl({ access: '1', username: 'u1', clientid: client.clientid, topic: rendered })).toEqual(OK);
      expect(await h.acl({ access: '1', username: 'u1', clientid: `${client.clientid}x`, topic: rendered })).toEqual(IGNORE);
      expect(await h.acl({ access: '1', username: 'u1', topic: rendered })).toEqual(IGNORE);
      expect(await h.acl({ access: '1', username: 'u1', clientid: 'undefined', topic: rendered })).toEqual(IGNORE);
      expect(await h.mqttAcl({ username: 'u1', clientid: client.clientid, topic: rendered, action: 'subscribe' })).toEqual({ result: 'allow' });
    });
  });

  describe('connect-time ACL (/mqtt/auth, CONNECT_ACL=on) from the 4.x rows', () => {
    const authz4 = vectorsOf4('authz');
    const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

    beforeAll(async () => {
      // Every vector client may log in with the password "public" (the sample user emqx already can).
      const names = [...new Set(authz4.map((v) => (v['client'] as { username: string }).username))];
      for (const name of names) {
        const insert = engine === 'postgres' ? 'INSERT INTO mqtt_user (username, password) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING' : 'INSERT IGNORE INTO mqtt_user (username, password) VALUES (?, ?)';
        await db.exec(insert, [name, sha256('public')]);
      }
    });

    it.each(authz4.map((v) => [v.id, v] as const))('%s: the acl sent at login decides the request as /emqx4/acl does', async (_id, v) => {
      await setRows(v['table'] as LegacyRow[]);
      const client = v['client'] as { peerhost: string; username: string; clientid: string };
      const request = v['request'] as { action: 'publish' | 'subscribe'; topic: string };
      const answer = (await make({ AUTHZ_QUERY: v['query'] as string, CONNECT_ACL: 'on' }).mqttAuth({ ...client, password: 'public' })) as { result: string; acl: EmqxAclRule[] };
      expect(answer.result).toBe('allow');
      // No match in the list sends the request on to the sources: /mqtt/acl, where no_match decides.
      expect(emqx5AclReads(answer.acl, request)).toBe(v['expect']);
    });

    it('the Cloud v4 sample rows for a client at 10.59.1.100 and one elsewhere', async () => {
      const v = authz4.find((x) => x.id === 'authz-4-cloud-sys-admin')!;
      await setRows(v['table'] as LegacyRow[]);
      const h = make({ AUTHZ_QUERY: v['query'] as string, CONNECT_ACL: 'on', CONNECT_ACL_TTL: '600' });
      const admin = (await h.mqttAuth({ username: 'emqx', password: 'public', clientid: 'dev1', peerhost: '10.59.1.100' })) as Record<string, unknown>;
      expect(admin['acl']).toEqual([
        { permission: 'allow', action: 'subscribe', topic: '/smarthome/dev1/temperature' },
        { permission: 'deny', action: 'subscribe', topic: '/smarthome/+/temperature' },
        { permission: 'allow', action: 'subscribe', topic: '$SYS/#' },
        { permission: 'deny', action: 'subscribe', topic: '$SYS/#' },
      ]);
      expect(admin['expire_at']).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 590);
      const other = (await h.mqttAuth({ username: 'emqx', password: 'public', clientid: 'dev1', peerhost: '10.0.0.7' })) as Record<string, unknown>;
      expect((other['acl'] as EmqxAclRule[]).map((r) => `${r.permission} ${r.topic}`)).toEqual(['allow /smarthome/dev1/temperature', 'deny /smarthome/+/temperature', 'deny $SYS/#']);
    });

    it('what EMQX decides with the list (falling back to /mqtt/acl on no match) is what /mqtt/acl decides', async () => {
      const tables: LegacyRow[][] = [
        // A deny # row (last, so judged first) before an allow for $SYS: EMQX 5's deny # would miss $SYS/….
        [
          { allow: 1, username: 'emqx', access: 3, topic: '$SYS/#' },
          { allow: 1, username: 'emqx', access: 1, topic: 'eq $SYS/brokers' },
          { allow: 0, username: '$all', access: 3, topic: '#' },
        ],
        [
          { allow: 1, username: '$all', access: 3, topic: 'users/%u/#' },
          { allow: 0, clientid: 'c1', access: 2, topic: 'users/emqx/ro/#' },
          { allow: 1, ipaddr: '10.0.0.0/8', access: 1, topic: '$SYS/#' },
          { allow: 0, username: '$all', access: 1, topic: '+/brokers' },
        ],
      ];
      const requests: Array<{ action: 'publish' | 'subscribe'; topic: string }> = [
        { action: 'subscribe', topic: '$SYS/brokers' },
        { action: 'publish', topic: '$SYS/x' },
        { action: 'publish', topic: 'users/emqx/ro/1' },
        { action: 'subscribe', topic: 'users/emqx/ro/1' },
        { action: 'publish', topic: 'users/emqx/a' },
        { action: 'subscribe', topic: 'other/brokers' },
      ];
      const client = { username: 'emqx', clientid: 'c1', peerhost: '10.1.2.3' };
      for (const [t, table] of tables.entries()) {
        await setRows(table);
        const h = make({ AUTHZ_QUERY: ALL_ROWS, CONNECT_ACL: 'on', AUTHZ_NO_MATCH: 'deny' });
        const { acl } = (await h.mqttAuth({ ...client, password: 'public' })) as { acl: EmqxAclRule[] };
        for (const r of requests) {
          const bySources = ((await h.mqttAcl({ ...client, ...r })) as { result: string }).result;
          const read = emqx5AclReads(acl, r);
          expect([t, r, read === 'nomatch' ? bySources : read]).toEqual([t, r, bySources]);
        }
      }
    });

    it('rows that cannot be sent exactly: by default the login answers AUTHN_BACKEND_FAILURE, never an allow', async () => {
      await setRows([{ allow: 0, ipaddr: '10.0.0.0/8', username: 'emqx', access: 3, topic: 'secret/#' }, { allow: 1, username: '$all', access: 3, topic: '#' }]);
      const h = make({ AUTHZ_QUERY: ALL_ROWS, CONNECT_ACL: 'on' });
      // No peerhost in the authentication request: the deny row's ipaddr cannot be judged.
      expect(await h.mqttAuth({ username: 'emqx', password: 'public', clientid: 'c1' })).toEqual({ result: 'ignore' });
      expect(await make({ AUTHZ_QUERY: ALL_ROWS, CONNECT_ACL: 'on', AUTHZ_BACKEND_FAILURE: 'ignore' }).mqttAuth({ username: 'emqx', password: 'public', clientid: 'c1' })).toEqual({ result: 'allow', is_superuser: false });
      // The 4.x default acl_query finds ipaddr rows by '%a': without the address it would miss them.
      await setRows([{ allow: 1, username: '$all', access: 3, topic: '#' }, { allow: 0, ipaddr: '10.1.2.3', access: 3, topic: '#' }]);
      expect(await make({ CONNECT_ACL: 'on' }).mqttAuth({ username: 'emqx', password: 'public', clientid: 'c1' })).toEqual({ result: 'ignore' });
      expect(((await make({ CONNECT_ACL: 'on' }).mqttAuth({ username: 'emqx', password: 'public', clientid: 'c1', peerhost: '10.1.2.3' })) as { acl: EmqxAclRule[] }).acl).toEqual([
        { permission: 'deny', action: 'all', topic: '#' },
        { permission: 'allow', action: 'all', topic: '#' },
      ]);
      await setRows([{ allow: 0, ipaddr: '10.0.0.0/8', username: 'emqx', access: 3, topic: 'secret/#' }, { allow: 1, username: '$all', access: 3, topic: '#' }]);
      const sent = (await h.mqttAuth({ username: 'emqx', password: 'public', clientid: 'c1', peerhost: '10.1.2.3' })) as { acl: EmqxAclRule[] };
      expect(sent.acl).toEqual([
        { permission: 'allow', action: 'all', topic: '#' },
        { permission: 'deny', action: 'all', topic: 'secret/#' },
      ]);
    });
  });

  it("B40 (4.x replies, service_must_emit): allow is 200, ignore is 200 with exactly 'ignore', deny is 4xx; never 204, and EMQX 4 reads each as meant", async () => {
    // verdictOf is the reading checked against B40's emqx4_interpretation above.
    await setRows([{ allow: 1, username: '$all', access: 1, topic: 't/#' }, { allow: 0, username: '$all', access: 1, topic: 'x/#' }]);
    const h = make({ AUTHZ_QUERY: ALL_ROWS, AUTHZ_NO_MATCH: 'ignore' });
    const cases: Array<[Verdict, 'authn' | 'authz', Promise<RawAnswer>]> = [
      ['allow', 'authn', h.auth({ username: 'emqx', password: 'public' })],
      ['deny', 'authn', h.auth({ username: 'emqx', password: 'wrong' })],
      ['ignore', 'authn', h.auth({ username: 'ghost', password: 'public' })],
      ['deny', 'authn', h.auth({ password: 'public' })],
      ['allow', 'authz', h.acl({ access: '1', username: 'u1', topic: 't/1' })],
      ['deny', 'authz', h.acl({ access: '1', username: 'u1', topic: 'x/1' })],
      ['ignore', 'authz', h.acl({ access: '1', username: 'u1', topic: 'y/1' })],
      ['deny', 'authz', h.acl({ access: '7', username: 'u1', topic: 't/1' })],
    ];
    for (const [meant, api, pending] of cases) {
      const a = await pending;
      expect([meant, a.status === 204, verdictOf(api, a)]).toEqual([meant, false, meant]);
      if (meant === 'ignore') expect(a).toEqual(IGNORE);
      else if (meant === 'allow') expect(a.status).toBe(200);
      else expect(a.status >= 400 && a.status < 500).toBe(true);
    }
  });

  describe('/emqx4/auth', () => {
    it('the Cloud v4 sample user emqx / public: 200 ok by form, JSON and GET', async () => {
      const h = make();
      for (const how of ['form', 'json', 'get'] as const) expect(await h.auth({ clientid: 'c1', username: 'emqx', password: 'public' }, how)).toEqual(OK);
    });

    it('a wrong password is 401 (bad username or password); an unknown user is 200 ignore', async () => {
      const h = make();
      expect(await h.auth({ clientid: 'c1', username: 'emqx', password: 'private' })).toEqual(DENY_AUTH);
      expect(await h.auth({ clientid: 'c1', username: 'ghost', password: 'public' })).toEqual(IGNORE);
    });

    it('ph-4-http-params: the exact form body EMQX 4 sends for clientid=%c,username=%u,password=%P', async () => {
      const v = vectorsOf4('placeholder').find((x) => x.id === 'ph-4-http-params');
      const body = (v?.['expect'] as { form_body: string }).form_body;
      expect(await make({ PASSWORD_HASH: PLAIN }).raw('/emqx4/auth', { contentType: FORM, body })).toEqual(OK);
    });

    it("ph-4-sql: the default auth_query with '%u' runs as a bound parameter", async () => {
      const v = vectorsOf4('placeholder').find((x) => x.id === 'ph-4-sql');
      const h = make({ AUTHN_QUERY: v?.['template'] as string });
      expect(await h.auth({ username: 'emqx', password: 'public' })).toEqual(OK);
      // A username that would break out of the quotes if it were pasted into the SQL.
      expect(await h.auth({ username: "x' or '1'='1", password: 'public' })).toEqual(IGNORE);
    });

    it("ph-4-sql-cn-dn: '%C' binds the certificate CN (cn=%C); without one the query finds no row", async () => {
      const v = vectorsOf4('placeholder').find((x) => x.id === 'ph-4-sql-cn-dn');
      const h = make({ AUTHN_QUERY: v?.['template'] as string, PASSWORD_HASH: PLAIN });
      expect(await h.auth({ username: 'plain', password: 'plain', cn: 'a_cn_val' })).toEqual(OK);
      // EMQX 4 answers not_authorized here because no other source allows the client: we say ignore,
      // and EMQX 4 sends `cn=undefined` when the client has no certificate.
      expect(await h.auth({ username: 'plain', password: 'plain' })).toEqual(IGNORE);
      expect(await h.auth({ username: 'plain', password: 'plain', cn: 'undefined' })).toEqual(IGNORE);
    });

    it("ph-4-sql-peerhost: '%a' binds the peer address (ipaddr=%a)", async () => {
      const v = vectorsOf4('placeholder').find((x) => x.id === 'ph-4-sql-peerhost');
      const h = make({ AUTHN_QUERY: v?.['template'] as string, PASSWORD_HASH: PLAIN });
      expect(await h.auth({ username: 'plain', password: 'plain', ipaddr: '192.168.1.5' })).toEqual(OK);
      expect(await h.auth({ username: 'plain', password: 'plain', ipaddr: '192.168.1.6' })).toEqual(IGNORE);
    });

    it('a backend failure answers AUTHN_BACKEND_FAILURE: ignore → 200 ignore, deny → 401; never ok', async () => {
      const bad = "select password from no_such_table where username = '%u'";
      expect(await make({ AUTHN_QUERY: bad }).auth({ username: 'emqx', password: 'public' })).toEqual(IGNORE);
      expect(await make({ AUTHN_QUERY: bad, AUTHN_BACKEND_FAILURE: 'deny' }).auth({ username: 'emqx', password: 'public' })).toEqual(DENY_AUTH);
    });

    it('bad input is 400 with the problem, read by EMQX 4 as deny; the password never reaches the log', async () => {
      const logger = memoryLogger();
      const h = make({}, logger.log);
      const missingUser = await h.auth({ password: 'Sup3r-secret' });
      expect(missingUser).toEqual(text(400, 'username is required (username=%u)'));
      expect(verdictOf('authn', missingUser)).toBe('deny');
      // EMQX 4 renders an absent username as the text "undefined".
      expect(await h.auth({ username: 'undefined', password: 'Sup3r-secret' })).toEqual(text(400, 'username is required (username=%u)'));
      expect(await h.auth({ username: 'emqx' })).toEqual(text(400, 'password is required (password=%P); EMQX 4 never asks with an empty one'));
      expect(await h.raw('/emqx4/auth', { contentType: JSON_TYPE, body: '{"username":"emqx","password":"Sup3r-secret"' })).toEqual(text(400, 'body is not valid JSON'));
      expect(await h.auth({ username: 'emqx', password: 'Sup3r-secret' })).toEqual(DENY_AUTH);
      const lines = logger.lines().join('\n');
      expect(lines).toContain('bad request');
      expect(lines).not.toContain('Sup3r-secret');
    });
  });

  describe('/emqx4/superuser and SUPERUSER_QUERY', () => {
    it('SUPERUSER_QUERY: 200 ok for a superuser, 403 for anyone else or an unknown user', async () => {
      const h = make({ SUPERUSER_QUERY: SUPER_QUERY_4 });
      expect(await h.superuser({ clientid: 'c1', username: 'root' })).toEqual(OK);
      expect(await h.superuser({ clientid: 'c1', username: 'emqx' }, 'get')).toEqual(DENY);
      expect(await h.superuser({ clientid: 'c1', username: 'ghost' }, 'json')).toEqual(DENY);
    });

    it('SUPERUSER_QUERY failing is 403 (not a superuser) under either failure policy', async () => {
      for (const policy of ['ignore', 'deny']) {
        const h = make({ SUPERUSER_QUERY: "select is_superuser from no_such_table where username = '%u'", AUTHN_BACKEND_FAILURE: policy });
        expect(await h.superuser({ username: 'root' })).toEqual(DENY);
      }
    });

    it("without SUPERUSER_QUERY, AUTHN_QUERY's is_superuser decides (the 4.x default auth_query has none: no)", async () => {
      expect(await make().superuser({ username: 'root' })).toEqual(DENY);
      const h = make({ AUTHN_QUERY: "select password, is_superuser from mqtt_user where username = '%u' limit 1" });
      expect(await h.superuser({ username: 'root' })).toEqual(OK);
      expect(await h.superuser({ username: 'emqx' })).toEqual(DENY);
    });

    it('SUPERUSER_QUERY also decides is_superuser in the EMQX 5 answer of /mqtt/auth', async () => {
      const h = make({ SUPERUSER_QUERY: SUPER_QUERY_4 });
      expect(await h.mqttAuth({ username: 'root', password: 'root-pw', clientid: 'c1' })).toEqual({ result: 'allow', is_superuser: true });
      expect(await h.mqttAuth({ username: 'emqx', password: 'public', clientid: 'c1' })).toEqual({ result: 'allow', is_superuser: false });
      expect(await make().mqttAuth({ username: 'root', password: 'root-pw', clientid: 'c1' })).toEqual({ result: 'allow', is_superuser: false });
    });

    it('bad input on the superuser route is 400, never a 200', async () => {
      expect(await make({ SUPERUSER_QUERY: SUPER_QUERY_4 }).superuser({ clientid: 'c1' })).toEqual(text(400, 'username is required (username=%u)'));
    });
  });

  describe('/emqx4/acl: the 4.x vectors (rows evaluated last first)', () => {
    it.each(vectorsOf4('authz').map((v) => [v.id, v] as const))('%s', async (_id, v) => {
      await setRows(v['table'] as LegacyRow[]);
      const client = v['client'] as { peerhost: string; username: string; clientid: string };
      const request = v['request'] as { action: 'publish' | 'subscribe'; topic: string };
      const expected = v['expect'] as string;
      const fields = { access: request.action === 'subscribe' ? '1' : '2', username: client.username, clientid: client.clientid, ipaddr: client.peerhost, topic: request.topic, mountpoint: '' };
      const h = make({ AUTHZ_QUERY: v['query'] as string });
      expect(await h.acl(fields)).toEqual(answerFor[expected]);
      // EMQX 4 applies its acl_nomatch to our ignore; AUTHZ_NO_MATCH can answer it instead.
      if (expected === 'nomatch') expect(verdictOf('authz', await make({ AUTHZ_QUERY: v['query'] as string, AUTHZ_NO_MATCH: v['no_match'] as string }).acl(fields))).toBe(v['no_match']);
      // The rows' shape decides on every route: the EMQX 5 route reads them the same way.
      const five = await h.mqttAcl({ username: client.username, clientid: client.clientid, peerhost: client.peerhost, topic: request.topic, action: request.action });
      expect(five).toEqual({ result: expected === 'nomatch' ? 'ignore' : expected });
    });
  });

  describe('/emqx4/acl: rows and field cases', () => {
    const decide = async (env: Record<string, string>, requests: ReadonlyArray<Record<string, string | undefined>>): Promise<Verdict[]> => {
      const h = make(env);
      const out: Verdict[] = [];
      for (const r of requests) {
        const fields: Record<string, string> = { access: r['action'] === 'subscribe' ? '1' : '2', topic: r['topic'] ?? '', ipaddr: r['ipaddr'] ?? '127.0.0.1' };
        if (r['username'] !== undefined) fields['username'] = r['username'];
        if (r['clientid'] !== undefined) fields['clientid'] = r['clientid'];
        out.push(verdictOf('authz', await h.acl(fields)));
      }
      return out;
    };

    it('B20: an all-NULL row matches nobody (logged), evaluation goes on; the $all row denies', async () => {
      const c = fieldCase('B20');
      const allNullExpected = String(c.expected['all_null_row']).split(' ')[0];
      const noMatch = c.input['no_match'] as string;
      const logger = memoryLogger();
      await setRows([...(c.input['rows'] as LegacyRow[]), { allow: 0, username: 'other', access: 1, topic: '#' }]);
      const h = make({ AUTHZ_QUERY: ALL_ROWS, AUTHZ_NO_MATCH: noMatch }, logger.log);
      const r = c.input['request'] as Record<string, string>;
      const fields = { access: '1', username: r['username']!, clientid: r['clientid']!, ipaddr: '10.0.0.1', topic: r['topic']! };
      expect(verdictOf('authz', await h.acl(fields))).toBe(allNullExpected);
      expect(logger.lines().join('\n')).toContain('ACL row matches nobody');
      await setRows(c.input['rows_fixed'] as LegacyRow[]);
      expect(verdictOf('authz', await h.acl(fields))).toBe(c.expected['fixed_row']);
    });

    it('B21: a username starting with $ is an ordinary username; only $all is special', async () => {
      const c = fieldCase('B21');
      await setRows(c.input['rows'] as LegacyRow[]);
      expect(await decide({ AUTHZ_NO_MATCH: c.input['no_match'] }, [c.input['request']])).toEqual([c.expected['decision']]);
      // A client named "$all" gets only the rows meant for everyone.
      await setRows([{ allow: 1, username: 'u1', access: 3, topic: 'private/#' }]);
      expect(await decide({ AUTHZ_NO_MATCH: 'deny', AUTHZ_QUERY: ALL_ROWS }, [{ username: '$all', action: 'publish', topic: 'private/x' }])).toEqual(['deny']);
    });

    it('B23: %c and ${clientid} rows admit the client its own topic; the literal pattern text matches nothing', async () => {
      const c = fieldCase('B23');
      await setRows(c.input['rows'] as LegacyRow[]);
      expect(await decide({ AUTHZ_NO_MATCH: c.input['no_match'] }, c.input['requests'])).toEqual(c.expected['decisions']);
    });

    it('B25: a client id or username containing + # or / never widens a %c / %u rule', async () => {
      const c = fieldCase('B25');
      await setRows(c.input['rows'] as LegacyRow[]);
      expect(await decide({ AUTHZ_NO_MATCH: c.input['no_match'] }, c.input['requests'])).toEqual(c.expected['decisions']);
    });

    it('B30: eq # denies only the bare # filter, with LEGACY_ROW_ORDER=top-down as written', async () => {
      const c = fieldCase('B30');
      await setRows(c.input['rows'] as LegacyRow[]);
      expect(await decide({ AUTHZ_NO_MATCH: c.input['no_match'], LEGACY_ROW_ORDER: 'top-down' }, c.input['requests'])).toEqual(c.expected['decisions']);
    });

    it('B30: the same rows stored in reverse give the same decisions under the default last-first order', async () => {
      const c = fieldCase('B30');
      await setRows([...(c.input['rows'] as LegacyRow[])].reverse());
      expect(await decide({ AUTHZ_NO_MATCH: c.input['no_match'] }, c.input['requests'])).toEqual(c.expected['decisions']);
      // And as written, last-first lets the allow # row win everywhere.
      await setRows(c.input['rows'] as LegacyRow[]);
      expect(await decide({ AUTHZ_NO_MATCH: c.input['no_match'] }, c.input['requests'])).toEqual(['allow', 'allow', 'allow', 'allow']);
    });

    it('B43: 4.x access codes in GET queries and form bodies, topics percent-decoded, on /emqx4/acl and /mqtt/acl', async () => {
      const c = fieldCase('B43');
      await setRows(c.input['rows'] as LegacyRow[]);
      const requests = c.input['requests'] as Array<{ method: 'GET' | 'POST'; path?: string; content_type?: string; body?: string }>;
      // An HTTP client never sends the URL fragment: everything from a bare '#' on stays behind.
      const sent = requests.map((r): Sent => (r.method === 'GET' ? { method: 'GET', query: r.path?.split('#')[0]?.split('?')[1] ?? '' } : { contentType: r.content_type ?? FORM, body: r.body ?? '' }));
      expect(sent.map((s) => parseEmqx4Acl(readEvent(apiEvent('/emqx4/acl', s))).topic)).toEqual(c.expected['decoded_topics']);
      const env = { AUTHZ_NO_MATCH: c.input['no_match'] as string };
      const h = make(env);
      const legacy: Verdict[] = [];
      for (const s of sent) legacy.push(verdictOf('authz', await h.raw('/emqx4/acl', s)));
      expect(legacy).toEqual(c.expected['decisions']);
      const results: unknown[] = [];
      for (const s of sent) results.push((JSON.parse((await h.mqttAclRaw(s)).body) as { result: unknown }).result);
      expect(results).toEqual(c.expected['decisions']);
    });

    it('ipaddr as a CIDR, and an IPv4-mapped IPv6 peer matching its IPv4 rule', async () => {
      await setRows([
        { allow: 1, ipaddr: '192.168.1.0/24', access: 1, topic: 'lan/#' },
        { allow: 1, ipaddr: '10.59.1.100', username: 'ops', access: 3, topic: 'ops/#' },
      ]);
      // CIDR rows are not found by `ipaddr = '%a'`: the query must fetch them.
      const env = { AUTHZ_NO_MATCH: 'deny', AUTHZ_QUERY: "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr is not null or username = '%u' or username = '$all'" };
      expect(
        await decide(env, [
          { username: 'u1', action: 'subscribe', topic: 'lan/x', ipaddr: '192.168.1.77' },
          { username: 'u1', action: 'subscribe', topic: 'lan/x', ipaddr: '::ffff:192.168.1.77' },
          { username: 'u1', action: 'subscribe', topic: 'lan/x', ipaddr: '192.168.2.1' },
          { username: 'ops', action: 'publish', topic: 'ops/a', ipaddr: '::ffff:10.59.1.100' },
          // Both who-columns must match (AND).
          { username: 'ops', action: 'publish', topic: 'ops/a', ipaddr: '10.59.1.101' },
          { username: 'u1', action: 'publish', topic: 'ops/a', ipaddr: '10.59.1.100' },
        ]),
      ).toEqual(['allow', 'allow', 'deny', 'allow', 'deny', 'deny']);
    });

    it('an invalid row (access 4, ipaddr not an address) answers AUTHZ_BACKEND_FAILURE; a backend failure too', async () => {
      await setRows([{ allow: 1, username: '$all', access: 4, topic: '#' }]);
      expect(await make().acl({ access: '1', username: 'u1', topic: 'a' })).toEqual(DENY);
      // Skipped under ignore, and with no other row matching the answer stays ignore: no_match allow never follows a skipped row.
      expect(await make({ AUTHZ_BACKEND_FAILURE: 'ignore', AUTHZ_NO_MATCH: 'allow' }).acl({ access: '1', username: 'u1', topic: 'a' })).toEqual(IGNORE);
      await setRows([{ allow: 1, ipaddr: '10.0.0.300', username: '$all', access: 1, topic: '#' }]);
      // $all makes ipaddr irrelevant, as in EMQX 4; a bad ipaddr on any other row is invalid.
      expect(await make().acl({ access: '1', username: 'u1', topic: 'a' })).toEqual(OK);
      await setRows([{ allow: 1, ipaddr: '10.0.0.300', username: 'u1', access: 1, topic: '#' }]);
      expect(await make().acl({ access: '1', username: 'u1', topic: 'a' })).toEqual(DENY);
      const broken = "select allow, ipaddr, username, clientid, access, topic from no_such_table where username = '%u'";
      expect(await make({ AUTHZ_QUERY: broken }).acl({ access: '1', username: 'u1', topic: 'a' })).toEqual(DENY);
      expect(await make({ AUTHZ_QUERY: broken, AUTHZ_BACKEND_FAILURE: 'ignore' }).acl({ access: '1', username: 'u1', topic: 'a' })).toEqual(IGNORE);
    });

    it('a legacy deny # still reaches $SYS topics (as EMQX 4); a legacy allow # does not', async () => {
      await setRows([{ allow: 0, username: '$all', access: 3, topic: '#' }]);
      expect(await decide({ AUTHZ_NO_MATCH: 'allow' }, [{ username: 'u1', action: 'subscribe', topic: '$SYS/brokers' }, { username: 'u1', action: 'publish', topic: '$SYS/x' }])).toEqual(['deny', 'deny']);
      await setRows([{ allow: 1, username: '$all', access: 3, topic: '#' }]);
      expect(await decide({ AUTHZ_NO_MATCH: 'deny' }, [{ username: 'u1', action: 'subscribe', topic: '$SYS/brokers' }, { username: 'u1', action: 'subscribe', topic: 'a/b' }])).toEqual(['deny', 'allow']);
    });

    it('ACL_ROW_SHAPE=emqx5 refuses legacy rows as invalid (deny), legacy reads them', async () => {
      await setRows([{ allow: 1, username: '$all', access: 1, topic: 'a/#' }]);
      expect(await make({ ACL_ROW_SHAPE: 'emqx5' }).acl({ access: '1', username: 'u1', topic: 'a/b' })).toEqual(DENY);
      expect(await make({ ACL_ROW_SHAPE: 'legacy' }).acl({ access: '1', username: 'u1', topic: 'a/b' })).toEqual(OK);
    });

    it('bad input is 400 with the problem (deny to EMQX 4), never 200', async () => {
      const h = make();
      expect(await h.acl({ access: '3', username: 'u1', topic: 'a' })).toEqual(text(400, 'access must be 1 (subscribe) or 2 (publish) (access=%A)'));
      expect(await h.acl({ access: '1', username: 'u1' })).toEqual(text(400, 'topic is required (topic=%t)'));
      expect(await h.raw('/emqx4/acl', { contentType: 'text/plain', body: 'access=1' })).toEqual(text(400, 'unsupported content type "text/plain"; send application/json or application/x-www-form-urlencoded'));
    });
  });
});
