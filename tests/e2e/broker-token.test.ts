import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPEN_PATHS } from '../../shared/http/token.js';
import { ROUTES } from '../../shared/routes.js';
import { CHECKOUT_TAG } from '../helpers/databases.js';
import { localAwsEnv, startSecretsServer, type SecretsServer } from '../helpers/secrets-server.js';
import { runServerToExit, startServer, type RunningServer } from '../helpers/server.js';

/**
 * End to end: the local server as `npm start` runs it, with a broker token. Each dialect's paths are
 * asked the way its broker asks, once with `Authorization: Bearer` and once with the `/k/<token>/`
 * prefix, on the embedded PGlite demo data (`demo` / `public`, rules `demo/#`).
 */

/** Needs percent-encoding in a path (`+`, `/`, `%`), sent as it is in a header. */
const TOKEN = 'e2e-7f3a+b/c%d';
const PATH_TOKEN = encodeURIComponent(TOKEN);
const REQUIRED = { error: 'broker token required: send "Authorization: Bearer <token>" or prefix the path with /k/<token>' };
const WRONG = { error: 'broker token is wrong' };
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

interface Ask {
  readonly path: string;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Record<string, string>;
}
interface Reply {
  status: number;
  type: string | null;
  body: string;
}

async function send(base: string, ask: Ask, how: { prefix?: string; authorization?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': ask.contentType, ...ask.headers };
  if (how.authorization !== undefined) headers['authorization'] = how.authorization;
  const res = await fetch(`${base}${how.prefix ?? ''}${ask.path}`, { method: 'POST', headers, body: ask.body });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

const json = (body: unknown): Reply => ({ status: 200, type: JSON_TYPE, body: JSON.stringify(body) });
const text = (body: string, status = 200): Reply => ({ status, type: 'text/plain', body });
const unauthorized = (body: unknown): Reply => ({ status: 401, type: JSON_TYPE, body: JSON.stringify(body) });

/** One request per dialect path, with the answer it must get once the token is accepted. */
const CASES: ReadonlyArray<readonly [string, Ask, Reply]> = [
  ['EMQX authentication', { path: '/mqtt/auth', contentType: JSON_TYPE, body: JSON.stringify({ username: 'demo', password: 'public', clientid: 'c1' }) }, json({ result: 'allow', is_superuser: false })],
  ['EMQX authorization', { path: '/mqtt/acl', contentType: JSON_TYPE, body: JSON.stringify({ username: 'demo', clientid: 'c1', topic: 'demo/x', action: 'publish', qos: '1', retain: 'false' }) }, json({ result: 'allow' })],
  ['RabbitMQ user', { path: '/rabbitmq/user', contentType: FORM, body: 'username=demo&password=public&vhost=%2F&client_id=c1' }, text('allow')],
  ['RabbitMQ vhost', { path: '/rabbitmq/vhost', contentType: FORM, body: 'username=demo&vhost=%2F&ip=127.0.0.1&tags=&client_id=c1' }, text('allow')],
  ['RabbitMQ resource', { path: '/rabbitmq/resource', contentType: FORM, body: 'username=demo&vhost=%2F&resource=exchange&name=amq.topic&permission=write&tags=&client_id=c1' }, text('allow')],
  ['RabbitMQ topic', { path: '/rabbitmq/topic', contentType: FORM, body: 'username=demo&vhost=%2F&resource=topic&name=amq.topic&permission=write&tags=&routing_key=demo.x&variable_map.client_id=c1' }, text('allow')],
  ['go-auth user', { path: '/mosquitto/user', contentType: JSON_TYPE, body: JSON.stringify({ username: 'demo', password: 'public', clientid: 'c1' }) }, text('ok')],
  ['go-auth superuser', { path: '/mosquitto/superuser', contentType: JSON_TYPE, body: JSON.stringify({ username: 'demo' }) }, text('not a superuser', 403)],
  ['go-auth acl', { path: '/mosquitto/acl', contentType: JSON_TYPE, body: JSON.stringify({ username: 'demo', clientid: 'c1', topic: 'demo/x', acc: 2 }) }, text('ok')],
  ['VerneMQ register', { path: '/vernemq', contentType: JSON_TYPE, body: JSON.stringify({ username: 'demo', password: 'public', client_id: 'c1', peer_addr: '127.0.0.1', peer_port: 50000, mountpoint: '', clean_session: true }), headers: { 'vernemq-hook': 'auth_on_register' } }, json({ result: 'ok' })],
  ['VerneMQ publish', { path: '/vernemq', contentType: JSON_TYPE, body: JSON.stringify({ username: 'demo', client_id: 'c1', mountpoint: '', qos: 1, topic: 'demo/x', payload: 'aGk=', retain: false }), headers: { 'vernemq-hook': 'auth_on_publish' } }, json({ result: 'ok' })],
];

const dirs: string[] = [];
const dataDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'maf-e2e-token-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('local server with BROKER_TOKEN', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ DATA_DIR: dataDir(), BROKER_TOKEN: TOKEN, LOG_LEVEL: 'info' }, 60_000);
  }, 70_000);
  afterAll(async () => server?.stop());

  it.each(CASES)('%s: answered with Bearer and with the /k/<token>/ prefix; 401 without or with a wrong token', async (_name, ask, answer) => {
    expect(await send(server.url, ask, { authorization: `Bearer ${TOKEN}` })).toEqual(answer);
    expect(await send(server.url, ask, { prefix: `/k/${PATH_TOKEN}` })).toEqual(answer);
    expect(await send(server.url, ask)).toEqual(unauthorized(REQUIRED));
    expect(await send(server.url, ask, { authorization: 'Bearer e2e-7f3a+b/c%e' })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask, { prefix: '/k/e2e-7f3a%2Bb%2Fc%25e' })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask, { prefix: `/k/${PATH_TOKEN}`, authorization: 'Bearer nope' })).toEqual(unauthorized(WRONG));
  });

  it('every route in the table but /health answers 401 without a token, by each of its methods', async () => {
    const seen: Array<[string, string, number]> = [];
    for (const r of ROUTES.filter((x) => !OPEN_PATHS.has(x.path))) {
      for (const method of r.methods) {
        const res = await fetch(`${server.url}${r.path}`, method === 'GET' ? {} : { method, headers: { 'content-type': JSON_TYPE }, body: '{}' });
        seen.push([method, r.path, res.status]);
        await res.arrayBuffer();
      }
    }
    expect(seen.filter(([, , status]) => status !== 401)).toEqual([]);
    expect(seen.length).toBe(ROUTES.filter((x) => !OPEN_PATHS.has(x.path)).reduce((n, r) => n + r.methods.length, 0));
  });

  it('the token in the path is the whole segment: undecodable or empty is 401, the case matters', async () => {
    const ask = CASES[0]![1];
    expect(await send(server.url, ask, { prefix: '/k/e2e-7f3a+b%2Fc%d' })).toEqual(unauthorized({ error: 'path token is not valid percent-encoding' }));
    expect(await send(server.url, ask, { prefix: '/k/' })).toEqual(unauthorized({ error: 'path token is empty' }));
    expect(await send(server.url, ask, { prefix: `/k/${PATH_TOKEN.toUpperCase()}` })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask, { authorization: `bearer ${TOKEN}` })).toEqual(json({ result: 'allow', is_superuser: false }));
  });

  it('/health needs no token and has no /k/ form; an unknown route under /k/ does not echo the token', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const underK = await fetch(`${server.url}/k/${PATH_TOKEN}/health`);
    expect([underK.status, await underK.text()]).toEqual([404, '{"error":"no route /k/[redacted]/health"}']);
    const unknown = await fetch(`${server.url}/k/${PATH_TOKEN}/mqtt/nope`);
    expect([unknown.status, await unknown.text()]).toEqual([404, '{"error":"no route /k/[redacted]/mqtt/nope"}']);
  });

  it('two Authorization headers are refused as one malformed header, whichever comes first', async () => {
    const ask = CASES[0]![1];
    const twice = (first: string, second: string) =>
      // A raw header list: fetch would merge the two into one line.
      new Promise<Reply>((resolve, reject) => {
        const req = request(`${server.url}${ask.path}`, { method: 'POST', headers: ['host', new URL(server.url).host, 'content-type', ask.contentType, 'authorization', first, 'authorization', second] }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? null, body }));
        });
        req.on('error', reject);
        req.end(ask.body);
      });
    const malformed = unauthorized({ error: 'Authorization header is malformed; expected "Bearer <token>"' });
    expect(await twice(`Bearer ${TOKEN}`, 'Bearer nope')).toEqual(malformed);
    expect(await twice('Bearer nope', `Bearer ${TOKEN}`)).toEqual(malformed);
  });

  it('logs refusals with their problem, and never the token in any form', () => {
    const out = server.output();
    expect(out).toContain('"msg":"broker token refused"');
    expect(out).not.toContain('no broker token configured');
    for (const leak of [TOKEN, PATH_TOKEN, 'e2e-7f3a', 'public']) expect(out).not.toContain(leak);
  });
});

