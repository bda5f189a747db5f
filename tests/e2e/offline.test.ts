import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashPassword, parseHashConfig } from '../../shared/hash.js';
import { freshDatabase, SCHEMA, type TestDatabase } from '../helpers/databases.js';
import { localAwsEnv, startSecretsServer, type SecretsServer } from '../helpers/secrets-server.js';
import { freePort, startServer, type RunningServer } from '../helpers/server.js';

/**
 * End to end, deployed form: the functions as `serverless package` bundles them (serverless-esbuild
 * with the stage's driver only), served by serverless-offline from a stage file, against the real
 * PostgreSQL, with the credentials and the broker token read from a Secrets-Manager-compatible
 * endpoint — the settings a deployed stage runs with. Each case is also asked of the local server
 * (`npm start` on DATABASE_URL) and must get the same answer.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STAGE = 'e2e-offline';
const DB_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:e2e/mqtt-auth/db-AbC123';
const TOKEN_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:e2e/mqtt-auth/broker-token-XyZ789';
const TOKEN = 'e2e-broker-token-0123456789abcdef';

interface Answer {
  readonly status: number;
  readonly type: string | null;
  readonly body: unknown;
}

let db: TestDatabase;
let secrets: SecretsServer;
let stagesDir: string;
let offline: { url: string; child: ChildProcess; output: () => string };
let local: RunningServer;

async function startOffline(env: Record<string, string>, timeoutMs: number): Promise<typeof offline> {
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    ['node_modules/serverless/bin/serverless.js', 'offline', 'start', '--stage', STAGE, '--host', '127.0.0.1', '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serverless offline exited with ${child.exitCode}:\n${out}`);
    let status = 0;
    try {
      status = (await fetch(`${url}/health`)).status;
    } catch {
      // not listening yet
    }
    if (status === 200) return { url, child, output: () => out };
    if (status >= 500) {
      await stopGroup(child);
      throw new Error(`serverless offline answers /health with ${status}:\n${out}`);
    }
    if (Date.now() > deadline) {
      stopGroup(child);
      throw new Error(`serverless offline not ready after ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** serverless-offline runs handlers in worker threads of its own process group. */
function stopGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.pid === undefined) return resolve();
    child.once('exit', () => resolve());
    process.kill(-child.pid, 'SIGTERM');
  });
}

beforeAll(async () => {
  db = await freshDatabase('postgres', 'maf_e2e_offline');
  await db.execFile(SCHEMA.postgres);
  const stored = await hashPassword(parseHashConfig({ name: 'bcrypt', salt_rounds: 4 }), 'public');
  await db.exec('INSERT INTO mqtt_user (username, password_hash, salt) VALUES ($1, $2, NULL)', ['demo', stored.hash]);
  for (const [permission, action, topic] of [
    ['allow', 'all', 'demo/#'],
    ['allow', 'subscribe', 'devices/${clientid}/#'],
    ['deny', 'all', '#'],
  ]) {
    await db.exec("INSERT INTO mqtt_acl (username, permission, action, topic) VALUES ('demo', $1, $2, $3)", [permission, action, topic]);
  }
  const u = new URL(db.url);
  secrets = await startSecretsServer();
  secrets.put(DB_SECRET, JSON.stringify({ username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }));
  secrets.put(TOKEN_SECRET, JSON.stringify({ token: TOKEN }));

  stagesDir = mkdtempSync(join(tmpdir(), 'maf-offline-stage-'));
  writeFileSync(
    join(stagesDir, `${STAGE}.yml`),
    [
      'region: eu-west-1',
      'database:',
      '  engine: postgres',
      '  driver: proxy',
      `  host: ${u.hostname}`,
      `  port: ${u.port || 5432}`,
      `  name: ${u.pathname.slice(1)}`,
      `  secretArn: ${DB_SECRET}`,
      '  tls: off # the machine\'s PostgreSQL has no TLS',
      `brokerTokenSecretArn: ${TOKEN_SECRET}`,
      'passwordHash: { name: bcrypt }',
      'vpc: { subnetIds: [subnet-0a1b2c3d4e5f60001], securityGroupIds: [sg-0a1b2c3d4e5f60003] }',
      '',
    ].join('\n'),
  );
  const [o, l] = await Promise.allSettled([
    startOffline({ MAF_STAGES_DIR: stagesDir, ...localAwsEnv({ secretsManager: secrets.url }) }, 120_000),
    startServer({ DATABASE_URL: db.url, PASSWORD_HASH: '{"name":"bcrypt"}', BROKER_TOKEN: TOKEN, LOG_LEVEL: 'warn' }),
  ]);
  // Keep whichever started, so afterAll stops it even when the other failed.
  if (o.status === 'fulfilled') offline = o.value;
  if (l.status === 'fulfilled') local = l.value;
  if (o.status === 'rejected') throw o.reason;
  if (l.status === 'rejected') throw l.reason;
}, 150_000);

