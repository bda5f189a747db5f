import { createChain, type ChainLink, type Trace } from '../../shared/sources/chain.js';
import type { Source, SourceAuthn, SourceAuthz, SourceName, SuperuserAnswer } from '../../shared/sources/port.js';
import type { ConnectAcl } from '../../shared/connectacl.js';
import type { AclRequest, AuthnRequest, ClientInfo } from '../../shared/types.js';
import { createContainer } from '../../shared/container.js';
import { BackendError } from '../../shared/errors.js';
import { ConfigError, loadSettings } from '../../shared/settings.js';
import { thrownBy } from '../helpers/errors.js';
import { FakeStore, memoryLogger } from '../helpers/harness.js';

/** An in-memory source implementing the port: answers by username, records who asked. */
class FakeSource implements Source {
  readonly asked: string[] = [];
  /** Present only when the fake is given rules to export, like a source that can send them. */
  readonly connectAcl?: (client: AuthnRequest) => Promise<ConnectAcl>;
  constructor(
    readonly name: SourceName,
    private readonly users: Record<string, SourceAuthn | Error>,
    private readonly rules: Record<string, SourceAuthz | Error> = {},
    exported?: Record<string, ConnectAcl>,
  ) {
    if (exported !== undefined) this.connectAcl = async (client) => exported[client.username ?? ''] ?? { acl: [], dropped: 0 };
  }
  async authenticate(req: AuthnRequest): Promise<SourceAuthn> {
    this.asked.push(`authn ${req.username}`);
    const a = this.users[req.username ?? ''] ?? { result: 'ignore', reason: 'unknown here' };
    if (a instanceof Error) throw a;
    return a;
  }
  async authorize(req: AclRequest): Promise<SourceAuthz> {
    this.asked.push(`authz ${req.username} ${req.topic}`);
    const a = this.rules[`${req.username} ${req.topic}`] ?? { result: 'ignore', reason: 'no rule' };
    if (a instanceof Error) throw a;
    return a;
  }
  async superuser(client: ClientInfo): Promise<SuperuserAnswer> {
    const a = this.users[client.username ?? ''];
    if (a === undefined || a instanceof Error) return { known: false, reason: 'unknown here' };
    return { known: true, is_superuser: a.result === 'allow' && a.is_superuser, reason: 'fake' };
  }
}

const link = (source: Source, authnFailure: 'ignore' | 'deny' = 'ignore', authzFailure: 'deny' | 'ignore' = 'deny'): ChainLink => ({ source, authnFailure, authzFailure });

/** A clock that advances one millisecond per reading, so every timing is exact. */
const ticking = () => {
  let t = 0;
  return () => t++;
};

const alice: AuthnRequest = { username: 'alice', clientid: 'c1', password: 'secret-pw', client_attrs: {} };
const pub = (username: string, topic: string): AclRequest => ({ username, clientid: 'c1', topic, action: 'publish', client_attrs: {} });
const allowAlice: SourceAuthn = { result: 'allow', is_superuser: false, reason: 'password verified', detail: { row: 0, algorithm: 'sha256' } };

function chainOf(links: ChainLink[], noMatch: 'allow' | 'deny' | 'ignore' = 'ignore') {
  const logger = memoryLogger();
  const traces: Trace[] = [];
  const chain = createChain(links, { noMatch, log: logger.log, clock: ticking(), decided: (t) => void traces.push(t) });
  return { chain, traces, lines: logger.lines };
}

