import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, parseHashConfig } from '../../shared/hash.js';
import { freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { dataApiFor, DRIVERS, driverEnv, resourceArn, secretArn, type Driver } from '../helpers/drivers.js';
import { localAwsEnv } from '../helpers/secrets-server.js';
import { runServerToExit, startServer, type RunningServer } from '../helpers/server.js';

/** End to end: the local server as `npm start` runs it, asked the way EMQX 5 asks. */

async function post(url: string, contentType: string, body: string) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
}
async function get(url: string) {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
}

/** The requests EMQX 5 sends for a client; the same for every backend. */
function emqxConversation(server: () => RunningServer) {
  const auth = () => `${server().url}/mqtt/auth`;
  const acl = () => `${server().url}/mqtt/acl`;

  it('answers allow for the right password (POST JSON, as EMQX sends by default)', async () => {
    const answer = await post(auth(), 'application/json', JSON.stringify({ username: 'demo', password: 'public', clientid: 'c1', peerhost: '127.0.0.1' }));
    expect(answer).toEqual({ status: 200, type: 'application/json', body: { result: 'allow', is_superuser: false } });
  });

  it('answers deny for a wrong password (form body)', async () => {
    const answer = await post(auth(), 'application/x-www-form-urlencoded; charset=utf-8', 'username=demo&password=wrong&clientid=c1');
    expect(answer).toEqual({ status: 200, type: 'application/json', body: { result: 'deny' } });
  });

  it('answers ignore for an unknown user (GET query)', async () => {
    expect((await get(`${auth()}?username=ghost&password=public&clientid=c1`)).body).toEqual({ result: 'ignore' });
  });

  it('authorizes by the demo rules over JSON, form and GET', async () => {
    expect((await post(acl(), 'application/json', JSON.stringify({ username: 'demo', clientid: 'c1', topic: 'demo/x', action: 'publish', qos: '1', retain: 'false' }))).body).toEqual({ result: 'allow' });
    expect((await post(acl(), 'application/x-www-form-urlencoded', 'username=demo&clientid=c1&topic=devices%2Fc1%2F%23&action=subscribe&qos=0')).body).toEqual({ result: 'allow' });
    expect((await get(`${acl()}?username=demo&clientid=c1&topic=devices%2Fc2%2F%23&access=1&qos=0`)).body).toEqual({ result: 'deny' });
    expect((await get(`${acl()}?username=demo&clientid=c1&topic=secret&action=publish`)).body).toEqual({ result: 'deny' });
  });

  it('answers 400 with a JSON error for bad input, never allow', async () => {
    expect(await post(acl(), 'application/json', '{"username":"demo","action":"publish"}')).toEqual({ status: 400, type: 'application/json', body: { error: 'topic is required' } });
    expect((await post(auth(), 'application/json', '{"username":')).status).toBe(400);
    expect((await post(auth(), 'text/plain', 'username=demo')).status).toBe(400);
    expect((await post(auth(), 'application/json', JSON.stringify({ username: 'demo', password: 'public', pad: 'x'.repeat(70_000) }))).status).toBe(400);
  });
}

describe('local server on the embedded PGlite database (no DATABASE_URL)', () => {
  let server: RunningServer;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'maf-e2e-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, 60_000);
  }, 70_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the EMQX 4 routes: the status is the verdict', async () => {
    const ask = async (path: string, body: string) => {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
    };
    expect(await ask('/emqx4/auth', 'clientid=c1&username=demo&password=public&ipaddr=127.0.0.1')).toEqual({ status: 200, type: 'text/plain', body: 'ok' });
    expect(await ask('/emqx4/auth', 'clientid=c1&username=demo&password=wrong')).toEqual({ status: 401, type: 'text/plain', body: 'deny' });
    expect(await ask('/emqx4/superuser', 'clientid=c1&username=demo')).toEqual({ status: 403, type: 'text/plain', body: 'deny' });
    expect(await ask('/emqx4/acl', 'access=2&username=demo&clientid=c1&ipaddr=127.0.0.1&topic=demo%2Fx&mountpoint=')).toEqual({ status: 200, type: 'text/plain', body: 'ok' });
    expect(await ask('/emqx4/acl', 'access=2&username=demo&clientid=c1&ipaddr=127.0.0.1&topic=secret&mountpoint=')).toEqual({ status: 403, type: 'text/plain', body: 'deny' });
  });

  it('reports health without secrets', async () => {
    expect(await get(`${server.url}/health`)).toEqual({ status: 200, type: 'application/json', body: { status: 'ok', database: 'pglite' } });
  });
  emqxConversation(() => server);

  it('answers a malformed request target with 400, not 500', async () => {
    const { port } = new URL(server.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('GET http://[bad/mqtt/auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(raw).toContain('{"error":"malformed request target"}');
  });

  it('restarts on the same data folder and still knows the demo user', async () => {
    await server.stop();
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, 30_000);
    expect((await post(`${server.url}/mqtt/auth`, 'application/json', '{"username":"demo","password":"public"}')).body).toEqual({ result: 'allow', is_superuser: false });
  }, 40_000);
});

