import { migrate } from '../../shared/builtin/schema.js';
import { createContainer } from '../../shared/container.js';
import { hashPassword } from '../../shared/hash.js';
import { createLogger } from '../../shared/log.js';
import { loadSettings } from '../../shared/settings.js';
import { freshDatabase, SCHEMA, type TestDatabase } from '../helpers/databases.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/**
 * The local server over real PostgreSQL with the built-in tables present (default SOURCES):
 * x-auth-explain travels over HTTP, and the process writes one decision record (and one EMF line)
 * per decision, with no secret anywhere in its output.
 */

const SHA = { name: 'sha256', salt_position: 'prefix' } as const;
const PW = 'e2e-Builtin-pw';
let db: TestDatabase;
let server: RunningServer;
let stored: { hash: string; salt: string };

beforeAll(async () => {
  db = await freshDatabase('postgres', 'maf_e2e_explain');
  await db.execFile(SCHEMA.postgres);
  const c = createContainer(loadSettings({ DATABASE_URL: db.url, SOURCES: 'sql' }), { log: createLogger('silent') });
  await migrate(await c.store());
  await c.close();
  stored = await hashPassword(SHA, PW, 'e2e-salt');
  await db.exec('INSERT INTO mqtt_builtin_user (user_id, password_hash, salt) VALUES ($1, $2, $3)', ['dev-1', stored.hash, stored.salt]);
  await db.exec('INSERT INTO mqtt_builtin_user (user_id, password_hash, salt, is_superuser) VALUES ($1, $2, $3, true)', ['root-1', stored.hash, stored.salt]);
  await db.exec("INSERT INTO mqtt_builtin_acl (who_type, who, permission, action, topic) VALUES ('username', 'dev-1', 'deny', 'publish', 'secret/#')");
  server = await startServer({ DATABASE_URL: db.url, EXPLAIN: 'on', METRICS: 'emf' });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await db?.close();
});

const auth = (password: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/mqtt/auth`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username: 'dev-1', clientid: 'c-1', password }) });

describe('explain and the decision log through the local server', () => {
  it('answers through builtin,sql and returns the trace when asked', async () => {
    const res = await auth(PW, { 'x-auth-explain': '1' });
    expect(await res.json()).toEqual({ result: 'allow', is_superuser: false });
    const trace = JSON.parse(res.headers.get('x-auth-explain') ?? 'null') as Array<{ source: string; steps: Array<{ source: string; result: string; algorithm?: string }> }>;
    expect(trace).toHaveLength(1);
    expect(trace[0]).toMatchObject({ kind: 'authn', decision: 'allow', source: 'builtin', reason: 'built-in: password verified' });
    expect(trace[0]!.steps).toEqual([{ source: 'builtin', result: 'allow', reason: 'built-in: password verified', ms: expect.any(Number), row: 0, algorithm: 'sha256' }]);
    expect((await auth(PW)).headers.get('x-auth-explain')).toBeNull();
  });

  it('writes one decision record and one EMF line per decision, with no secret', async () => {
    const before = server.output().split('\n').length;
    expect(await (await auth('not-the-pw')).json()).toEqual({ result: 'deny' });
    // The output is asynchronous: wait for both lines to arrive.
    for (let i = 0; i < 50 && server.output().split('\n').slice(before - 1).filter((l) => l.includes('"deny"')).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const lines = server.output().split('\n').slice(before - 1).filter((l) => l.includes('"deny"') || l.includes('"Decision":"deny"'));
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r['msg'] === 'decision')).toMatchObject({ kind: 'authn', clientid: 'c-1', decision: 'deny', source: 'builtin', rule: 'row 0', algorithm: 'sha256', reason: 'built-in: wrong password' });
    expect(records.find((r) => '_aws' in r)).toMatchObject({ Kind: 'authn', Decision: 'deny', Source: 'builtin', Decisions: 1 });
    for (const secret of [PW, 'not-the-pw', stored.hash, stored.salt, 'dev-1']) expect(server.output()).not.toContain(secret);
  });

  it('names the built-in rule that decided, in the header and in the decision record', async () => {
    const before = server.output().length;
    const res = await fetch(`${server.url}/mqtt/acl`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-explain': '1' },
      body: JSON.stringify({ username: 'dev-1', clientid: 'c-1', topic: 'secret/a', action: 'publish', qos: '0', retain: 'false' }),
    });
    expect(await res.json()).toEqual({ result: 'deny' });
    expect(JSON.parse(res.headers.get('x-auth-explain') ?? 'null')).toEqual([
      {
        kind: 'authz',
        decision: 'deny',
        source: 'builtin',
        reason: 'built-in: rule 1 matched',
        steps: [{ source: 'builtin', result: 'deny', reason: 'built-in: rule 1 matched', ms: expect.any(Number), row: 0, rule: 'rule 1' }],
        ms: expect.any(Number),
      },
    ]);
    const record = async () => {
      for (let i = 0; i < 50; i++) {
        const line = server.output().slice(before).split('\n').find((l) => l.includes('"msg":"decision"'));
        if (line !== undefined) return JSON.parse(line) as Record<string, unknown>;
        await new Promise((r) => setTimeout(r, 50));
      }
      return undefined;
    };
    expect(await record()).toMatchObject({ kind: 'authz', action: 'publish', topic: 'secret/a', decision: 'deny', source: 'builtin', rule: 'rule 1', reason: 'built-in: rule 1 matched' });
  });

  it('answers the go-auth superuser check from the built-in flag, with its trace', async () => {
    const ask = (username: string) =>
      fetch(`${server.url}/mosquitto/superuser`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-explain': '1' }, body: JSON.stringify({ username }) });
    const root = await ask('root-1');
    expect(root.status).toBe(200);
    expect(JSON.parse(root.headers.get('x-auth-explain') ?? 'null')).toEqual([
      { kind: 'superuser', decision: 'allow', source: 'builtin', reason: 'built-in: is_superuser', steps: [{ source: 'builtin', result: 'allow', reason: 'built-in: is_superuser', ms: expect.any(Number) }], ms: expect.any(Number) },
    ]);
    const dev = await ask('dev-1');
    expect(dev.status).toBe(403);
    expect(JSON.parse(dev.headers.get('x-auth-explain') ?? 'null')).toMatchObject([{ kind: 'superuser', decision: 'deny', source: 'builtin', reason: 'built-in: not a superuser' }]);
    for (const secret of [PW, stored.hash, stored.salt, 'dev-1', 'root-1']) expect(server.output()).not.toContain(secret);
  });
});
