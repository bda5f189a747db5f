import type { APIGatewayProxyResult } from 'aws-lambda';
import { createMosquittoAclHandler } from '../../functions/mosquitto-acl.js';
import { createContainer } from '../../shared/container.js';
import { BackendError } from '../../shared/errors.js';
import { hashPassword } from '../../shared/hash.js';
import { loadSettings } from '../../shared/settings.js';
import type { Row } from '../../shared/types.js';
import { apiEvent, context, FakeStore, handlersFor, memoryLogger } from '../helpers/harness.js';

/**
 * The decision log and metrics: one pino record and one EMF line per decision, asserted whole
 * (timings come from an injected clock), and never a password, hash, salt or token in any line.
 */

const SHA = { name: 'sha256', salt_position: 'prefix' } as const;
const PASSWORD = 'Tr0ub4dor&3';
const TOKEN = 'broker-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const stored = await hashPassword(SHA, PASSWORD, 'salt-xyz');

const ticking = () => {
  let t = 0;
  return () => t++;
};

function setup(env: Record<string, string>, rows: (params: readonly string[], text: string) => Row[] | Error) {
  const logger = memoryLogger();
  const metrics: string[] = [];
  const store = new FakeStore([]);
  store.query = async (text, params) => {
    store.calls.push({ text, params });
    const r = rows(params, text);
    if (r instanceof Error) throw r;
    return r;
  };
  const c = createContainer(loadSettings({ SOURCES: 'sql', METRICS: 'emf', BROKER_TOKEN: TOKEN, ...env }), { store, log: logger.log, writeMetrics: (l) => void metrics.push(l), clock: ticking(), nowMs: () => 1_796_000_000_000 });
  const decisions = () => logger.lines().map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === 'decision');
  return { c, logger, metrics, decisions };
}

const userRows = (params: readonly string[], text: string): Row[] => {
  if (text.includes('mqtt_user')) return params[0] === 'alice' ? [{ password_hash: stored.hash, salt: stored.salt, is_superuser: 0 }] : [];
  return params[0] === 'alice' ? [{ permission: 'deny', action: 'all', topic: 'secret/#' }, { permission: 'allow', action: 'publish', topic: 'a/#' }] : [];
};

const emf = (kind: string, decision: string, source: string, latency: number) => ({
  _aws: {
    Timestamp: 1_796_000_000_000,
    CloudWatchMetrics: [{ Namespace: 'mqtt-auth', Dimensions: [['Kind', 'Decision']], Metrics: [{ Name: 'Decisions', Unit: 'Count' }, { Name: 'Latency', Unit: 'Milliseconds' }] }],
  },
  Kind: kind,
  Decision: decision,
  Source: source,
  Decisions: 1,
  Latency: latency,
});

describe('decision log and EMF metrics', () => {
  it('one record and one metric line per decision, exactly', async () => {
    const { c, logger, metrics, decisions } = setup({}, userRows);
    const h = handlersFor(c, BEARER);
    expect((await h.auth({ username: 'alice', clientid: 'c1', password: PASSWORD })).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth({ username: 'alice', clientid: 'c1', password: 'N0t-th3-pw!' })).body).toEqual({ result: 'deny' });
    expect((await h.auth({ username: 'bob', clientid: 'c2', password: PASSWORD })).body).toEqual({ result: 'ignore' });
    expect((await h.acl({ username: 'alice', clientid: 'c1', topic: 'a/1', action: 'publish', qos: '0', retain: 'false' })).body).toEqual({ result: 'allow' });
    expect((await h.acl({ username: 'bob', clientid: 'c2', topic: 'a/1', action: 'subscribe', qos: '0' })).body).toEqual({ result: 'ignore' });

    const time = expect.any(Number);
    expect(decisions()).toEqual([
      { level: 30, time, kind: 'authn', clientid: 'c1', user: '2bd806c97f0e', decision: 'allow', source: 'sql', rule: 'row 0', algorithm: 'sha256', reason: 'password verified', ms: 3, steps: [{ source: 'sql', result: 'allow', ms: 1 }], msg: 'decision' },
      { level: 30, time, kind: 'authn', clientid: 'c1', user: '2bd806c97f0e', decision: 'deny', source: 'sql', rule: 'row 0', algorithm: 'sha256', reason: 'wrong password', ms: 3, steps: [{ source: 'sql', result: 'deny', ms: 1 }], msg: 'decision' },
      { level: 30, time, kind: 'authn', clientid: 'c2', user: '81b637d8fcd2', decision: 'ignore', source: 'none', reason: 'no source knew the client', ms: 3, steps: [{ source: 'sql', result: 'ignore', ms: 1 }], msg: 'decision' },
      { level: 30, time, kind: 'authz', clientid: 'c1', user: '2bd806c97f0e', action: 'publish', topic: 'a/1', decision: 'allow', source: 'sql', rule: 'row 1', reason: 'row 1 matched', ms: 3, steps: [{ source: 'sql', result: 'allow', ms: 1 }], msg: 'decision' },
      { level: 30, time, kind: 'authz', clientid: 'c2', user: '81b637d8fcd2', action: 'subscribe', topic: 'a/1', decision: 'ignore', source: 'none', reason: 'no source matched (AUTHZ_NO_MATCH)', ms: 3, steps: [{ source: 'sql', result: 'ignore', ms: 1 }], msg: 'decision' },
    ]);
    expect(metrics.map((l) => JSON.parse(l) as unknown)).toEqual([emf('authn', 'allow', 'sql', 3), emf('authn', 'deny', 'sql', 3), emf('authn', 'ignore', 'none', 3), emf('authz', 'allow', 'sql', 3), emf('authz', 'ignore', 'none', 3)]);
    expect(metrics.every((l) => l.endsWith('}\n') && !l.slice(0, -1).includes('\n'))).toBe(true);

    const everything = [...logger.lines(), ...metrics].join('\n');
    for (const secret of [PASSWORD, 'N0t-th3-pw!', stored.hash, stored.salt, TOKEN]) expect(everything).not.toContain(secret);
    expect(everything).not.toContain('"alice"');
  });

  it('a backend failure is recorded with the failing step and its policy, and counted', async () => {
    const { c, metrics, decisions } = setup({ AUTHN_BACKEND_FAILURE: 'deny' }, () => new BackendError('connection refused', 'ECONNREFUSED'));
    expect((await handlersFor(c, BEARER).auth({ username: 'alice', clientid: 'c1', password: PASSWORD })).body).toEqual({ result: 'deny' });
    expect(decisions()).toEqual([
      { level: 30, time: expect.any(Number), kind: 'authn', clientid: 'c1', user: '2bd806c97f0e', decision: 'deny', source: 'sql', reason: 'backend failure: connection refused', ms: 3, steps: [{ source: 'sql', result: 'deny', ms: 1, failure: true }], msg: 'decision' },
    ]);
    expect(metrics.map((l) => JSON.parse(l) as unknown)).toEqual([emf('authn', 'deny', 'sql', 3)]);
  });

  it('METRICS=off writes no metric lines; the records stay', async () => {
    const { c, metrics, decisions } = setup({ METRICS: 'off' }, userRows);
    await handlersFor(c, BEARER).auth({ username: 'alice', clientid: 'c1', password: PASSWORD });
    expect(metrics).toEqual([]);
    expect(decisions()).toHaveLength(1);
  });

  it('METRICS defaults to emf in Lambda and off elsewhere', () => {
    expect(loadSettings({}).metrics).toEqual({ format: 'off', namespace: 'mqtt-auth' });
    expect(loadSettings({ AWS_LAMBDA_FUNCTION_NAME: 'auth' }).metrics).toEqual({ format: 'emf', namespace: 'mqtt-auth' });
    expect(loadSettings({ AWS_LAMBDA_FUNCTION_NAME: 'auth', METRICS: 'off', METRICS_NAMESPACE: 'acme/mqtt' }).metrics).toEqual({ format: 'off', namespace: 'acme/mqtt' });
  });
});