describe('createChain: authentication (EMQX authn chain)', () => {
  it('the first source that does not ignore answers; the later ones are not asked', async () => {
    const a = new FakeSource('builtin', {});
    const b = new FakeSource('sql', { alice: allowAlice });
    const c = new FakeSource('http', { alice: { result: 'deny', reason: 'service denied' } });
    const { chain, traces } = chainOf([link(a), link(b), link(c)]);
    const { outcome, trace } = await chain.authenticate(alice);
    expect(outcome).toEqual({ result: 'allow', is_superuser: false, reason: 'password verified' });
    expect(trace).toEqual({
      kind: 'authn',
      decision: 'allow',
      source: 'sql',
      reason: 'password verified',
      steps: [
        { source: 'builtin', result: 'ignore', reason: 'unknown here', ms: 1 },
        { source: 'sql', result: 'allow', reason: 'password verified', ms: 1, row: 0, algorithm: 'sha256' },
      ],
      ms: 5,
    });
    expect([a.asked, b.asked, c.asked]).toEqual([['authn alice'], ['authn alice'], []]);
    expect(traces).toEqual([trace]);
  });

  it("an earlier source's deny wins over a later allow", async () => {
    const a = new FakeSource('builtin', { alice: { result: 'deny', reason: 'wrong password' } });
    const b = new FakeSource('sql', { alice: allowAlice });
    const { chain } = chainOf([link(a), link(b)]);
    expect((await chain.authenticate(alice)).outcome).toEqual({ result: 'deny', reason: 'wrong password' });
    expect(b.asked).toEqual([]);
  });

  it('every source ignoring stays ignore (the broker refuses the client if nothing else knows it)', async () => {
    const { chain } = chainOf([link(new FakeSource('builtin', {})), link(new FakeSource('sql', {}))]);
    const { outcome, trace } = await chain.authenticate(alice);
    expect(outcome).toEqual({ result: 'ignore', reason: 'no source knew the client' });
    expect(trace.source).toBeUndefined();
    expect(trace.decision).toBe('ignore');
  });

  it("a source that throws answers its own failure policy: ignore lets the next decide, deny stops the chain", async () => {
    const broken = () => new FakeSource('builtin', { alice: new Error('disk on fire') });
    const sql = new FakeSource('sql', { alice: allowAlice });
    const open = chainOf([link(broken(), 'ignore'), link(sql)]);
    expect((await open.chain.authenticate(alice)).outcome).toEqual({ result: 'allow', is_superuser: false, reason: 'password verified' });

    const closed = chainOf([link(broken(), 'deny'), link(new FakeSource('sql', { alice: allowAlice }))]);
    const { outcome, trace } = await closed.chain.authenticate(alice);
    expect(outcome).toEqual({ result: 'deny', reason: 'source builtin failed' });
    expect(trace.steps).toEqual([{ source: 'builtin', result: 'deny', reason: 'source builtin failed', ms: 1, failure: true }]);
    const logged = closed.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toEqual([{ level: 50, time: expect.any(Number), source: 'builtin', kind: 'authn', error: { name: 'Error', message: 'disk on fire' }, policy: 'deny', msg: 'source failed' }]);
  });

  it('connect-time ACL: the rules of the leading sources that can export them, in chain order', async () => {
    const a = new FakeSource('builtin', { alice: allowAlice }, {}, { alice: { acl: [{ permission: 'deny', action: 'all', topic: 'x/#' }], dropped: 0 } });
    const b = new FakeSource('sql', {}, {}, { alice: { acl: [{ permission: 'allow', action: 'publish', topic: 'a/#' }], dropped: 1 } });
    const http = new FakeSource('http', {});
    const opts = { noMatch: 'ignore' as const, log: memoryLogger().log, connectAcl: { ttlS: 60 }, nowMs: () => 1_000_000 };
    const chain = createChain([link(a), link(b), link(http)], opts);
    expect((await chain.authenticate(alice, { connectAcl: true })).outcome).toEqual({
      result: 'allow',
      is_superuser: false,
      acl: [
        { permission: 'deny', action: 'all', topic: 'x/#' },
        { permission: 'allow', action: 'publish', topic: 'a/#' },
      ],
      expire_at: 1060,
      reason: 'password verified; 2 ACL rule(s); 1 allow rule(s) dropped',
    });
    // Without the option (other dialects), or when the first source cannot export, no rules travel.
    expect((await chain.authenticate(alice)).outcome).toEqual({ result: 'allow', is_superuser: false, reason: 'password verified' });
    const first = createChain([link(http), link(new FakeSource('sql', { alice: allowAlice }, {}, {}))], opts);
    expect((await first.authenticate(alice, { connectAcl: true })).outcome).toEqual({ result: 'allow', is_superuser: false, reason: 'password verified' });
  });

  it('connect-time ACL that cannot be read answers that source’s policy: deny refuses the login', async () => {
    const a = new FakeSource('sql', { alice: allowAlice }, {}, { alice: { failed: 'backend failure: timeout' } });
    const chain = createChain([link(a, 'deny', 'deny')], { noMatch: 'ignore', log: memoryLogger().log, connectAcl: { ttlS: 60 } });
    expect((await chain.authenticate(alice, { connectAcl: true })).outcome).toEqual({ result: 'deny', reason: 'connect-time ACL unavailable: backend failure: timeout' });
  });
});