afterAll(async () => {
  if (offline) await stopGroup(offline.child);
  await local?.stop();
  await secrets?.close();
  await db?.close();
  if (stagesDir) rmSync(stagesDir, { recursive: true, force: true });
  rmSync(join(ROOT, '.esbuild', STAGE), { recursive: true, force: true });
});

interface Ask {
  method?: string;
  type?: string;
  body?: string;
  /** The Bearer token sent; null: no Authorization header. Default: the stage's token. */
  token?: string | null;
}

async function ask(base: string, path: string, init: Ask = {}): Promise<Answer> {
  const token = init.token === undefined ? TOKEN : init.token;
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  if (init.type) headers['content-type'] = init.type;
  const res = await fetch(`${base}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, ...(init.body === undefined ? {} : { body: init.body }) });
  const text = await res.text();
  // The media type only: serverless-offline's HTTP server (hapi) appends "; charset=utf-8", which
  // API Gateway does not (it passes the handler's header through).
  const type = res.headers.get('content-type')?.split(';')[0] ?? null;
  return { status: res.status, type, body: type === 'application/json' ? (JSON.parse(text) as unknown) : text };
}

const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';
const TEXT_TYPE = 'text/plain';
const AUTHN_BODY = JSON.stringify({ username: 'demo', password: 'public', clientid: 'c1' });
const CASES: Array<[string, string, Ask, Answer]> = [
  ['health', '/health', {}, { status: 200, type: JSON_TYPE, body: { status: 'ok', database: 'postgres' } }],
  [
    'allow: the right password',
    '/mqtt/auth',
    { type: JSON_TYPE, body: JSON.stringify({ username: 'demo', password: 'public', clientid: 'c1', peerhost: '127.0.0.1' }) },
    { status: 200, type: JSON_TYPE, body: { result: 'allow', is_superuser: false } },
  ],
  [
    'deny: a wrong password (form body)',
    '/mqtt/auth',
    { type: 'application/x-www-form-urlencoded; charset=utf-8', body: 'username=demo&password=wrong&clientid=c1' },
    { status: 200, type: JSON_TYPE, body: { result: 'deny' } },
  ],
  ['ignore: an unknown user (GET query)', '/mqtt/auth?username=ghost&password=public&clientid=c1', {}, { status: 200, type: JSON_TYPE, body: { result: 'ignore' } }],
  [
    'ACL allow by a rule',
    '/mqtt/acl',
    { type: JSON_TYPE, body: JSON.stringify({ username: 'demo', clientid: 'c1', topic: 'demo/x', action: 'publish', qos: '1', retain: 'false' }) },
    { status: 200, type: JSON_TYPE, body: { result: 'allow' } },
  ],
  ['ACL deny by the catch-all rule', '/mqtt/acl?username=demo&clientid=c1&topic=secret&action=publish', {}, { status: 200, type: JSON_TYPE, body: { result: 'deny' } }],
  [
    'bad input: 400 with a JSON error',
    '/mqtt/acl',
    { type: JSON_TYPE, body: '{"username":"demo","action":"publish"}' },
    { status: 400, type: JSON_TYPE, body: { error: 'topic is required' } },
  ],
  [
    'a wrong broker token: 401',
    '/mqtt/auth',
    { type: JSON_TYPE, body: AUTHN_BODY, token: 'not-the-broker-token-0123456789' },
    { status: 401, type: JSON_TYPE, body: { error: 'broker token is wrong' } },
  ],
  [
    'no broker token: 401',
    '/mqtt/acl',
    { type: JSON_TYPE, body: JSON.stringify({ username: 'demo', clientid: 'c1', topic: 'demo/x', action: 'publish' }), token: null },
    { status: 401, type: JSON_TYPE, body: { error: 'broker token required: send "Authorization: Bearer <token>" or prefix the path with /k/<token>' } },
  ],
  ['EMQX 4 auth: 200 ok', '/emqx4/auth', { type: FORM, body: 'clientid=c1&username=demo&password=public&ipaddr=127.0.0.1' }, { status: 200, type: TEXT_TYPE, body: 'ok' }],
  ['EMQX 4 auth, a wrong password: 401 deny', '/emqx4/auth', { type: FORM, body: 'clientid=c1&username=demo&password=wrong' }, { status: 401, type: TEXT_TYPE, body: 'deny' }],
  ['EMQX 4 superuser, not one: 403 deny', '/emqx4/superuser', { type: FORM, body: 'clientid=c1&username=demo' }, { status: 403, type: TEXT_TYPE, body: 'deny' }],
  ['EMQX 4 ACL allow', '/emqx4/acl', { type: FORM, body: 'access=2&username=demo&clientid=c1&ipaddr=127.0.0.1&topic=demo%2Fx&mountpoint=' }, { status: 200, type: TEXT_TYPE, body: 'ok' }],
  ['EMQX 4 ACL deny', '/emqx4/acl', { type: FORM, body: 'access=2&username=demo&clientid=c1&topic=secret&mountpoint=' }, { status: 403, type: TEXT_TYPE, body: 'deny' }],
  ['EMQX 4 with a wrong broker token: 401', '/emqx4/auth', { type: FORM, body: 'clientid=c1&username=demo&password=public', token: 'not-the-broker-token-0123456789' }, { status: 401, type: JSON_TYPE, body: { error: 'broker token is wrong' } }],
];

test.each(CASES)('%s: the packaged handler under serverless-offline answers as the local server', async (_name, path, init, expected) => {
  const [fromOffline, fromLocal] = await Promise.all([ask(offline.url, path, init), ask(local.url, path, init)]);
  expect(fromOffline).toEqual(expected);
  expect(fromLocal).toEqual(expected);
});

test('the /k/{token}/ routes reach the same functions (for brokers that cannot send a header)', async () => {
  const body = AUTHN_BODY;
  expect(await ask(offline.url, `/k/${TOKEN}/mqtt/auth`, { type: JSON_TYPE, body, token: null })).toEqual({ status: 200, type: JSON_TYPE, body: { result: 'allow', is_superuser: false } });
  const acl = JSON.stringify({ username: 'demo', clientid: 'c1', topic: 'devices/c1/#', action: 'subscribe', qos: '0' });
  expect(await ask(offline.url, `/k/${TOKEN}/mqtt/acl`, { type: JSON_TYPE, body: acl, token: null })).toEqual({ status: 200, type: JSON_TYPE, body: { result: 'allow' } });
  expect(await ask(offline.url, `/k/${TOKEN}/emqx4/auth`, { type: FORM, body: 'clientid=c1&username=demo&password=public', token: null })).toEqual({ status: 200, type: TEXT_TYPE, body: 'ok' });
  expect(await ask(offline.url, '/k/not-the-broker-token-0123456789/mqtt/auth', { type: JSON_TYPE, body, token: null })).toEqual({ status: 401, type: JSON_TYPE, body: { error: 'broker token is wrong' } });
});

test('the credentials came from the secret, read once per Lambda environment, not per request', () => {
  expect(secrets.calls(DB_SECRET)).toBeGreaterThanOrEqual(1);
  // One read per Lambda environment: serverless-offline keeps one per function it has run, and four
  // have asked the database (auth, acl, emqx4-auth, emqx4-acl) over 13 database-backed requests.
  expect(secrets.calls(DB_SECRET)).toBeLessThanOrEqual(4);
  expect(offline.output()).not.toContain('public');
});
