import { createAuthHandler } from '../../functions/auth.js';
import { createContainer } from '../../shared/container.js';
import { BackendError, ConfigError } from '../../shared/errors.js';
import { brokerAuth, httpErrors, httpInput } from '../../shared/http/middleware.js';
import { parseAuthnRequest } from '../../shared/http/input.js';
import { anyToken, checkToken, redactPath, sameToken, splitPathToken, splitTokens, tokenProblem, tokensProblem } from '../../shared/http/token.js';
import { loadSettings } from '../../shared/settings.js';
import { apiEvent, context, FakeStore, memoryLogger } from '../helpers/harness.js';
import middy from '@middy/core';

/** The broker token check: what counts as presenting the token, and what the middleware answers. */

const TOKEN = 'f3a9c0d1e2b4-token';
const REQUIRED = 'broker token required: send "Authorization: Bearer <token>" or prefix the path with /k/<token>';
const none = { authorization: undefined, pathSegment: undefined };

describe('checkToken', () => {
  it('accepts a Bearer header with the right token, the scheme in any case', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) expect(checkToken(TOKEN, { ...none, authorization: `${scheme} ${TOKEN}` })).toEqual({ ok: true });
    expect(checkToken(TOKEN, { ...none, authorization: `  Bearer \t ${TOKEN}  ` })).toEqual({ ok: true });
  });

  it('accepts the right path token, percent-decoded', () => {
    expect(checkToken(TOKEN, { ...none, pathSegment: TOKEN })).toEqual({ ok: true });
    expect(checkToken('a/b%c+d', { ...none, pathSegment: 'a%2Fb%25c%2Bd' })).toEqual({ ok: true });
    expect(checkToken('a/b%c+d', { ...none, pathSegment: 'a%2fb%25c+d' })).toEqual({ ok: true });
    expect(checkToken('a/b%c+d', { ...none, pathSegment: 'a/b%c+d' })).toEqual({ ok: false, problem: 'path token is not valid percent-encoding' });
  });

  it('refuses a wrong token in either place, and a prefix or extension of the right one', () => {
    const wrong = { ok: false, problem: 'broker token is wrong' };
    expect(checkToken(TOKEN, { ...none, authorization: 'Bearer nope' })).toEqual(wrong);
    expect(checkToken(TOKEN, { ...none, pathSegment: 'nope' })).toEqual(wrong);
    expect(checkToken(TOKEN, { ...none, authorization: `Bearer ${TOKEN.slice(0, -1)}` })).toEqual(wrong);
    expect(checkToken(TOKEN, { ...none, pathSegment: `${TOKEN}x` })).toEqual(wrong);
    expect(checkToken(TOKEN, { ...none, pathSegment: TOKEN.toUpperCase() })).toEqual(wrong);
  });

  it('drops only spaces and tabs around the header value: other Unicode whitespace is not part of a right token', () => {
    const malformed = { ok: false, problem: 'Authorization header is malformed; expected "Bearer <token>"' };
    for (const ws of ['\u00a0', '\ufeff', '\u2028', '\u3000', '\u000b', '\r', '\n']) {
      expect(checkToken(TOKEN, { ...none, authorization: `Bearer ${TOKEN}${ws}` })).toEqual(malformed);
      expect(checkToken(TOKEN, { ...none, authorization: `${ws}Bearer ${TOKEN}` })).not.toEqual({ ok: true });
      expect(checkToken(TOKEN, { ...none, pathSegment: encodeURIComponent(`${TOKEN}${ws}`) })).toEqual({ ok: false, problem: 'broker token is wrong' });
    }
  });

  it('needs every credential presented to be right', () => {
    expect(checkToken(TOKEN, { authorization: `Bearer ${TOKEN}`, pathSegment: TOKEN })).toEqual({ ok: true });
    expect(checkToken(TOKEN, { authorization: `Bearer ${TOKEN}`, pathSegment: 'nope' })).toEqual({ ok: false, problem: 'broker token is wrong' });
    expect(checkToken(TOKEN, { authorization: 'Bearer nope', pathSegment: TOKEN })).toEqual({ ok: false, problem: 'broker token is wrong' });
    expect(checkToken(TOKEN, { authorization: `Basic ${TOKEN}`, pathSegment: TOKEN })).toEqual({ ok: false, problem: 'Authorization header must use the Bearer scheme' });
  });

  it('refuses a missing token, another scheme, an empty token and a malformed header', () => {
    expect(checkToken(TOKEN, none)).toEqual({ ok: false, problem: REQUIRED });
    expect(checkToken(TOKEN, { ...none, authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` })).toEqual({ ok: false, problem: 'Authorization header must use the Bearer scheme' });
    expect(checkToken(TOKEN, { ...none, authorization: TOKEN })).toEqual({ ok: false, problem: 'Authorization header must use the Bearer scheme' });
    expect(checkToken(TOKEN, { ...none, authorization: 'Bearer' })).toEqual({ ok: false, problem: 'Authorization header has an empty Bearer token' });
    expect(checkToken(TOKEN, { ...none, authorization: 'Bearer   ' })).toEqual({ ok: false, problem: 'Authorization header has an empty Bearer token' });
    expect(checkToken(TOKEN, { ...none, authorization: '' })).toEqual({ ok: false, problem: 'Authorization header is malformed; expected "Bearer <token>"' });
    expect(checkToken(TOKEN, { ...none, authorization: `Bearer ${TOKEN} extra` })).toEqual({ ok: false, problem: 'Authorization header is malformed; expected "Bearer <token>"' });
    expect(checkToken(TOKEN, { ...none, authorization: `Bearer ${TOKEN},Bearer ${TOKEN}` })).toEqual({ ok: false, problem: 'Authorization header is malformed; expected "Bearer <token>"' });
    expect(checkToken(TOKEN, { ...none, authorization: `Bearer ${TOKEN},x` })).toEqual({ ok: false, problem: 'broker token is wrong' });
    expect(checkToken(TOKEN, { ...none, pathSegment: '' })).toEqual({ ok: false, problem: 'path token is empty' });
  });

  it('never puts the presented or the expected token in a problem', () => {
    const problems = [
      checkToken(TOKEN, { ...none, authorization: 'Bearer leak-me-1' }),
      checkToken(TOKEN, { ...none, authorization: 'Token leak-me-1' }),
      checkToken(TOKEN, { ...none, pathSegment: 'leak-me-1%' }),
      checkToken(TOKEN, { ...none, pathSegment: 'leak-me-1' }),
    ];
    for (const p of problems) expect(JSON.stringify(p)).not.toMatch(/leak-me-1|f3a9c0d1/);
  });
});

describe('two tokens: the current and the previous', () => {
  const NEW = 'new-5e6f7a';
  const OLD = 'old-1b2c3d';

  it('splitTokens splits at ASCII whitespace only, dropping it at the ends', () => {
    expect(splitTokens(`${NEW} ${OLD}`)).toEqual([NEW, OLD]);
    expect(splitTokens(`\n ${NEW}\r\n\t${OLD}\n`)).toEqual([NEW, OLD]);
    expect(splitTokens(NEW)).toEqual([NEW]);
    expect(splitTokens(' \n')).toEqual([]);
    expect(splitTokens('')).toEqual([]);
    expect(splitTokens(`${NEW}\u00a0${OLD}`)).toEqual([`${NEW}\u00a0${OLD}`]);
  });

  it('tokenProblem accepts one or two tokens of visible ASCII and names what is wrong otherwise, quoting no token', () => {
    expect(tokenProblem(NEW)).toBeUndefined();
    expect(tokenProblem(`${NEW} ${OLD}`)).toBeUndefined();
    expect(tokenProblem(`${NEW}\n${OLD}\n`)).toBeUndefined();
    const problems = [tokenProblem(`${NEW} ${OLD} third-9f9f`), tokenProblem('  '), tokenProblem(`${NEW} öld-1b2c3d`), tokenProblem(`${NEW}\u00a0${OLD}`)];
    expect(problems).toEqual([
      'holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)',
      'holds no token',
      'each token must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`); separate the current and the previous token with whitespace',
      'the token must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`); separate the current and the previous token with whitespace',
    ]);
    for (const p of problems) expect(p).not.toMatch(/new-5e6f7a|1b2c3d|third-9f9f/);
    expect(tokensProblem([NEW, OLD])).toBeUndefined();
    expect(tokensProblem([NEW, OLD, NEW])).toBe('holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)');
    expect(tokensProblem([''])).toBe('the token must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`); separate the current and the previous token with whitespace');
  });

  it('checkToken accepts either accepted token, in the header or the path; anything else is wrong', () => {
    const both = [NEW, OLD];
    expect(checkToken(both, { ...none, authorization: `Bearer ${NEW}` })).toEqual({ ok: true });
    expect(checkToken(both, { ...none, authorization: `Bearer ${OLD}` })).toEqual({ ok: true });
    expect(checkToken(both, { ...none, pathSegment: NEW })).toEqual({ ok: true });
    expect(checkToken(both, { ...none, pathSegment: OLD })).toEqual({ ok: true });
    expect(checkToken(both, { authorization: `Bearer ${NEW}`, pathSegment: OLD })).toEqual({ ok: true });
    const wrong = { ok: false, problem: 'broker token is wrong' };
    expect(checkToken(both, { ...none, authorization: 'Bearer third-9f9f' })).toEqual(wrong);
    expect(checkToken(both, { ...none, pathSegment: `${NEW}%20${OLD}` })).toEqual(wrong);
    expect(checkToken(both, { ...none, pathSegment: `${NEW}${OLD}` })).toEqual(wrong);
    expect(checkToken(both, { authorization: `Bearer ${NEW}`, pathSegment: 'third-9f9f' })).toEqual(wrong);
    expect(checkToken(both, { authorization: 'Bearer third-9f9f', pathSegment: OLD })).toEqual(wrong);
    expect(checkToken([NEW], { ...none, authorization: `Bearer ${OLD}` })).toEqual(wrong);
    expect(checkToken([], { ...none, authorization: `Bearer ${NEW}` })).toEqual(wrong);
  });

  it('anyToken is true for a match in any position, false for none', () => {
    expect(anyToken([NEW, OLD], NEW)).toBe(true);
    expect(anyToken([NEW, OLD], OLD)).toBe(true);
    expect(anyToken([NEW, NEW], NEW)).toBe(true);
    expect(anyToken([NEW, OLD], 'third-9f9f')).toBe(false);
    expect(anyToken([NEW, OLD], '')).toBe(false);
    expect(anyToken([], NEW)).toBe(false);
  });
});