describe('createChain: authorization (EMQX authz chain)', () => {
  it('first allow or deny wins; no match anywhere answers AUTHZ_NO_MATCH', async () => {
    const a = new FakeSource('builtin', {}, { 'alice t/1': { result: 'deny', reason: 'rule 7', detail: { rule: 'username rule 7' } } });
    const b = new FakeSource('sql', {}, { 'alice t/1': { result: 'allow', reason: 'row 0 matched', detail: { row: 0 } }, 'alice t/2': { result: 'allow', reason: 'row 1 matched', detail: { row: 1 } } });
    for (const noMatch of ['allow', 'deny', 'ignore'] as const) {
      const { chain } = chainOf([link(a), link(b)], noMatch);
      expect((await chain.authorize(pub('alice', 't/1'))).outcome).toEqual({ result: 'deny', reason: 'rule 7' });
      expect((await chain.authorize(pub('alice', 't/2'))).outcome).toEqual({ result: 'allow', reason: 'row 1 matched' });
      const none = await chain.authorize(pub('alice', 't/3'));
      expect(none.outcome).toEqual({ result: noMatch, reason: 'no source matched (AUTHZ_NO_MATCH)' });
      expect(none.trace.steps.map((s) => [s.source, s.result])).toEqual([
        ['builtin', 'ignore'],
        ['sql', 'ignore'],
      ]);
    }
  });

  it('an outage with policy ignore never meets AUTHZ_NO_MATCH=allow: the answer is ignore', async () => {
    const a = new FakeSource('builtin', {}, { 'alice t/1': new Error('gone') });
    const { chain } = chainOf([link(a, 'ignore', 'ignore'), link(new FakeSource('sql', {}))], 'allow');
    expect((await chain.authorize(pub('alice', 't/1'))).outcome).toEqual({ result: 'ignore', reason: 'no source matched and builtin failed (source builtin failed)' });
    // ...while a later source's match still stands.
    const b = new FakeSource('sql', {}, { 'alice t/1': { result: 'allow', reason: 'row 0 matched' } });
    const { chain: rescued } = chainOf([link(new FakeSource('builtin', {}, { 'alice t/1': new Error('gone') }), 'ignore', 'ignore'), link(b)], 'allow');
    expect((await rescued.authorize(pub('alice', 't/1'))).outcome).toEqual({ result: 'allow', reason: 'row 0 matched' });
  });

  it('an outage with policy deny stops the chain with deny', async () => {
    const b = new FakeSource('sql', {}, { 'alice t/1': { result: 'allow', reason: 'row 0 matched' } });
    const { chain } = chainOf([link(new FakeSource('builtin', {}, { 'alice t/1': new Error('gone') }), 'ignore', 'deny'), link(b)], 'allow');
    expect((await chain.authorize(pub('alice', 't/1'))).outcome).toEqual({ result: 'deny', reason: 'source builtin failed' });
    expect(b.asked).toEqual([]);
  });
});