describe('local server with two tokens in BROKER_TOKEN (a rotation)', () => {
  const NEW = 'e2e-new-51c0';
  const OLD = 'e2e-old-8d7e';
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ DATA_DIR: dataDir(), BROKER_TOKEN: `${NEW} ${OLD}`, LOG_LEVEL: 'info' }, 60_000);
  }, 70_000);
  afterAll(async () => server?.stop());

  it.each(CASES)('%s: the new and the old token are both answered, in both forms; a third gets 401', async (_name, ask, answer) => {
    for (const t of [NEW, OLD]) {
      expect(await send(server.url, ask, { authorization: `Bearer ${t}` })).toEqual(answer);
      expect(await send(server.url, ask, { prefix: `/k/${t}` })).toEqual(answer);
    }
    expect(await send(server.url, ask, { prefix: `/k/${OLD}`, authorization: `Bearer ${NEW}` })).toEqual(answer);
    expect(await send(server.url, ask, { authorization: 'Bearer e2e-third-0f0f' })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask, { prefix: '/k/e2e-third-0f0f' })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask, { prefix: `/k/${encodeURIComponent(`${NEW} ${OLD}`)}` })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask, { prefix: `/k/${NEW}`, authorization: 'Bearer e2e-third-0f0f' })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask)).toEqual(unauthorized(REQUIRED));
  });

  it('never logs either token', () => {
    const out = server.output();
    expect(out).toContain('"msg":"broker token refused"');
    for (const leak of [NEW, OLD, 'e2e-third', '51c0', '8d7e']) expect(out).not.toContain(leak);
  });
});