describe('sameToken', () => {
  it('is equality of the full strings, whatever their lengths', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abc', 'abd')).toBe(false);
    expect(sameToken('abc', 'abcd')).toBe(false);
    expect(sameToken('abc', '')).toBe(false);
    expect(sameToken('é', 'e\u0301')).toBe(false);
  });
});

describe('splitPathToken and redactPath', () => {
  it('takes /k/<token> only as the first two segments', () => {
    expect(splitPathToken('/k/abc123/rabbitmq/user')).toEqual({ segment: 'abc123', rest: '/rabbitmq/user' });
    expect(splitPathToken('/k/a%2Fb/mqtt/auth')).toEqual({ segment: 'a%2Fb', rest: '/mqtt/auth' });
    expect(splitPathToken('/k//mqtt/auth')).toEqual({ segment: '', rest: '/mqtt/auth' });
    expect(splitPathToken('/k/abc')).toEqual({ segment: 'abc', rest: '/' });
    expect(splitPathToken('/k')).toBeUndefined();
    expect(splitPathToken('/mqtt/auth')).toBeUndefined();
    expect(splitPathToken('/prod/k/abc/mqtt/auth')).toBeUndefined();
    expect(splitPathToken('/kk/abc/mqtt/auth')).toBeUndefined();
  });

  it('after a stage or base path when API Gateway matched a {token} route', () => {
    expect(splitPathToken('/prod/k/abc/mqtt/auth', true)).toEqual({ segment: 'abc', rest: '/prod/mqtt/auth' });
    expect(splitPathToken('/k/abc/mqtt/auth', true)).toEqual({ segment: 'abc', rest: '/mqtt/auth' });
  });

  it('redacts the token segment wherever a k segment is', () => {
    expect(redactPath('/k/abc123/rabbitmq/user')).toBe('/k/[redacted]/rabbitmq/user');
    expect(redactPath('/prod/k/abc123/mqtt/auth')).toBe('/prod/k/[redacted]/mqtt/auth');
    expect(redactPath('/k/abc123')).toBe('/k/[redacted]');
    expect(redactPath('/mqtt/auth')).toBe('/mqtt/auth');
    expect(redactPath('/k')).toBe('/k');
  });
});