/** A fake that answers several requests in one call, as the SQL and built-in sources do. */
class BatchingSource extends FakeSource {
  /** What each batch call was given, or an error for it to throw / a wrong count to answer. */
  readonly batches: string[][] = [];
  failBatch: Error | 'short' | undefined;
  async authorizeMany(reqs: readonly AclRequest[]): Promise<SourceAuthz[]> {
    this.batches.push(reqs.map((r) => r.topic));
    if (this.failBatch instanceof Error) throw this.failBatch;
    const answers: SourceAuthz[] = [];
    for (const r of reqs) answers.push(await this.authorize(r));
    return this.failBatch === 'short' ? answers.slice(1) : answers;
  }
}

describe('createChain: several requests at once (authorizeMany)', () => {
  const reqs = ['t/1', 't/2', 't/3'].map((t) => pub('alice', t));

  it('a batching source is asked once for all; the next source only for what is still undecided, one by one if it cannot batch', async () => {
    const a = new BatchingSource('builtin', {}, { 'alice t/1': { result: 'allow', reason: 'rule 1 matched', detail: { row: 0, rule: 'rule 1' } } });
    const b = new FakeSource('sql', {}, { 'alice t/2': { result: 'deny', reason: 'row 3 matched', detail: { row: 3 } } });
    const { chain, traces } = chainOf([link(a), link(b)], 'allow');
    const decided = await chain.authorizeMany(reqs);
    expect(a.batches).toEqual([['t/1', 't/2', 't/3']]);
    expect(b.asked).toEqual(['authz alice t/2', 'authz alice t/3']);
    expect(decided.map((d) => d.outcome)).toEqual([
      { result: 'allow', reason: 'rule 1 matched' },
      { result: 'deny', reason: 'row 3 matched' },
      { result: 'allow', reason: 'no source matched (AUTHZ_NO_MATCH)' },
    ]);
    // Clock readings: 0 start, 1–2 the batch, 3–4 and 5–6 the sql calls, 7 the end.
    expect(decided[0]!.trace).toEqual({
      kind: 'authz',
      decision: 'allow',
      source: 'builtin',
      reason: 'rule 1 matched',
      steps: [{ source: 'builtin', result: 'allow', reason: 'rule 1 matched', ms: 1, row: 0, rule: 'rule 1' }],
      ms: 7,
    });
    expect(decided[1]!.trace.steps).toEqual([
      { source: 'builtin', result: 'ignore', reason: 'no rule', ms: 1 },
      { source: 'sql', result: 'deny', reason: 'row 3 matched', ms: 1, row: 3 },
    ]);
    expect(decided[2]!.trace).toEqual({
      kind: 'authz',
      decision: 'allow',
      reason: 'no source matched (AUTHZ_NO_MATCH)',
      steps: [
        { source: 'builtin', result: 'ignore', reason: 'no rule', ms: 1 },
        { source: 'sql', result: 'ignore', reason: 'no rule', ms: 1 },
      ],
      ms: 7,
    });
    // One decision-log entry per request, in order.
    expect(traces.map((t) => t.decision)).toEqual(['allow', 'deny', 'allow']);
    // The same decisions as asking one at a time.
    const { chain: single } = chainOf([link(new BatchingSource('builtin', {}, { 'alice t/1': { result: 'allow', reason: 'rule 1 matched' } })), link(b)], 'allow');
    for (const [i, r] of reqs.entries()) expect((await single.authorize(r)).outcome).toEqual(decided[i]!.outcome);
  });

  it.each([
    ['throws', new Error('pool closed')],
    ['answers a different number of requests', 'short' as const],
  ])('a batch call that %s answers the failure policy for every request, logged; never AUTHZ_NO_MATCH=allow', async (_, failure) => {
    for (const policy of ['deny', 'ignore'] as const) {
      const a = new BatchingSource('builtin', {}, { 'alice t/1': { result: 'allow', reason: 'rule 1 matched' } });
      a.failBatch = failure;
      const { chain, lines } = chainOf([link(a, 'ignore', policy), link(new FakeSource('sql', {}))], 'allow');
      const decided = await chain.authorizeMany(reqs);
      const expected = policy === 'deny' ? { result: 'deny', reason: 'source builtin failed' } : { result: 'ignore', reason: 'no source matched and builtin failed (source builtin failed)' };
      expect(decided.map((d) => d.outcome)).toEqual([expected, expected, expected]);
      expect(lines().filter((l) => l.includes('source failed'))).toHaveLength(1);
    }
  });

  it('a single request goes to authorize, not to the batch call', async () => {
    const a = new BatchingSource('builtin', {}, { 'alice t/1': { result: 'allow', reason: 'rule 1 matched' } });
    const { chain } = chainOf([link(a)]);
    expect((await chain.authorizeMany([reqs[0]!]))[0]!.outcome).toEqual({ result: 'allow', reason: 'rule 1 matched' });
    expect(a.batches).toEqual([]);
    expect(await chain.authorizeMany([])).toEqual([]);
  });
});

