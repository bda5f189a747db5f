import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../shared/errors.js';
import { loadSettings } from '../../shared/settings.js';
import { compileBody, HTTP_SOURCE_CONCURRENCY, httpSource, type HttpSourceSettings } from '../../shared/sources/http.js';
import type { AclRequest, AuthnRequest } from '../../shared/types.js';
import { thrownBy } from '../helpers/errors.js';
import { memoryLogger } from '../helpers/harness.js';

/**
 * The HTTP source against a real HTTP server started here (the operator's auth service stand-in):
 * what it sends, byte for byte, and how it reads every kind of answer (emqx.md §3.1, §4.2).
 */

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Reply = (res: ServerResponse, seen: Seen) => void;

let server: Server;
let base: string;
const seen: Seen[] = [];
let reply: Reply = (res) => res.writeHead(500).end();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      reply(res, s);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
});

const json = (status: number, body: unknown, type = 'application/json'): Reply => (res) => res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));

const cfg = (over: Partial<HttpSourceSettings> = {}): HttpSourceSettings => {
  const s = loadSettings({ SOURCES: 'http', HTTP_SOURCE_URL: `${base}/auth`, HTTP_SOURCE_ACL_URL: `${base}/acl`, HTTP_SOURCE_HEADERS: '{"X-Api-Key":"k-123-secret"}' }).httpSource;
  if (s === undefined) throw new Error('no http settings');
  return { ...s, ...over };
};

const alice: AuthnRequest = { username: 'alice', clientid: 'c1', password: 'pa ss"w0rd', peerhost: '10.0.0.7', client_attrs: {} };
const pub: AclRequest = { username: 'alice', clientid: 'c1', topic: 't/1', action: 'publish', qos: 1, retain: false, client_attrs: {} };
const policy = { authn: 'ignore', authz: 'deny' } as const;