describe('x-auth-explain response header', () => {
  const asked = { headers: { 'x-auth-explain': '1', ...BEARER } };

  it('EXPLAIN=on and the request asks: the trace as compact JSON, no secret', async () => {
    const { c } = setup({ EXPLAIN: 'on' }, userRows);
    const event = apiEvent('/mqtt/auth', { contentType: 'application/json', body: JSON.stringify({ username: 'alice', clientid: 'c1', password: PASSWORD }), headers: { 'X-Auth-Explain': '1', ...BEARER } });
    const { createAuthHandler } = await import('../../functions/auth.js');
    const res = (await createAuthHandler(c)(event, context)) as APIGatewayProxyResult;
    expect(JSON.parse(res.body)).toEqual({ result: 'allow', is_superuser: false });
    const header = res.headers?.['x-auth-explain'];
    expect(header).toBe('[{"kind":"authn","decision":"allow","source":"sql","reason":"password verified","steps":[{"source":"sql","result":"allow","reason":"password verified","ms":1,"row":0,"algorithm":"sha256"}],"ms":3}]');
    for (const secret of [PASSWORD, stored.hash, stored.salt]) expect(String(header)).not.toContain(secret);
  });

  it('absent unless both EXPLAIN=on and the request header are there', async () => {
    const on = setup({ EXPLAIN: 'on' }, userRows);
    const off = setup({}, userRows);
    const body = { username: 'alice', clientid: 'c1', topic: 'a/1', action: 'publish' };
    const headerOf = async (c: typeof on.c, sent: { headers?: Record<string, string> }) => {
      const { createAclHandler } = await import('../../functions/acl.js');
      const res = (await createAclHandler(c)(apiEvent('/mqtt/acl', { contentType: 'application/json', body: JSON.stringify(body), ...sent, headers: { ...BEARER, ...sent.headers } }), context)) as APIGatewayProxyResult;
      return res.headers?.['x-auth-explain'];
    };
    expect(await headerOf(on.c, asked)).toBe('[{"kind":"authz","decision":"allow","source":"sql","reason":"row 1 matched","steps":[{"source":"sql","result":"allow","reason":"row 1 matched","ms":1,"row":1}],"ms":3}]');
    expect(await headerOf(on.c, {})).toBeUndefined();
    expect(await headerOf(on.c, { headers: { 'x-auth-explain': '0' } })).toBeUndefined();
    expect(await headerOf(off.c, asked)).toBeUndefined();
  });

  it('other dialects carry it too: a mosquitto-go-auth read-write check stops at its first refused action', async () => {
    const { c } = setup({ EXPLAIN: 'on' }, userRows);
    const res = (await createMosquittoAclHandler(c)(apiEvent('/mosquitto/acl', { contentType: 'application/json', body: JSON.stringify({ username: 'alice', clientid: 'c1', topic: 'a/1', acc: 3 }), ...asked }), context)) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(403);
    const traces = JSON.parse(String(res.headers?.['x-auth-explain'])) as Array<{ kind: string; decision: string }>;
    expect(traces.map((t) => [t.kind, t.decision])).toEqual([['authz', 'ignore']]);
  });
});