describe.each<[Engine, Driver]>(DRIVERS)('local server on real %s (%s driver)', (engine, driver) => {
  let server: RunningServer;
  let db: TestDatabase;
  let dataApi: DataApiServer | undefined;
  beforeAll(async () => {
    dataApi = await dataApiFor(driver);
    db = await freshDatabase(engine, `maf_e2e_${engine}_${driver === 'data-api' ? 'da' : 'pool'}`);
    await db.execFile(SCHEMA[engine]);
    const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
    const stored = await hashPassword(parseHashConfig({ name: 'bcrypt', salt_rounds: 4 }), 'public');
    await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt) VALUES (${m(1)}, ${m(2)}, NULL)`, ['demo', stored.hash]);
    for (const [permission, action, topic] of [
      ['allow', 'all', 'demo/#'],
      ['allow', 'subscribe', 'devices/${clientid}/#'],
      ['deny', 'all', '#'],
    ]) {
      await db.exec(`INSERT INTO mqtt_acl (username, permission, action, topic) VALUES ('demo', ${m(1)}, ${m(2)}, ${m(3)})`, [permission, action, topic]);
    }
    const aws = dataApi ? localAwsEnv({ rdsData: dataApi.url }) : {};
    server = await startServer({ ...driverEnv(driver, engine, db, { PASSWORD_HASH: '{"name":"bcrypt"}', LOG_LEVEL: 'debug' }), ...aws });
  }, 40_000);
  afterAll(async () => {
    await server?.stop();
    await db?.close();
    await dataApi?.close();
  });

  it('logs which database settings it uses, without credentials', () => {
    const line = server.output().split('\n').find((l) => l.includes('"msg":"database settings"'));
    const url = new URL(db.url);
    const name = url.pathname.slice(1);
    expect(JSON.parse(line ?? '{}').database).toEqual(
      driver === 'pooled'
        ? { source: 'DATABASE_URL', engine, host: url.hostname, port: url.port, name }
        : { source: 'DB_*', engine, driver: 'data-api', secretArn: secretArn(engine), databaseUrlIgnored: false, resourceArn: resourceArn(engine), name },
    );
  });

  it('reports health naming the engine only', async () => {
    expect((await get(`${server.url}/health`)).body).toEqual({ status: 'ok', database: engine });
  });
  emqxConversation(() => server);

  it('never logs the password it was sent', () => {
    expect(server.output()).not.toContain('public');
  });
});

describe('start-up validation', () => {
  it('stops with a message naming a bad setting', async () => {
    const { code, output } = await runServerToExit({ AUTHZ_NO_MATCH: 'maybe' });
    expect(code).toBe(1);
    expect(output).toContain('AUTHZ_NO_MATCH');
  });

  it('rejects a template placeholder outside the list, naming it', async () => {
    const { code, output } = await runServerToExit({ AUTHN_QUERY: 'SELECT password_hash FROM mqtt_user WHERE username = ${usernme}' });
    expect(code).toBe(1);
    expect(output).toContain('${usernme}');
  });

  it('rejects an unsupported pbkdf2 mac_fun', async () => {
    const { code, output } = await runServerToExit({ PASSWORD_HASH: '{"name":"pbkdf2","mac_fun":"md4","iterations":10}' });
    expect(code).toBe(1);
    expect(output).toMatch(/PASSWORD_HASH: mac_fun "md4"/);
  });
});