describe('http source: what it sends', () => {
  it("POSTs EMQX's recommended JSON body, every value a string, with the operator's headers", async () => {
    reply = json(200, { result: 'allow', is_superuser: 'true' });
    const source = httpSource(cfg(), policy, memoryLogger().log);
    expect(await source.authenticate(alice)).toEqual({ result: 'allow', is_superuser: true, reason: 'service allowed' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('POST');
    expect(seen[0]!.url).toBe('/auth');
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    expect(seen[0]!.headers['x-api-key']).toBe('k-123-secret');
    expect(JSON.parse(seen[0]!.body)).toEqual({ clientid: 'c1', username: 'alice', password: 'pa ss"w0rd', peerhost: '10.0.0.7', cert_common_name: '', cert_subject: '' });
  });

  it('authorization carries topic, action, access, qos and retain as strings (emqx.md §4.1)', async () => {
    reply = json(200, { result: 'deny' });
    const source = httpSource(cfg(), policy, memoryLogger().log);
    expect(await source.authorize(pub)).toEqual({ result: 'deny', reason: 'service denied' });
    expect(seen[0]!.url).toBe('/acl');
    expect(JSON.parse(seen[0]!.body)).toEqual({ clientid: 'c1', username: 'alice', peerhost: '', topic: 't/1', action: 'publish', access: '2', qos: '1', retain: 'false' });
    await source.authorize({ ...pub, action: 'subscribe', qos: 2, topic: 'a/#' });
    expect(JSON.parse(seen[1]!.body)).toMatchObject({ topic: 'a/#', action: 'subscribe', access: '1', qos: '2', retain: 'false' });
  });

  it('GET puts the body map in the query string and sends no content type', async () => {
    reply = (res) => res.writeHead(204).end();
    const source = httpSource(cfg({ method: 'get' }), policy, memoryLogger().log);
    expect(await source.authenticate(alice)).toEqual({ result: 'allow', is_superuser: false, reason: 'service answered 204' });
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.headers['content-type']).toBeUndefined();
    expect(Object.fromEntries(new URL(seen[0]!.url, base).searchParams)).toEqual({ clientid: 'c1', username: 'alice', password: 'pa ss"w0rd', peerhost: '10.0.0.7', cert_common_name: '', cert_subject: '' });
  });

  it('a form content type in the headers sends a form body; a custom body template renders ${$} and client_attrs', async () => {
    reply = (res) => res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' }).end('result=allow&is_superuser=0');
    const source = httpSource(cfg({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, authnBody: { u: 'user:${username}', price: '${$}5', tenant: '${client_attrs.tenant}' } }), policy, memoryLogger().log);
    expect(await source.authenticate({ ...alice, client_attrs: { tenant: 'acme' } })).toEqual({ result: 'allow', is_superuser: false, reason: 'service allowed' });
    expect(seen[0]!.body).toBe('u=user%3Aalice&price=%245&tenant=acme');
  });
});

describe('http source: how it reads answers', () => {
  it.each<[string, Reply, Record<string, unknown>]>([
    ['deny', json(200, { result: 'deny', is_superuser: true }), { result: 'deny', reason: 'service denied' }],
    ['ignore', json(200, { result: 'ignore' }), { result: 'ignore', reason: 'service ignored' }],
    ['no result', json(200, { is_superuser: true }), { result: 'ignore', reason: 'service ignored' }],
    ['json with a charset', json(200, { result: 'allow' }, 'application/json; charset=utf-8'), { result: 'allow', is_superuser: false, reason: 'service allowed' }],
  ])('authn %s', async (_name, r, expected) => {
    reply = r;
    expect(await httpSource(cfg(), policy, memoryLogger().log).authenticate(alice)).toEqual(expected);
  });

  it.each<[string, Reply, string]>([
    ['a 500', (res) => res.writeHead(500).end('oops'), 'status 500'],
    ['a 401', json(401, { result: 'allow' }), 'status 401'],
    ['a redirect (not followed)', (res) => res.writeHead(302, { location: `${base}/elsewhere` }).end(), 'status 302'],
    ['text/plain 200', (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('allow'), 'content type "text/plain"'],
    ['an unparsable body', (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":'), 'answer body cannot be read'],
    ['an unknown result', json(200, { result: 'maybe' }), 'answer has an unknown result'],
  ])('%s is a backend failure: the policy answers, never allow', async (_name, r, problem) => {
    reply = r;
    const logger = memoryLogger();
    const ignoring = httpSource(cfg(), policy, logger.log);
    expect(await ignoring.authenticate(alice)).toEqual({ result: 'ignore', reason: `backend failure: ${problem}`, detail: { failure: true } });
    const denying = httpSource(cfg(), { authn: 'deny', authz: 'deny' }, logger.log);
    expect(await denying.authenticate(alice)).toEqual({ result: 'deny', reason: `backend failure: ${problem}`, detail: { failure: true } });
    expect(await denying.authorize(pub)).toEqual({ result: 'deny', reason: `backend failure: ${problem}`, detail: { failure: true } });
    const lines = logger.lines();
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { level: 40, time: expect.any(Number), source: 'http', kind: 'authn', problem, policy: 'ignore', msg: 'http source failure' },
      { level: 40, time: expect.any(Number), source: 'http', kind: 'authn', problem, policy: 'deny', msg: 'http source failure' },
      { level: 40, time: expect.any(Number), source: 'http', kind: 'authz', problem, policy: 'deny', msg: 'http source failure' },
    ]);
    expect(lines.join('\n')).not.toMatch(/pa ss|k-123-secret|127\.0\.0\.1/);
  });

  it('a service that does not answer in time is a failure after the timeout', async () => {
    reply = () => {}; // never answers
    const source = httpSource(cfg({ timeoutMs: 150 }), policy, memoryLogger().log);
    expect(await source.authenticate(alice)).toEqual({ result: 'ignore', reason: 'backend failure: no answer within 150 ms', detail: { failure: true } });
  });

  it('an answer that grows past 64 KiB is cut off there, not buffered until the timeout', async () => {
    // 1 MiB without a length, then the connection stays open: only reading as it arrives can stop it.
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"result":"allow","pad":"${' '.repeat(1024 * 1024)}`);
    };
    const source = httpSource(cfg({ timeoutMs: 5000 }), policy, memoryLogger().log);
    expect(await source.authenticate(alice)).toEqual({ result: 'ignore', reason: 'backend failure: answer larger than 64 KiB', detail: { failure: true } });
    reply = (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(70 * 1024) }).end(`{"result":"allow","pad":"${' '.repeat(70 * 1024 - 27)}"}`);
    expect(await source.authorize(pub)).toEqual({ result: 'deny', reason: 'backend failure: answer larger than 64 KiB', detail: { failure: true } });
  });

  it('a refused connection is a failure naming the error code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const source = httpSource(cfg({ url: `http://127.0.0.1:${port}/auth` }), { authn: 'deny', authz: 'deny' }, memoryLogger().log);
    expect(await source.authenticate(alice)).toEqual({ result: 'deny', reason: 'backend failure: request failed (ECONNREFUSED)', detail: { failure: true } });
  });

  it('authorization: 204 allows, a missing content type is read as JSON, no result is no match', async () => {
    const source = httpSource(cfg(), policy, memoryLogger().log);
    reply = (res) => res.writeHead(204).end();
    expect(await source.authorize(pub)).toEqual({ result: 'allow', reason: 'service answered 204' });
    reply = (res) => res.writeHead(200).end('{"result":"allow"}');
    expect(await source.authorize(pub)).toEqual({ result: 'allow', reason: 'service allowed' });
    reply = json(200, {});
    expect(await source.authorize(pub)).toEqual({ result: 'ignore', reason: 'service did not match' });
  });

  it('authorizeMany asks the service once per request, at most 8 at a time, each answer in its place', async () => {
    expect(HTTP_SOURCE_CONCURRENCY).toBe(8);
    const source = httpSource(cfg(), policy, memoryLogger().log);
    // Replies are held until no request has arrived for 50 ms: every request the source lets out
    // at once is then in flight together, so the peak is exactly its cap.
    let inflight = 0;
    let peak = 0;
    let held: Array<() => void> = [];
    let quiet: NodeJS.Timeout | undefined;
    reply = (res, s) => {
      inflight += 1;
      peak = Math.max(peak, inflight);
      const topic = String((JSON.parse(s.body) as Record<string, unknown>)['topic']);
      held.push(() => {
        inflight -= 1;
        json(200, { result: topic.startsWith('a/') ? 'allow' : topic.startsWith('d/') ? 'deny' : 'ignore' })(res, s);
      });
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        const now = held;
        held = [];
        for (const release of now) release();
      }, 50);
    };
    const reqs: AclRequest[] = Array.from({ length: 20 }, (_, i) => ({ ...pub, action: 'subscribe', topic: `${'adi'[i % 3]}/${i}` }));
    const answers = await source.authorizeMany?.(reqs);
    expect(seen).toHaveLength(20);
    expect(peak).toBe(8);
    expect(answers).toEqual(
      reqs.map((_, i) => [{ result: 'allow', reason: 'service allowed' }, { result: 'deny', reason: 'service denied' }, { result: 'ignore', reason: 'service did not match' }][i % 3]),
    );
    expect(seen.map((x) => (JSON.parse(x.body) as Record<string, unknown>)['topic']).sort()).toEqual(reqs.map((r) => r.topic).sort());
  });

  it('without HTTP_SOURCE_ACL_URL the source has no rules and asks nothing', async () => {
    const source = httpSource(cfg({ aclUrl: undefined }), policy, memoryLogger().log);
    expect(await source.authorize(pub)).toEqual({ result: 'ignore', reason: 'HTTP_SOURCE_ACL_URL is not set' });
    expect(seen).toHaveLength(0);
  });
});