describe('Function: brokerAuth in a handler', () => {
  const store = () => new FakeStore([]);
  const handler = (env: Record<string, string>, opts: { token?: () => Promise<readonly string[] | undefined> } = {}) => {
    const mem = memoryLogger();
    const c = createContainer(loadSettings(env), { store: store(), log: mem.log });
    const h = createAuthHandler(opts.token ? { ...c, brokerToken: opts.token } : c);
    return { h, mem };
  };
  const ask = async (h: ReturnType<typeof handler>['h'], path: string, headers: Record<string, string> = {}, format: 'v1' | 'v2' = 'v2') => {
    const res = await h(apiEvent(path, { contentType: 'application/json', body: '{"username":"ghost","password":"pw"}', headers, format }), context);
    return { status: res.statusCode, contentType: res.headers?.['content-type'], body: res.body };
  };
  const ignore = { status: 200, contentType: 'application/json', body: '{"result":"ignore"}' };
  const refused = (problem: string) => ({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: problem }) });

  it('answers 401 with a JSON error and WWW-Authenticate before the request is parsed or a query runs', async () => {
    const s = store();
    const h = createAuthHandler(createContainer(loadSettings({ BROKER_TOKEN: TOKEN }), { store: s, log: memoryLogger().log }));
    const res = await h(apiEvent('/mqtt/auth', { contentType: 'application/json', body: '{"username":' }), context);
    expect(res).toEqual({ statusCode: 401, headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }, body: JSON.stringify({ error: REQUIRED }) });
    expect(s.calls).toEqual([]);
  });

  it('admits Bearer and path tokens in both payload formats; refuses wrong ones', async () => {
    const { h } = handler({ BROKER_TOKEN: TOKEN });
    for (const format of ['v1', 'v2'] as const) {
      expect(await ask(h, '/mqtt/auth', { authorization: `Bearer ${TOKEN}` }, format)).toEqual(ignore);
      expect(await ask(h, `/k/${TOKEN}/mqtt/auth`, {}, format)).toEqual(ignore);
      expect(await ask(h, '/mqtt/auth', { authorization: 'Bearer nope' }, format)).toEqual(refused('broker token is wrong'));
      expect(await ask(h, '/k/nope/mqtt/auth', {}, format)).toEqual(refused('broker token is wrong'));
      expect(await ask(h, '/mqtt/auth', {}, format)).toEqual(refused(REQUIRED));
    }
  });

  it('logs a refusal with its problem and never the token, the path token or the presented value', async () => {
    const { h, mem } = handler({ BROKER_TOKEN: TOKEN });
    await ask(h, '/k/presented-wrong-1/mqtt/auth');
    await ask(h, '/mqtt/auth', { authorization: 'Bearer presented-wrong-2' });
    await ask(h, `/k/${TOKEN}/mqtt/auth`);
    const lines = mem.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l['msg'] === 'broker token refused').map((l) => [l['route'], l['problem']])).toEqual([
      ['auth', 'broker token is wrong'],
      ['auth', 'broker token is wrong'],
    ]);
    expect(mem.lines().join('\n')).not.toMatch(/presented-wrong|f3a9c0d1/);
  });

  it('locally without a token: admits everyone, the /k/ prefix included (stripped)', async () => {
    const { h } = handler({});
    expect(await ask(h, '/mqtt/auth')).toEqual(ignore);
    expect(await ask(h, '/k/anything/mqtt/auth')).toEqual(ignore);
    expect(await ask(h, '/mqtt/auth', { authorization: 'Bearer whatever' })).toEqual(ignore);
  });

  it('on Lambda without a token: refuses every request with an error log (fail closed)', async () => {
    const { h, mem } = handler({ AWS_LAMBDA_FUNCTION_NAME: 'maf-prod-auth' });
    expect(await ask(h, '/mqtt/auth')).toEqual(refused('the endpoint has no broker token configured'));
    expect(await ask(h, '/mqtt/auth', { authorization: 'Bearer whatever' })).toEqual(refused('the endpoint has no broker token configured'));
    const errors = mem.lines().map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 50);
    expect(errors.map((l) => l['msg'])).toEqual([
      'no broker token configured (BROKER_TOKEN_SECRET_ARN or BROKER_TOKEN): refusing every request',
      'no broker token configured (BROKER_TOKEN_SECRET_ARN or BROKER_TOKEN): refusing every request',
    ]);
  });

  it('on Lambda with a token: checks it as anywhere else', async () => {
    const { h } = handler({ AWS_LAMBDA_FUNCTION_NAME: 'maf-prod-auth', BROKER_TOKEN: TOKEN });
    expect(await ask(h, '/mqtt/auth', { authorization: `Bearer ${TOKEN}` })).toEqual(ignore);
    expect(await ask(h, '/mqtt/auth')).toEqual(refused(REQUIRED));
  });

  it('a token that cannot be read is 503, logged without the secret; never allow', async () => {
    const { h, mem } = handler({}, { token: () => Promise.reject(new BackendError('cannot read secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:t (TimeoutError)', 'SECRET_UNAVAILABLE')) });
    expect(await ask(h, '/mqtt/auth', { authorization: `Bearer ${TOKEN}` })).toEqual({ status: 503, contentType: 'application/json', body: '{"error":"broker token unavailable"}' });
    const line = JSON.parse(mem.lines().find((l) => l.includes('broker token unavailable')) ?? '{}') as Record<string, unknown>;
    expect([line['level'], line['route'], line['problem']]).toEqual([50, 'auth', 'cannot read secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:t (TimeoutError)']);
  });

  it('after a failed read, answers 503 without asking again until retryAfterMs has passed', async () => {
    let calls = 0;
    const source = () => {
      calls += 1;
      return calls === 1 ? Promise.reject(new BackendError('cannot read secret arn:x (ThrottlingException)', 'SECRET_UNAVAILABLE')) : Promise.resolve([TOKEN]);
    };
    const c = createContainer(loadSettings({}), { store: store(), log: memoryLogger().log });
    const patient = createAuthHandler({ ...c, brokerToken: source });
    const unavailable = { status: 503, contentType: 'application/json', body: '{"error":"broker token unavailable"}' };
    expect(await ask(patient, '/mqtt/auth', { authorization: `Bearer ${TOKEN}` })).toEqual(unavailable);
    expect(await ask(patient, '/mqtt/auth', { authorization: `Bearer ${TOKEN}` })).toEqual(unavailable);
    expect(calls).toBe(1);

    calls = 0;
    const eager = middy()
      .use(httpErrors({ log: c.log, failure: 'ignore', route: 'auth' }))
      .use(brokerAuth({ ...c, brokerToken: source }, 'auth', { retryAfterMs: 0 }))
      .use(httpInput(parseAuthnRequest))
      .handler(async () => ({ statusCode: 200, body: 'admitted' }));
    const call = async (auth: string) => (await eager(apiEvent('/mqtt/auth', { contentType: 'application/json', body: '{"username":"u"}', headers: { authorization: auth } }), context)).statusCode;
    expect(await call(`Bearer ${TOKEN}`)).toBe(503);
    expect(await call(`Bearer ${TOKEN}`)).toBe(200);
    expect(await call('Bearer nope')).toBe(401);
    expect(calls).toBe(3);
  });

  it('an unusable token list (a token with a space, three tokens, none) refuses every request with an error log', async () => {
    for (const [tokens, problem] of [
      [['two words'], 'the token must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`); separate the current and the previous token with whitespace'],
      [['tok-a1', 'tok-b2', 'tok-c3'], 'holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)'],
      [[], 'holds no token'],
    ] as const) {
      const { h, mem } = handler({}, { token: () => Promise.resolve(tokens) });
      expect(await ask(h, '/mqtt/auth', { authorization: 'Bearer two' })).toEqual(refused('the endpoint has no usable broker token configured'));
      expect(await ask(h, '/mqtt/auth', { authorization: 'Bearer tok-a1' })).toEqual(refused('the endpoint has no usable broker token configured'));
      const errors = mem.lines().map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 50);
      expect(errors.map((l) => l['msg'])).toEqual([`the configured broker token ${problem}: refusing every request`, `the configured broker token ${problem}: refusing every request`]);
      expect(mem.lines().join('\n')).not.toMatch(/two words|tok-a1|tok-b2|tok-c3/);
    }
  });

  it('with two tokens (the current and the previous) admits either one, in either form; a third is refused', async () => {
    const { h, mem } = handler({ BROKER_TOKEN: 'new-4d1e\nold-9c2b' });
    for (const format of ['v1', 'v2'] as const) {
      for (const t of ['new-4d1e', 'old-9c2b']) {
        expect(await ask(h, '/mqtt/auth', { authorization: `Bearer ${t}` }, format)).toEqual(ignore);
        expect(await ask(h, `/k/${t}/mqtt/auth`, {}, format)).toEqual(ignore);
      }
      expect(await ask(h, '/k/old-9c2b/mqtt/auth', { authorization: 'Bearer new-4d1e' }, format)).toEqual(ignore);
      expect(await ask(h, '/mqtt/auth', { authorization: 'Bearer third-7a7a' }, format)).toEqual(refused('broker token is wrong'));
      expect(await ask(h, '/k/third-7a7a/mqtt/auth', {}, format)).toEqual(refused('broker token is wrong'));
      expect(await ask(h, '/mqtt/auth', { authorization: 'Bearer new-4d1e old-9c2b' }, format)).toEqual(refused('Authorization header is malformed; expected "Bearer <token>"'));
      expect(await ask(h, '/k/new-4d1e%20old-9c2b/mqtt/auth', {}, format)).toEqual(refused('broker token is wrong'));
      expect(await ask(h, '/k/old-9c2b/mqtt/auth', { authorization: 'Bearer third-7a7a' }, format)).toEqual(refused('broker token is wrong'));
    }
    expect(mem.lines().join('\n')).not.toMatch(/new-4d1e|old-9c2b|third-7a7a/);
  });

  it('a handler built without brokerAuth fails closed: its failure answer, never a decision', async () => {
    const mem = memoryLogger();
    const bare = middy().use(httpErrors({ log: mem.log, failure: 'deny', route: 'auth' })).use(httpInput(parseAuthnRequest)).handler(async () => ({ statusCode: 200, body: '{"result":"allow"}' }));
    const res = await bare(apiEvent('/mqtt/auth', { contentType: 'application/json', body: '{"username":"u","password":"p"}' }), context);
    expect(res).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"result":"deny"}' });
    expect(mem.lines().join('\n')).toContain('brokerAuth middleware must run before httpInput');
    // and brokerAuth placed after httpInput is just as closed
    const late = middy()
      .use(httpErrors({ log: mem.log, failure: 'ignore', route: 'auth' }))
      .use(httpInput(parseAuthnRequest))
      .use(brokerAuth(createContainer(loadSettings({}), { store: new FakeStore([]), log: mem.log }), 'auth'))
      .handler(async () => ({ statusCode: 200, body: '{"result":"allow"}' }));
    expect((await late(apiEvent('/mqtt/auth', { contentType: 'application/json', body: '{"username":"u"}' }), context)).body).toBe('{"result":"ignore"}');
  });
});