describe('createChain: superuser (mosquitto-go-auth)', () => {
  it('the first source that knows the user answers; nobody knowing it is no', async () => {
    const a = new FakeSource('builtin', { bob: { result: 'deny', reason: 'x' } });
    const b = new FakeSource('sql', { alice: { result: 'allow', is_superuser: true, reason: 'password verified' } });
    const { chain } = chainOf([link(a), link(b)]);
    expect((await chain.superuser({ username: 'alice', client_attrs: {} })).outcome).toEqual({ is_superuser: true, reason: 'fake' });
    expect((await chain.superuser({ username: 'bob', client_attrs: {} })).outcome).toEqual({ is_superuser: false, reason: 'fake' });
    const nobody = await chain.superuser({ username: 'carol', client_attrs: {} });
    expect(nobody.outcome).toEqual({ is_superuser: false, reason: 'no source knew the user' });
    expect(nobody.trace.decision).toBe('deny');
  });

  it('a source that throws answers by its failure policy: ignore asks the next source, deny stops the chain with no', async () => {
    const broken = new FakeSource('builtin', {});
    Object.defineProperty(broken, 'superuser', { value: async () => Promise.reject(new Error('store gone')) });
    const sql = new FakeSource('sql', { alice: { result: 'allow', is_superuser: true, reason: 'password verified' } });
    const lenient = await chainOf([link(broken, 'ignore'), link(sql)]).chain.superuser({ username: 'alice', client_attrs: {} });
    expect(lenient.outcome).toEqual({ is_superuser: true, reason: 'fake' });
    expect(lenient.trace.steps.map((s) => [s.source, s.result, s.reason])).toEqual([
      ['builtin', 'ignore', 'source builtin failed'],
      ['sql', 'allow', 'fake'],
    ]);
    const { chain, lines } = chainOf([link(broken, 'deny'), link(sql)]);
    const strict = await chain.superuser({ username: 'alice', client_attrs: {} });
    expect(strict.outcome).toEqual({ is_superuser: false, reason: 'source builtin failed' });
    expect(strict.trace).toMatchObject({ decision: 'deny', source: 'builtin' });
    expect(strict.trace.steps.map((s) => [s.source, s.result])).toEqual([['builtin', 'deny']]);
    expect(lines().filter((l) => l.includes('"source failed"') && l.includes('"policy":"deny"'))).toHaveLength(1);
  });

  it('a source that cannot answer without a password stops the chain with no: a later source never grants superuser to a name it did not log in', async () => {
    const http = new FakeSource('http', { alice: { result: 'allow', is_superuser: false, reason: 'password verified' } });
    Object.defineProperty(http, 'superuser', { value: undefined });
    const sql = new FakeSource('sql', { alice: { result: 'allow', is_superuser: true, reason: 'password verified' } });
    const { chain } = chainOf([link(http), link(sql)]);
    const { outcome, trace } = await chain.superuser({ username: 'alice', client_attrs: {} });
    expect(outcome).toEqual({ is_superuser: false, reason: 'http cannot answer superuser checks' });
    expect(trace.source).toBe('http');
    expect(trace.steps).toEqual([{ source: 'http', result: 'deny', reason: 'http cannot answer superuser checks: not a superuser', ms: 0 }]);
    expect((await chainOf([link(sql), link(http)]).chain.superuser({ username: 'alice', client_attrs: {} })).outcome).toEqual({ is_superuser: true, reason: 'fake' });
  });
});