describe('local server without a token', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ DATA_DIR: dataDir(), LOG_LEVEL: 'info' }, 60_000);
  }, 70_000);
  afterAll(async () => server?.stop());

  it('warns at start-up that every route is open', () => {
    const line = server.output().split('\n').find((l) => l.includes('no broker token configured'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 40, msg: 'no broker token configured (BROKER_TOKEN or BROKER_TOKEN_SECRET_ARN): every route answers anyone who can reach this server' });
  });

  it('serves every dialect without a token, and with any /k/<token>/ prefix (stripped)', async () => {
    for (const [, ask, answer] of CASES) {
      expect(await send(server.url, ask)).toEqual(answer);
      expect(await send(server.url, ask, { prefix: '/k/anything' })).toEqual(answer);
    }
  });
});

describe('local server with BROKER_TOKEN_SECRET_ARN', () => {
  const arn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-broker-token-${CHECKOUT_TAG}`;
  let sm: SecretsServer;
  let server: RunningServer;
  beforeAll(async () => {
    sm = await startSecretsServer();
    sm.put(arn, '{"token":"from-secrets-manager-29ab\\nprevious-from-sm-6c4d"}');
    server = await startServer({ DATA_DIR: dataDir(), BROKER_TOKEN_SECRET_ARN: arn, BROKER_TOKEN: 'local-form-loses', LOG_LEVEL: 'info', ...localAwsEnv({ secretsManager: sm.url }) }, 60_000);
  }, 70_000);
  afterAll(async () => {
    await server?.stop();
    await sm?.close();
  });

  it('checks the secret\'s two tokens (which win over BROKER_TOKEN), read once for all requests within the TTL', async () => {
    const [, ask, answer] = CASES[2]!;
    expect(await send(server.url, ask, { authorization: 'Bearer from-secrets-manager-29ab' })).toEqual(answer);
    expect(await send(server.url, ask, { prefix: '/k/from-secrets-manager-29ab' })).toEqual(answer);
    expect(await send(server.url, ask, { authorization: 'Bearer previous-from-sm-6c4d' })).toEqual(answer);
    expect(await send(server.url, ask, { prefix: '/k/previous-from-sm-6c4d' })).toEqual(answer);
    expect(await send(server.url, ask, { authorization: 'Bearer third-from-sm-0000' })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask, { authorization: 'Bearer local-form-loses' })).toEqual(unauthorized(WRONG));
    expect(await send(server.url, ask)).toEqual(unauthorized(REQUIRED));
    expect(sm.calls(arn)).toBe(1);
    expect(server.output()).not.toMatch(/from-secrets-manager|from-sm/);
  });
});

describe('start-up with a bad token', () => {
  it('BROKER_TOKEN with three tokens stops start-up naming the setting, not quoting them', async () => {
    const { code, output } = await runServerToExit({ DATA_DIR: dataDir(), BROKER_TOKEN: 'tok-one tok-two tok-three' });
    expect(code).toBe(1);
    expect(output).toContain('configuration error: BROKER_TOKEN: holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)');
    expect(output).not.toMatch(/tok-one|tok-two|tok-three/);
  });

  it('BROKER_TOKEN with a token that is not visible ASCII stops start-up naming the setting, not quoting it', async () => {
    const { code, output } = await runServerToExit({ DATA_DIR: dataDir(), BROKER_TOKEN: 'tok-new tök-old' });
    expect(code).toBe(1);
    expect(output).toContain('configuration error: BROKER_TOKEN: each token must be visible ASCII without spaces');
    expect(output).not.toMatch(/tok-new|tök-old/);
  });

  it('a JSON secret without a token stops start-up naming BROKER_TOKEN_SECRET_ARN, not quoting it', async () => {
    const sm = await startSecretsServer();
    const arn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-bad-token-${CHECKOUT_TAG}`;
    sm.put(arn, '{"tokn":"hush-hush-e2e"}');
    try {
      const { code, output } = await runServerToExit({ DATA_DIR: dataDir(), BROKER_TOKEN_SECRET_ARN: arn, ...localAwsEnv({ secretsManager: sm.url }) });
      expect(code).toBe(1);
      expect(output).toContain(`configuration error: BROKER_TOKEN_SECRET_ARN: secret ${arn} is JSON without a non-empty "token" string`);
      expect(output).not.toContain('hush-hush-e2e');
    } finally {
      await sm.close();
    }
  }, 60_000);
});