describe('BROKER_TOKEN setting', () => {
  const rejection = (value: string): ConfigError => {
    let err: unknown;
    try {
      loadSettings({ BROKER_TOKEN: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  };

  it('holds one or two tokens of visible ASCII, separated by whitespace; kept as given', () => {
    expect(loadSettings({ BROKER_TOKEN: 'a-B_c.9~!' }).brokerToken).toBe('a-B_c.9~!');
    expect(loadSettings({ BROKER_TOKEN: 'new-1 old-2' }).brokerToken).toBe('new-1 old-2');
    expect(loadSettings({ BROKER_TOKEN: 'new-1\nold-2\n' }).brokerToken).toBe('new-1\nold-2\n');
    expect(loadSettings({ BROKER_TOKEN: 'tab\there' }).brokerToken).toBe('tab\there');
  });

  it('a token that is not visible ASCII: the error names the setting, not the value', () => {
    for (const bad of ['ünïcode', 'new-1 öld-2', 'no\u00a0break']) {
      const err = rejection(bad);
      expect(err.setting).toBe('BROKER_TOKEN');
      expect(err.message).toBe(
        bad.includes(' ')
          ? 'BROKER_TOKEN: each token must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`); separate the current and the previous token with whitespace'
          : 'BROKER_TOKEN: the token must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`); separate the current and the previous token with whitespace',
      );
    }
  });

  it('three tokens or none: the error counts them and quotes none', () => {
    const three = rejection('secret-a1 secret-b2 secret-c3');
    expect([three.setting, three.message]).toEqual(['BROKER_TOKEN', 'BROKER_TOKEN: holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)']);
    expect(rejection(' \n ').message).toBe('BROKER_TOKEN: must not be empty');
  });

  it('BROKER_TOKEN_TTL_S: 300 s unless set, 30 to 86400', () => {
    expect(loadSettings({}).brokerTokenTtlS).toBe(300);
    expect(loadSettings({ BROKER_TOKEN_TTL_S: '30' }).brokerTokenTtlS).toBe(30);
    expect(loadSettings({ BROKER_TOKEN_TTL_S: '86400' }).brokerTokenTtlS).toBe(86_400);
    for (const [bad, problem] of [
      ['29', 'Too small: expected number to be >=30'],
      ['86401', 'Too big: expected number to be <=86400'],
      ['1.5', 'Invalid input: expected int, received number'],
    ]) {
      let err: unknown;
      try {
        loadSettings({ BROKER_TOKEN_TTL_S: bad });
      } catch (e) {
        err = e;
      }
      expect([(err as ConfigError).setting, (err as ConfigError).message]).toEqual(['BROKER_TOKEN_TTL_S', `BROKER_TOKEN_TTL_S: ${problem}`]);
    }
  });

  it('AWS_LAMBDA_FUNCTION_NAME marks the Lambda runtime', () => {
    expect(loadSettings({}).onLambda).toBe(false);
    expect(loadSettings({ AWS_LAMBDA_FUNCTION_NAME: 'f' }).onLambda).toBe(true);
  });
});