describe('SOURCES setting', () => {
  it('an ordered list, each entry optionally with its failure policy', () => {
    expect(loadSettings({}).sources).toBeUndefined();
    expect(loadSettings({ SOURCES: 'sql' }).sources).toEqual([{ name: 'sql' }]);
    expect(loadSettings({ SOURCES: ' builtin , sql:deny ' }).sources).toEqual([{ name: 'builtin' }, { name: 'sql', failure: 'deny' }]);
    expect(loadSettings({ SOURCES: 'http:ignore,sql', HTTP_SOURCE_URL: 'https://auth.example/check' }).sources).toEqual([{ name: 'http', failure: 'ignore' }, { name: 'sql' }]);
  });

  it.each([['ldap'], ['sql,sql'], ['sql:allow'], ['builtin,,sql'], ['sql:deny,sql:ignore']])('%s stops start-up naming SOURCES', (value) => {
    const err = thrownBy(() => loadSettings({ SOURCES: value }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe('SOURCES');
  });

  it("a source's own policy overrides AUTHN_BACKEND_FAILURE and AUTHZ_BACKEND_FAILURE for it alone", async () => {
    const down = new FakeStore(new BackendError('connection refused', 'ECONNREFUSED'));
    const sql = new FakeSource('sql', {});
    const chainFor = (env: Record<string, string>) => createContainer(loadSettings(env), { store: down, log: memoryLogger().log, sources: { builtin: sql } }).chain();
    // builtin (a fake here) ignores; the real sql source fails and answers its policy.
    expect((await (await chainFor({ SOURCES: 'builtin,sql' })).authenticate(alice)).outcome.result).toBe('ignore');
    expect((await (await chainFor({ SOURCES: 'builtin,sql:deny' })).authenticate(alice)).outcome).toEqual({ result: 'deny', reason: 'backend failure: connection refused' });
    expect((await (await chainFor({ SOURCES: 'builtin,sql' })).authorize(pub('alice', 't'))).outcome.result).toBe('deny');
    expect((await (await chainFor({ SOURCES: 'builtin,sql:ignore', AUTHZ_NO_MATCH: 'allow' })).authorize(pub('alice', 't'))).outcome.result).toBe('ignore');
  });

  it('without SOURCES: builtin,sql when both built-in tables exist, else sql alone', async () => {
    const chainOver = async (tables: string[]) => (await createContainer(loadSettings({}), { store: new FakeStore(tables.map((name) => ({ name }))), log: memoryLogger().log }).chain()).names;
    expect(await chainOver([])).toEqual(['sql']);
    expect(await chainOver(['mqtt_builtin_user'])).toEqual(['sql']);
    expect(await chainOver(['mqtt_builtin_user', 'mqtt_builtin_acl'])).toEqual(['builtin', 'sql']);
  });

  it('without SOURCES, a database that cannot say whether the tables exist fails the request (answered by the failure policy), and is asked again next time', async () => {
    let down = true;
    const store = new FakeStore([]);
    store.query = async () => {
      if (down) throw new BackendError('connection refused', 'ECONNREFUSED');
      return [{ name: 'mqtt_builtin_user' }, { name: 'mqtt_builtin_acl' }];
    };
    const c = createContainer(loadSettings({}), { store, log: memoryLogger().log });
    await expect(c.chain()).rejects.toThrow('connection refused');
    down = false;
    expect((await c.chain()).names).toEqual(['builtin', 'sql']);
  });
});
