import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { migrate } from '../../shared/builtin/schema.js';
import { createContainer, type Container } from '../../shared/container.js';
import { hashPassword } from '../../shared/hash.js';
import { loadSettings } from '../../shared/settings.js';
import type { Trace } from '../../shared/sources/chain.js';
import { freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import { createEmqx4AuthHandler } from '../../functions/emqx4-auth.js';
import { createMosquittoAuthHandler } from '../../functions/mosquitto-auth.js';
import { createVernemqHandler } from '../../functions/vernemq.js';
import type { SqlStore } from '../../shared/db/port.js';
import { callRaw, handlersFor, memoryLogger } from '../helpers/harness.js';

/**
 * The chain of built-in then external (the operator's SQL, and an HTTP service) against real
 * PostgreSQL and MariaDB, through the EMQX handlers: EMQX's chain semantics (emqx.md §10) and the
 * failure policy of each source. Then `mqtt-auth explain` over the same data.
 */

const SHA = { name: 'sha256', salt_position: 'prefix' } as const;
const B_PW = 'builtin-pw-1';
const S_PW = 'sql-pw-2';
const bHash = await hashPassword(SHA, B_PW, 'bsalt');
const sHash = await hashPassword(SHA, S_PW, 'ssalt');

/** A stand-in for the operator's auth service: knows `only-http` with password `http-pw-3`. */
let service: Server;
let serviceUrl: string;
/** The topics the service was asked to authorize. */
const aclAsked: string[] = [];
beforeAll(async () => {
  service = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const fields = JSON.parse(body) as Record<string, string>;
      const known = fields['username'] === 'only-http';
      if (req.url === '/acl') aclAsked.push(fields['topic'] ?? '');
      const answer = req.url === '/acl' ? { result: known && fields['topic'] === 'h/1' ? 'allow' : 'ignore' } : { result: !known ? 'ignore' : fields['password'] === 'http-pw-3' ? 'allow' : 'deny' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
});
afterAll(async () => {
  service.closeAllConnections();
  await new Promise((resolve) => service.close(resolve));
});

const steps = (t: Trace) => t.steps.map((s) => `${s.source}:${s.result}${s.failure ? '!' : ''}`);

describe.each<Engine>(['postgres', 'mysql'])('chain of built-in then external against real %s', (engine) => {
  let db: TestDatabase;
  let bare: TestDatabase;
  const containers: Container[] = [];
  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
  const make = (env: Record<string, string>, url = db.url) => {
    const c = createContainer(loadSettings({ DATABASE_URL: url, ...env }), { log: memoryLogger().log });
    containers.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_it_chain_${engine}`);
    await db.execFile(SCHEMA[engine]);
    const setup = make({ SOURCES: 'sql' });
    expect(await migrate(await setup.store())).toEqual(['mqtt_builtin_user', 'mqtt_builtin_acl']);
    const builtinUser = (id: string, su: boolean) => db.exec(`INSERT INTO mqtt_builtin_user (user_id, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, [id, bHash.hash, bHash.salt, su]);
    const sqlUser = (name: string, su: boolean) => db.exec(`INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, [name, sHash.hash, sHash.salt, su]);
    await builtinUser('only-builtin', false);
    await builtinUser('both', false);
    await sqlUser('only-sql', false);
    await sqlUser('both', true);
    await sqlUser('sql-root', true);
    await db.exec(`INSERT INTO mqtt_builtin_acl (who_type, who, permission, action, topic) VALUES ('username', 'both', 'deny', 'publish', 't/secret')`);
    await db.exec(`INSERT INTO mqtt_builtin_acl (who_type, who, permission, action, topic) VALUES ('all', '', 'allow', 'subscribe', 'news/#')`);
    await db.exec(`INSERT INTO mqtt_acl (username, permission, action, topic) VALUES ('both', 'allow', 'all', 't/#'), ('only-sql', 'allow', 'publish', 's/#'), ('only-sql', 'deny', 'subscribe', 'news/private')`);
    // A database with the operator's tables but no built-in ones: the built-in source fails there.
    bare = await freshDatabase(engine, `maf_it_chain_bare_${engine}`);
    await bare.execFile(SCHEMA[engine]);
    await bare.exec(`INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['only-sql', sHash.hash, sHash.salt, false]);
    await bare.exec(`INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['sql-root', sHash.hash, sHash.salt, true]);
  }, 60_000);

  afterAll(async () => {
    for (const c of containers) await c.close();
    await db.close();
    await bare.close();
  });

  const login = (username: string, password: string) => ({ username, clientid: `c-${username}`, password });
  const pub = (username: string, topic: string) => ({ username, clientid: `c-${username}`, topic, action: 'publish', qos: '0', retain: 'false' });
  const sub = (username: string, topic: string) => ({ username, clientid: `c-${username}`, topic, action: 'subscribe', qos: '0' });

  it('without SOURCES the chain is builtin,sql once migrate has created the tables', async () => {
    expect((await make({}).chain()).names).toEqual(['builtin', 'sql']);
    expect((await make({}, bare.url).chain()).names).toEqual(['sql']);
  });

  it('authentication: builtin answers its users, sql the rest; in both, builtin decides', async () => {
    const c = make({});
    const h = handlersFor(c);
    const chain = await c.chain();
    expect((await h.auth(login('only-builtin', B_PW))).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth(login('only-builtin', S_PW))).body).toEqual({ result: 'deny' });
    expect((await h.auth(login('only-sql', S_PW))).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth(login('only-sql', B_PW))).body).toEqual({ result: 'deny' });
    // In both with different passwords: builtin's deny wins even though sql would allow (and call it superuser).
    expect((await h.auth(login('both', S_PW))).body).toEqual({ result: 'deny' });
    expect((await h.auth(login('both', B_PW))).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth(login('nobody', B_PW))).body).toEqual({ result: 'ignore' });

    const denied = await chain.authenticate({ ...login('both', S_PW), client_attrs: {} });
    expect(steps(denied.trace)).toEqual(['builtin:deny']);
    expect(denied.trace.steps[0]).toMatchObject({ source: 'builtin', reason: 'built-in: wrong password', row: 0, algorithm: 'sha256' });
    const fallThrough = await chain.authenticate({ ...login('only-sql', S_PW), client_attrs: {} });
    expect(steps(fallThrough.trace)).toEqual(['builtin:ignore', 'sql:allow']);
    expect(fallThrough.trace).toMatchObject({ source: 'sql', reason: 'password verified' });
  });

  it('authorization: the first source with a matching rule decides; none → AUTHZ_NO_MATCH', async () => {
    const h = handlersFor(make({ AUTHZ_NO_MATCH: 'deny' }));
    expect((await h.acl(pub('both', 't/secret'))).body).toEqual({ result: 'deny' }); // builtin deny, before sql's allow t/#
    expect((await h.acl(pub('both', 't/ok'))).body).toEqual({ result: 'allow' }); // builtin no match → sql
    expect((await h.acl(pub('only-sql', 's/1'))).body).toEqual({ result: 'allow' });
    expect((await h.acl(sub('only-sql', 'news/private'))).body).toEqual({ result: 'allow' }); // builtin's rule for all comes first
    expect((await h.acl(pub('only-builtin', 'x/1'))).body).toEqual({ result: 'deny' }); // nobody matched: AUTHZ_NO_MATCH
    expect((await handlersFor(make({})).acl(pub('only-builtin', 'x/1'))).body).toEqual({ result: 'ignore' });
  });

  it('a 50-filter VerneMQ subscribe: one built-in read, one AUTHZ_QUERY, the service asked only for the filters still undecided', async () => {
    const real = await make({ SOURCES: 'sql' }).store();
    const statements: string[] = [];
    const counting: SqlStore = { dialect: real.dialect, query: (text, params) => (statements.push(text), real.query(text, params)), close: async () => {} };
    const env = { DATABASE_URL: db.url, SOURCES: 'builtin,sql,http', HTTP_SOURCE_URL: `${serviceUrl}/auth`, HTTP_SOURCE_ACL_URL: `${serviceUrl}/acl` };
    const c = createContainer(loadSettings(env), { store: counting, log: memoryLogger().log });
    containers.push(c);
    // news/ allowed by the built-in rule for all; t/ by both's sql rule; x/ by nobody (the service ignores it).
    const topics = Array.from({ length: 50 }, (_, i) => ({ topic: `${['news', 't', 'x'][i % 3]}/${i}`, qos: 1 }));
    aclAsked.length = 0;
    const answer = await callRaw(createVernemqHandler(c) as never, '/vernemq', {
      contentType: 'application/json',
      body: JSON.stringify({ username: 'both', client_id: 'c-both', mountpoint: '', topics }),
      headers: { 'vernemq-hook': 'auth_on_subscribe' },
    });
    expect(JSON.parse(answer.body)).toEqual({ result: 'ok', topics: topics.map((t, i) => ({ topic: t.topic, qos: i % 3 === 2 ? 128 : 1 })) });
    expect(statements).toHaveLength(2);
    expect(statements[0]).toContain('mqtt_builtin_acl');
    expect(statements[1]).toContain('mqtt_acl');
    expect(aclAsked.sort()).toEqual(topics.filter((_, i) => i % 3 === 2).map((t) => t.topic).sort());
  });

  it("each source's failure policy: a failing builtin is skipped with :ignore and stops the chain with :deny", async () => {
    // The bare database has no built-in tables: every built-in query is a backend failure.
    const open = handlersFor(make({ SOURCES: 'builtin:ignore,sql' }, bare.url));
    expect((await open.auth(login('only-sql', S_PW))).body).toEqual({ result: 'allow', is_superuser: false });
    const closed = make({ SOURCES: 'builtin:deny,sql' }, bare.url);
    expect((await handlersFor(closed).auth(login('only-sql', S_PW))).body).toEqual({ result: 'deny' });
    const t = await (await closed.chain()).authenticate({ ...login('only-sql', S_PW), client_attrs: {} });
    expect(steps(t.trace)).toEqual(['builtin:deny!']);
    // Authorization: an outage with :ignore never meets AUTHZ_NO_MATCH=allow.
    const lenient = handlersFor(make({ SOURCES: 'builtin:ignore,sql', AUTHZ_NO_MATCH: 'allow' }, bare.url));
    expect((await lenient.acl(pub('only-sql', 'nothing/here'))).body).toEqual({ result: 'ignore' });
    expect((await handlersFor(make({ SOURCES: 'builtin,sql' }, bare.url)).acl(pub('only-sql', 's/1'))).body).toEqual({ result: 'deny' }); // AUTHZ_BACKEND_FAILURE default deny
  });

  it('superuser checks (go-auth, EMQX 4): the first source that knows the user decides', async () => {
    const c = make({});
    const chain = await c.chain();
    const su = (username: string) => chain.superuser({ username, client_attrs: {} });
    // In both: builtin says no, although sql would say yes.
    const both = await su('both');
    expect(both.outcome).toEqual({ is_superuser: false, reason: 'built-in: not a superuser' });
    expect(both.trace).toMatchObject({ kind: 'superuser', decision: 'deny', source: 'builtin' });
    expect(steps(both.trace)).toEqual(['builtin:deny']);
    const root = await su('sql-root');
    expect(root.outcome).toEqual({ is_superuser: true, reason: 'is_superuser' });
    expect(steps(root.trace)).toEqual(['builtin:ignore', 'sql:allow']);
    expect((await su('only-builtin')).outcome).toEqual({ is_superuser: false, reason: 'built-in: not a superuser' });
    const nobody = await su('nobody');
    expect(nobody.outcome).toEqual({ is_superuser: false, reason: 'no source knew the user' });
    expect(steps(nobody.trace)).toEqual(['builtin:ignore', 'sql:ignore']);

    const goAuth = (username: string) => callRaw(createMosquittoAuthHandler(c) as never, '/mosquitto/superuser', { contentType: 'application/json', body: JSON.stringify({ username }) });
    expect((await goAuth('sql-root')).status).toBe(200);
    expect((await goAuth('both')).status).toBe(403);
    const emqx4 = (username: string) => callRaw(createEmqx4AuthHandler(c) as never, '/emqx4/superuser', { contentType: 'application/x-www-form-urlencoded', body: `clientid=c1&username=${username}` });
    expect(await emqx4('sql-root')).toEqual({ status: 200, contentType: 'text/plain', body: 'ok' });
    expect(await emqx4('both')).toEqual({ status: 403, contentType: 'text/plain', body: 'deny' });

    // The built-in tables missing: builtin:ignore leaves the question to sql; builtin:deny stops at "no".
    const lenient = await (await make({ SOURCES: 'builtin:ignore,sql' }, bare.url).chain()).superuser({ username: 'sql-root', client_attrs: {} });
    expect(lenient.outcome).toEqual({ is_superuser: true, reason: 'is_superuser' });
    const strict = await (await make({ SOURCES: 'builtin:deny,sql' }, bare.url).chain()).superuser({ username: 'sql-root', client_attrs: {} });
    expect(strict.outcome.is_superuser).toBe(false);
    expect(steps(strict.trace)).toEqual(['builtin:deny']);
  });

  it('superuser: a sql query that binds the password, or a value the request lacks, stops the chain with no (a later source never grants the name)', async () => {
    await db.exec(`INSERT INTO mqtt_builtin_user (user_id, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['collide', bHash.hash, bHash.salt, true]);
    await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, ['collide', sHash.hash, sHash.salt, false]);
    try {
      const byPassword = make({ SOURCES: 'sql,builtin', AUTHN_QUERY: "SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} AND length(${password}) > 0" });
      // The client logs in through sql as `collide`; builtin's `collide` is someone else's superuser.
      expect((await handlersFor(byPassword).auth(login('collide', S_PW))).body).toEqual({ result: 'allow', is_superuser: false });
      const viaPassword = await (await byPassword.chain()).superuser({ username: 'collide', client_attrs: {} });
      expect(viaPassword.outcome).toEqual({ is_superuser: false, reason: 'the query binds a secret the check does not have: not a superuser' });
      expect(steps(viaPassword.trace)).toEqual(['sql:deny']);
      const byClientid = make({ SOURCES: 'sql,builtin', AUTHN_QUERY: "SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${clientid}" });
      const viaClientid = await (await byClientid.chain()).superuser({ username: 'collide', client_attrs: {} });
      expect(viaClientid.outcome).toEqual({ is_superuser: false, reason: 'no ${clientid} to look up: not a superuser' });
      expect(steps(viaClientid.trace)).toEqual(['sql:deny']);
      const goAuth = await callRaw(createMosquittoAuthHandler(byClientid) as never, '/mosquitto/superuser', { contentType: 'application/json', body: JSON.stringify({ username: 'collide' }) });
      expect(goAuth.status).toBe(403);
      // With the identity present the query answers as before: sql knows `collide`, not a superuser.
      expect((await (await byClientid.chain()).superuser({ username: 'x', clientid: 'collide', client_attrs: {} })).outcome).toEqual({ is_superuser: false, reason: 'not a superuser' });
    } finally {
      await db.exec(`DELETE FROM mqtt_builtin_user WHERE user_id = 'collide'`);
      await db.exec(`DELETE FROM mqtt_user WHERE username = 'collide'`);
    }
  });

  it('connect-time ACL (CONNECT_ACL=on): built-in rules, then sql rules, travel with the login', async () => {
    const memory = memoryLogger();
    const c = createContainer(loadSettings({ DATABASE_URL: db.url, CONNECT_ACL: 'on' }), { log: memory.log, nowMs: () => 1_800_000_000_000 });
    containers.push(c);
    const h = handlersFor(c);
    expect((await h.auth(login('only-sql', S_PW))).body).toEqual({
      result: 'allow',
      is_superuser: false,
      acl: [
        { permission: 'allow', action: 'subscribe', topic: 'news/#' },
        { permission: 'allow', action: 'publish', topic: 's/#' },
        { permission: 'deny', action: 'subscribe', topic: 'news/private' },
      ],
      expire_at: 1_800_003_600,
    });
    expect((await h.auth(login('both', B_PW))).body).toEqual({
      result: 'allow',
      is_superuser: false,
      acl: [
        { permission: 'deny', action: 'publish', topic: 't/secret' },
        { permission: 'allow', action: 'subscribe', topic: 'news/#' },
        { permission: 'allow', action: 'all', topic: 't/#' },
      ],
      expire_at: 1_800_003_600,
    });
    // The list agrees with /mqtt/acl: builtin's rule for all comes before sql's deny.
    expect((await h.acl(sub('only-sql', 'news/private'))).body).toEqual({ result: 'allow' });
    expect(memory.lines().join('\n')).not.toContain('cannot send its rules');
    // No built-in tables, so the built-in rules cannot be read. Under AUTHZ_BACKEND_FAILURE=deny nobody
    // gets in without them (the login answers AUTHN_BACKEND_FAILURE, ignore); under :ignore the login
    // is allowed with no list, leaving every check to /mqtt/acl.
    const bareWith = (sources: string) => {
      const bc = createContainer(loadSettings({ DATABASE_URL: bare.url, SOURCES: sources, CONNECT_ACL: 'on' }), { log: memoryLogger().log });
      containers.push(bc);
      return handlersFor(bc);
    };
    expect((await bareWith('builtin,sql').auth(login('only-sql', S_PW))).body).toEqual({ result: 'ignore' });
    expect((await bareWith('builtin:ignore,sql').auth(login('only-sql', S_PW))).body).toEqual({ result: 'allow', is_superuser: false });
  });

  it('a failing sql source after builtin: builtin users are unaffected; the others get the sql policy', async () => {
    const h = handlersFor(make({ SOURCES: 'builtin,sql:deny', AUTHN_QUERY: 'SELECT password_hash, salt FROM no_such_table WHERE username = ${username}' }));
    expect((await h.auth(login('only-builtin', B_PW))).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth(login('only-sql', S_PW))).body).toEqual({ result: 'deny' });
    const lenient = handlersFor(make({ SOURCES: 'builtin,sql:ignore', AUTHN_QUERY: 'SELECT password_hash, salt FROM no_such_table WHERE username = ${username}' }));
    expect((await lenient.auth(login('only-sql', S_PW))).body).toEqual({ result: 'ignore' });
  });

  it('builtin, sql, then the operator’s HTTP service', async () => {
    const env = { SOURCES: 'builtin,sql,http', HTTP_SOURCE_URL: `${serviceUrl}/auth`, HTTP_SOURCE_ACL_URL: `${serviceUrl}/acl` };
    const c = make(env);
    const h = handlersFor(c);
    expect((await h.auth(login('only-http', 'http-pw-3'))).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth(login('only-http', B_PW))).body).toEqual({ result: 'deny' });
    expect((await h.auth(login('both', S_PW))).body).toEqual({ result: 'deny' }); // never reaches http
    expect((await h.acl(pub('only-http', 'h/1'))).body).toEqual({ result: 'allow' });
    const t = await (await c.chain()).authorize({ username: 'only-http', clientid: 'c', topic: 'h/1', action: 'publish', client_attrs: {} });
    expect(steps(t.trace)).toEqual(['builtin:ignore', 'sql:ignore', 'http:allow']);
    // The service down: its own policy.
    const down = handlersFor(make({ ...env, SOURCES: 'builtin,sql,http:deny', HTTP_SOURCE_URL: 'http://127.0.0.1:9/auth' }));
    expect((await down.auth(login('only-http', 'http-pw-3'))).body).toEqual({ result: 'deny' });
    expect((await down.auth(login('only-builtin', B_PW))).body).toEqual({ result: 'allow', is_superuser: false });
  });

  it('mqtt-auth explain shows the sources, rows, algorithm and timings, and no secret', async () => {
    const run = (args: string[], stdin: string, env: Record<string, string> = {}) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        const child = execFile(process.execPath, ['bin/mqtt-auth.js', 'explain', ...args], { env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: db.url, ...env } }, (error, out, err) => {
          resolve({ code: error ? Number(error.code ?? 1) : 0, out, err });
        });
        child.stdin?.end(stdin);
      });
    const r = await run(['--username', 'both', '--clientid', 'c1', '--password-stdin', '--topic', 't/secret'], `${S_PW}\n`);
    expect(r.code).toBe(0);
    // Timings vary, and with them the column padding: compare with runs of spaces collapsed.
    expect(r.out.replace(/\d+(\.\d+)? ms/g, 'N ms').replace(/ {2,}/g, ' ')).toBe(
      [
        'sources: builtin, sql',
        'authentication: deny (N ms)',
        ' builtin deny N ms row 0, sha256: built-in: wrong password',
        ' answered by: builtin — built-in: wrong password',
        'authorization (publish t/secret): deny (N ms)',
        ' builtin deny N ms rule 1: built-in: rule 1 matched',
        ' answered by: builtin — built-in: rule 1 matched',
        '',
      ].join('\n'),
    );
    const j = await run(['--username', 'only-sql', '--clientid', 'c2', '--password-stdin', '--json'], S_PW);
    const report = JSON.parse(j.out) as { sources: string[]; authn: Trace & { is_superuser: boolean } };
    expect(report.sources).toEqual(['builtin', 'sql']);
    expect(report.authn).toMatchObject({ kind: 'authn', decision: 'allow', source: 'sql', is_superuser: false });
    expect(steps(report.authn)).toEqual(['builtin:ignore', 'sql:allow']);
    expect(report.authn.steps[1]).toMatchObject({ row: 0, algorithm: 'sha256', reason: 'password verified' });
    // With CONNECT_ACL=on the login carries the built-in rules, then the sql ones.
    const withAcl = await run(['--username', 'both', '--clientid', 'c1', '--password-stdin'], B_PW, { CONNECT_ACL: 'on' });
    expect(withAcl.out.replace(/\d+(\.\d+)? ms/g, 'N ms').replace(/ {2,}/g, ' ')).toBe(
      [
        'sources: builtin, sql',
        'authentication: allow, superuser no, 3 connect-time ACL rule(s) (N ms)',
        ' builtin allow N ms row 0, sha256: built-in: password verified',
        ' answered by: builtin — built-in: password verified; 3 ACL rule(s)',
        '',
      ].join('\n'),
    );
    for (const text of [r.out, r.err, j.out, j.err, withAcl.out, withAcl.err]) for (const secret of [S_PW, B_PW, sHash.hash, bHash.hash, sHash.salt, bHash.salt]) expect(text).not.toContain(secret);
    const bad = await run(['--username', 'x'], '');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('give a password (--password or --password-stdin), a --topic, or both');
  }, 60_000);
});