describe('http source settings', () => {
  it.each<[Record<string, string>, string]>([
    [{ SOURCES: 'http' }, 'HTTP_SOURCE_URL'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'ftp://x/auth' }, 'HTTP_SOURCE_URL'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://u:p@x/auth' }, 'HTTP_SOURCE_URL'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://x/auth#f' }, 'HTTP_SOURCE_URL'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://x/auth', HTTP_SOURCE_HEADERS: '["a"]' }, 'HTTP_SOURCE_HEADERS'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://x/auth', HTTP_SOURCE_HEADERS: '{"a":1}' }, 'HTTP_SOURCE_HEADERS'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://x/auth', HTTP_SOURCE_HEADERS: '{"x-k":"a\\nb"}' }, 'HTTP_SOURCE_HEADERS'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://x/auth', HTTP_SOURCE_METHOD: 'get', HTTP_SOURCE_HEADERS: '{"content-type":"application/json"}' }, 'HTTP_SOURCE_HEADERS'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://x/auth', HTTP_SOURCE_TIMEOUT_MS: '50' }, 'HTTP_SOURCE_TIMEOUT_MS'],
    [{ SOURCES: 'http', HTTP_SOURCE_URL: 'https://x/auth', HTTP_SOURCE_METHOD: 'put' }, 'HTTP_SOURCE_METHOD'],
  ])('%j stops start-up naming %s', (env, setting) => {
    const err = thrownBy(() => loadSettings(env));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe(setting);
    expect((err as ConfigError).message).not.toContain('a\nb');
  });

  it('a body placeholder the request cannot fill stops start-up naming the setting', () => {
    const err = thrownBy(() => compileBody({ pw: '${password}', t: '${topic}' }, 'authz', 'HTTP_SOURCE_AUTHZ_BODY'));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe('HTTP_SOURCE_AUTHZ_BODY: "pw": placeholder ${password} is not available for authorization');
    expect((thrownBy(() => compileBody({ a: '${username' }, 'authn', 'HTTP_SOURCE_AUTHN_BODY')) as ConfigError).message).toBe('HTTP_SOURCE_AUTHN_BODY: "a": unterminated placeholder');
  });
});
