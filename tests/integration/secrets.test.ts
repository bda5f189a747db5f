import { createAuthHandler } from '../../functions/auth.js';
import { brokerTokenReader, cachedSecret } from '../../shared/aws/secrets.js';
import { createContainer } from '../../shared/container.js';
import type { SqlStore } from '../../shared/db/port.js';
import { createProxyStore } from '../../shared/db/rotating.js';
import { BackendError, ConfigError } from '../../shared/errors.js';
import { CHECKOUT_TAG, freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import { rejectionOf } from '../helpers/errors.js';
import { apiEvent, containerFor, context, FakeStore, handlersFor, memoryLogger } from '../helpers/harness.js';
import { loadSettings } from '../../shared/settings.js';
import { startSecretsServer, useLocalAws, type SecretsServer } from '../helpers/secrets-server.js';

/**
 * Secrets Manager through the SDK (its awsJson1_1 serialisation) against the local endpoint:
 * fetched once and cached, concurrent first callers sharing one call; database credentials fetched
 * again exactly once after the database really refused them (rotation), never in a loop.
 */

const arn = (name: string): string => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-${CHECKOUT_TAG}`;
const POOL = { max: 1, connectTimeoutMs: 1000, queryTimeoutMs: 1500, idleTimeoutS: 60, maxLifetimeS: 1800 };

let sm: SecretsServer;
beforeAll(async () => {
  sm = await startSecretsServer();
  useLocalAws({ secretsManager: sm.url });
});
afterAll(async () => sm.close());

describe('cachedSecret', () => {
  it('fetches once for concurrent and later callers', async () => {
    const a = arn('once');
    sm.put(a, 'v1');
    const secret = cachedSecret(a);
    expect(await Promise.all([secret.get(), secret.get(), secret.get()])).toEqual(['v1', 'v1', 'v1']);
    sm.put(a, 'v2');
    expect(await secret.get()).toBe('v1');
    expect(sm.calls(a)).toBe(1);
  });

  it('refresh fetches again once for concurrent callers, and not at all within minRefreshMs', async () => {
    const a = arn('refresh');
    sm.put(a, 'v1');
    const eager = cachedSecret(a, { minRefreshMs: 0 });
    expect(await eager.get()).toBe('v1');
    sm.put(a, 'v2');
    expect(await Promise.all([eager.refresh(), eager.refresh()])).toEqual(['v2', 'v2']);
    expect(await eager.get()).toBe('v2');
    expect(sm.calls(a)).toBe(2);
    const patient = cachedSecret(a, { minRefreshMs: 60_000 });
    expect(await patient.get()).toBe('v2');
    expect(await patient.refresh()).toBeUndefined();
    expect(sm.calls(a)).toBe(3);
  });

  it('a failed fetch names the ARN and the error, is not cached, and the next caller fetches again', async () => {
    const a = arn('missing');
    const secret = cachedSecret(a);
    const err = (await rejectionOf(() => secret.get())) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    expect(err.message).toBe(`cannot read secret ${a} (ResourceNotFoundException)`);
    sm.put(a, 'late');
    expect(await secret.get()).toBe('late');
    expect(sm.calls(a)).toBe(2);
  });
});

describe('brokerTokenReader', () => {
  const TTL = 300_000;
  const quiet = memoryLogger().log;
  /** A reader on a clock the test moves by hand. */
  const onClock = (secretArn: string, extra: { reReadWaitMs?: number } = {}) => {
    let t = 1_000;
    const mem = memoryLogger();
    const read = brokerTokenReader({ brokerToken: 'local-1', brokerTokenSecretArn: secretArn }, { ttlMs: TTL, clock: () => t, log: mem.log, ...extra });
    return { read, mem, advance: (ms: number) => void (t += ms) };
  };
  const warnings = (mem: ReturnType<typeof memoryLogger>) =>
    mem
      .lines()
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['level'] === 40)
      .map((l) => [l['msg'], l['arn'], l['problem']]);

  it('reads a plain or JSON {"token"} secret with one token or two; BROKER_TOKEN is the local form, the ARN wins over it', async () => {
    sm.put(arn('tok-plain'), 'plain-token-1\n');
    sm.put(arn('tok-json'), '{"token":"json-token-2"}');
    sm.put(arn('tok-two'), 'new-token-3\nold-token-4\n');
    sm.put(arn('tok-two-json'), '{"token":"new-token-5 old-token-6"}');
    const read = (brokerToken: string | undefined, brokerTokenSecretArn: string | undefined) => brokerTokenReader({ brokerToken, brokerTokenSecretArn }, { ttlMs: TTL, log: quiet })();
    expect(await read('local', arn('tok-plain'))).toEqual(['plain-token-1']);
    expect(await read(undefined, arn('tok-json'))).toEqual(['json-token-2']);
    expect(await read(undefined, arn('tok-two'))).toEqual(['new-token-3', 'old-token-4']);
    expect(await read(undefined, arn('tok-two-json'))).toEqual(['new-token-5', 'old-token-6']);
    expect(await read('local', undefined)).toEqual(['local']);
    expect(await read('local-new local-old', undefined)).toEqual(['local-new', 'local-old']);
    expect(await read(undefined, undefined)).toBeUndefined();
  });

  it.each([
    ['tok-bad', '{"tokn":"hush-hush-77"}', 'is JSON without a non-empty "token" string'],
    ['tok-three', 'hush-hush-77 hush-hush-78 hush-hush-79', 'holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)'],
    ['tok-three-json', '{"token":"hush-hush-77 hush-hush-78 hush-hush-79"}', 'holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)'],
    ['tok-blank', ' \n ', 'holds no token'],
    ['tok-blank-json', '{"token":"  "}', 'holds no token'],
    ['tok-shape', 'hush-hush-77 hüsh-78', 'each token must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`); separate the current and the previous token with whitespace'],
  ])('%s: a ConfigError naming the setting and the problem, never quoting the secret', async (name, value, problem) => {
    sm.put(arn(name), value);
    const err = (await rejectionOf(() => brokerTokenReader({ brokerToken: undefined, brokerTokenSecretArn: arn(name) }, { ttlMs: TTL, log: quiet })())) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.setting).toBe('BROKER_TOKEN_SECRET_ARN');
    expect(err.message).toBe(`BROKER_TOKEN_SECRET_ARN: secret ${arn(name)} ${problem}`);
    expect(err.message).not.toMatch(/hush|hüsh/);
  });

  it('reads once within the TTL however many ask, then once more when it has passed (one read for concurrent callers)', async () => {
    const a = arn('tok-ttl');
    sm.put(a, 'tok-new tok-old');
    const { read, advance } = onClock(a);
    expect(await Promise.all([read(), read(), read()])).toEqual([['tok-new', 'tok-old'], ['tok-new', 'tok-old'], ['tok-new', 'tok-old']]);
    expect(sm.calls(a)).toBe(1);
    sm.put(a, 'tok-new');
    advance(TTL - 1);
    expect(await read()).toEqual(['tok-new', 'tok-old']);
    expect(sm.calls(a)).toBe(1);
    advance(1);
    expect(await Promise.all([read(), read()])).toEqual([['tok-new'], ['tok-new']]);
    expect(sm.calls(a)).toBe(2);
    for (let i = 0; i < 20; i += 1) expect(await read()).toEqual(['tok-new']);
    expect(sm.calls(a)).toBe(2);
    advance(TTL);
    expect(await read()).toEqual(['tok-new']);
    expect(sm.calls(a)).toBe(3);
  });

  it('a failed re-read keeps the last good tokens, warns without a token, and is tried again only one TTL later', async () => {
    const a = arn('tok-hiccup');
    sm.put(a, 'kept-new kept-old');
    const { read, mem, advance } = onClock(a);
    expect(await read()).toEqual(['kept-new', 'kept-old']);
    sm.put(a, 'kept-new');
    advance(TTL);
    sm.failNext('AccessDeniedException', 1);
    expect(await read()).toEqual(['kept-new', 'kept-old']);
    expect(sm.calls(a)).toBe(2);
    expect(warnings(mem)).toEqual([['could not read the broker token secret again: keeping the tokens read before', a, `cannot read secret ${a} (AccessDeniedException)`]]);
    advance(TTL - 1);
    expect(await read()).toEqual(['kept-new', 'kept-old']);
    expect(sm.calls(a)).toBe(2);
    advance(1);
    expect(await read()).toEqual(['kept-new']);
    expect(sm.calls(a)).toBe(3);

    // A rotated secret that does not parse is a failed re-read too: the door stays as it was.
    sm.put(a, 'kept-x kept-y kept-z');
    advance(TTL);
    expect(await read()).toEqual(['kept-new']);
    expect(sm.calls(a)).toBe(4);
    expect(warnings(mem)[1]).toEqual(['could not read the broker token secret again: keeping the tokens read before', a, `BROKER_TOKEN_SECRET_ARN: secret ${a} holds 3 tokens; at most 2 are accepted (the current and the previous, separated by whitespace)`]);
    expect(mem.lines().join('\n')).not.toMatch(/kept-/);
  });

  it('a re-read slower than reReadWaitMs answers with the kept tokens meanwhile, then serves what it read', async () => {
    const a = arn('tok-slow');
    sm.put(a, 'slow-old');
    const { read, advance } = onClock(a, { reReadWaitMs: 0 });
    expect(await read()).toEqual(['slow-old']);
    sm.put(a, 'slow-new slow-old');
    advance(TTL);
    expect(await read()).toEqual(['slow-old']);
    // The read goes on; once it is back its tokens are served, and it was the only call.
    for (let i = 0; i < 100 && (await read())?.length === 1; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(await read()).toEqual(['slow-new', 'slow-old']);
    expect(sm.calls(a)).toBe(2);
  });

  it('a first read that fails is not kept: the next caller reads again', async () => {
    const a = arn('tok-first-fail');
    sm.put(a, 'first-ok');
    const { read } = onClock(a);
    sm.failNext('AccessDeniedException', 1);
    expect(((await rejectionOf(() => read())) as BackendError).message).toBe(`cannot read secret ${a} (AccessDeniedException)`);
    expect(await read()).toEqual(['first-ok']);
    expect(sm.calls(a)).toBe(2);
  });

  it('the container reads it once however many requests ask', async () => {
    const a = arn('tok-container');
    sm.put(a, 'container-token');
    const c = containerFor({ BROKER_TOKEN_SECRET_ARN: a });
    expect(await Promise.all([c.brokerToken(), c.brokerToken()])).toEqual([['container-token'], ['container-token']]);
    expect(await c.brokerToken()).toEqual(['container-token']);
    expect(sm.calls(a)).toBe(1);
  });
});

/**
 * A rotation as an operator runs it, through the authentication handler of a container whose clock
 * the test moves: `NEW OLD`, wait the TTL, brokers move to NEW, then `NEW` alone. No request with a
 * token the secret held at the time gets a 401, Secrets Manager is asked once per TTL, and a failed
 * read in the middle changes nothing.
 */
describe('rotating the broker token in Secrets Manager', () => {
  it('either token is admitted while the secret holds both; after the TTL the dropped one is refused', async () => {
    const a = arn('tok-rotation');
    const ttlS = 60;
    let t = 0;
    const mem = memoryLogger();
    sm.put(a, 'old-0a1b');
    const c = createContainer(loadSettings({ BROKER_TOKEN_SECRET_ARN: a, BROKER_TOKEN_TTL_S: String(ttlS), SOURCES: 'sql' }), { store: new FakeStore([]), log: mem.log, clock: () => t });
    const h = createAuthHandler(c);
    const status = async (token: string, how: 'header' | 'path' = 'header') => {
      const event = apiEvent(how === 'path' ? `/k/${token}/mqtt/auth` : '/mqtt/auth', { contentType: 'application/json', body: '{"username":"ghost","password":"pw"}', headers: how === 'path' ? {} : { authorization: `Bearer ${token}` } });
      const res = await h(event, context);
      return [res.statusCode, res.body];
    };
    const admitted = [200, '{"result":"ignore"}'];
    const wrong = [401, '{"error":"broker token is wrong"}'];

    expect(await status('old-0a1b')).toEqual(admitted);
    expect(await status('new-2c3d')).toEqual(wrong);
    expect(sm.calls(a)).toBe(1);

    // 1. the secret holds NEW and OLD; this environment still has OLD until the TTL has passed
    sm.put(a, 'new-2c3d\nold-0a1b');
    t += ttlS * 1000 - 1;
    expect(await status('old-0a1b')).toEqual(admitted);
    expect(sm.calls(a)).toBe(1);
    // 2. the TTL has passed: both are admitted, in both forms; a third is not
    t += 1;
    for (const how of ['header', 'path'] as const) {
      expect(await status('old-0a1b', how)).toEqual(admitted);
      expect(await status('new-2c3d', how)).toEqual(admitted);
      expect(await status('third-4e5f', how)).toEqual(wrong);
    }
    expect(sm.calls(a)).toBe(2);
    // wrong tokens do not make it ask Secrets Manager again
    for (let i = 0; i < 25; i += 1) expect(await status(`guess-${i}`)).toEqual(wrong);
    expect(sm.calls(a)).toBe(2);

    // a failed read one TTL later keeps both tokens working
    t += ttlS * 1000;
    sm.failNext('AccessDeniedException', 1);
    expect(await status('new-2c3d')).toEqual(admitted);
    expect(await status('old-0a1b')).toEqual(admitted);
    expect(sm.calls(a)).toBe(3);

    // 3. brokers move to NEW; 4. the secret holds NEW only, and one TTL later OLD is refused
    sm.put(a, 'new-2c3d');
    t += ttlS * 1000;
    expect(await status('new-2c3d')).toEqual(admitted);
    expect(await status('old-0a1b')).toEqual(wrong);
    expect(await status('old-0a1b', 'path')).toEqual(wrong);
    expect(sm.calls(a)).toBe(4);

    const lines = mem.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l['level'] === 40).map((l) => [l['msg'], l['problem']])).toEqual([
      ['could not read the broker token secret again: keeping the tokens read before', `cannot read secret ${a} (AccessDeniedException)`],
    ]);
    expect(mem.lines().join('\n')).not.toMatch(/0a1b|2c3d|4e5f/);
  });
});

/**
 * A real refusal per engine: MariaDB changes the user's password; PostgreSQL here trusts every local
 * login, so the rotation alternates users (as Secrets Manager's alternating-users strategy does) and
 * the old role loses LOGIN.
 */
describe.each<Engine>(['postgres', 'mysql'])('credentials from Secrets Manager on %s, rotated for real', (engine) => {
  let db: TestDatabase;
  const user = (n: number) => `maf_rot_${n}_${CHECKOUT_TAG}`;
  const stores: SqlStore[] = [];
  const name = () => new URL(db.url).pathname.slice(1);
  const open = async (secretArn: string, minRefreshMs: number) => {
    const mem = memoryLogger();
    const store = await createProxyStore({ engine, host: '127.0.0.1', port: engine === 'postgres' ? 5432 : 3306, name: name(), secretArn, tls: { mode: 'off' } }, POOL, mem.log, { minRefreshMs });
    stores.push(store);
    return { store, mem };
  };

  async function dropUsers(): Promise<void> {
    for (const n of [1, 2]) {
      if (engine === 'postgres') {
        await db.exec(`DROP OWNED BY ${user(n)}`).catch(() => {});
        await db.exec(`DROP ROLE IF EXISTS ${user(n)}`);
      } else await db.exec(`DROP USER IF EXISTS '${user(n)}'@'%'`);
    }
  }

  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_it_rot_${engine}`);
    await db.execFile(SCHEMA[engine]);
    await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt) VALUES ('dev', 'x', '')`);
    await dropUsers();
    for (const n of [1, 2]) {
      if (engine === 'postgres') {
        await db.exec(`CREATE ROLE ${user(n)} LOGIN PASSWORD 'first-pw'`);
        await db.exec(`GRANT SELECT ON mqtt_user TO ${user(n)}`);
      } else {
        await db.exec(`CREATE USER '${user(n)}'@'%' IDENTIFIED BY 'first-pw'`);
        await db.exec(`GRANT SELECT ON ${name()}.* TO '${user(n)}'@'%'`);
      }
    }
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await dropUsers();
    await db.close();
  });

  /** Makes the secret's current credentials stop working and returns the new secret value. */
  async function rotate(): Promise<string> {
    if (engine === 'postgres') {
      await db.exec(`ALTER ROLE ${user(1)} NOLOGIN`);
      return JSON.stringify({ username: user(2), password: 'first-pw', engine });
    }
    await db.exec(`ALTER USER '${user(1)}'@'%' IDENTIFIED BY 'second-pw'`);
    return JSON.stringify({ username: user(1), password: 'second-pw', engine });
  }
  async function unrotate(): Promise<void> {
    if (engine === 'postgres') await db.exec(`ALTER ROLE ${user(1)} LOGIN`);
    else await db.exec(`ALTER USER '${user(1)}'@'%' IDENTIFIED BY 'first-pw'`);
  }
  const first = () => JSON.stringify({ username: user(1), password: 'first-pw', engine, host: 'ignored', port: 1 });
  const select = "SELECT 'ok' AS found FROM mqtt_user WHERE username = " + (engine === 'postgres' ? '$1' : '?');

  it('after the database refuses the cached credentials, fetches the secret once, reopens the pool and answers', async () => {
    const a = arn(`rot-ok-${engine}`);
    sm.put(a, first());
    const { store, mem } = await open(a, 0);
    expect(await store.query(select, ['dev'])).toEqual([{ found: 'ok' }]);
    expect(sm.calls(a)).toBe(1);
    sm.put(a, await rotate());
    try {
      await db.killClientConnections(); // the pooled connection logged in before the rotation
      expect(await store.query(select, ['dev'])).toEqual([{ found: 'ok' }]);
      expect(sm.calls(a)).toBe(2);
      expect(await store.query(select, ['dev'])).toEqual([{ found: 'ok' }]);
      expect(sm.calls(a)).toBe(2);
      const logged = mem.lines().join('\n');
      expect(logged).toMatch(/fetched the secret again \(rotation\)/);
      expect(logged).not.toMatch(/first-pw|second-pw/);
    } finally {
      await unrotate();
    }
  });

  it('when the fresh secret is refused too, fails as a backend error after exactly one re-fetch (no loop)', async () => {
    const a = arn(`rot-bad-${engine}`);
    const wrong = JSON.stringify({ username: engine === 'postgres' ? `maf_rot_nobody_${CHECKOUT_TAG}` : user(1), password: 'wrong-pw-31' });
    sm.put(a, wrong);
    const { store } = await open(a, 0);
    const err = (await rejectionOf(() => store.query(select, ['dev']))) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).not.toContain('wrong-pw-31');
    expect(sm.calls(a)).toBe(2);
  });

  it('within minRefreshMs a refusal is answered as a failure without asking Secrets Manager again', async () => {
    const a = arn(`rot-cool-${engine}`);
    sm.put(a, JSON.stringify({ username: user(1), password: engine === 'postgres' ? 'x' : 'wrong-pw' }));
    if (engine === 'postgres') await db.exec(`ALTER ROLE ${user(1)} NOLOGIN`);
    try {
      const { store } = await open(a, 60_000);
      for (let i = 0; i < 3; i += 1) expect(((await rejectionOf(() => store.query(select, ['dev']))) as BackendError).code).toBe('AUTH_FAILED');
      expect(sm.calls(a)).toBe(1);
    } finally {
      await unrotate();
    }
  });

  it('a container with DB_DRIVER=proxy reads the credentials from DB_SECRET_ARN and answers', async () => {
    const a = arn(`rot-container-${engine}`);
    sm.put(a, first());
    const env = { DB_DRIVER: 'proxy', DB_ENGINE: engine, DB_HOST: '127.0.0.1', DB_PORT: engine === 'postgres' ? '5432' : '3306', DB_NAME: name(), DB_SECRET_ARN: a, DB_TLS: 'off', PASSWORD_HASH: '{"name":"plain","salt_position":"disable"}' };
    await db.exec(`INSERT INTO mqtt_user (username, password_hash, salt) VALUES ('plainer', 'open-sesame', '')`);
    const c = containerFor(env);
    const h = handlersFor(c);
    expect((await h.auth({ username: 'plainer', password: 'open-sesame' })).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth({ username: 'plainer', password: 'nope' })).body).toEqual({ result: 'deny' });
    expect(sm.calls(a)).toBe(1);
    await c.close();
  });
});
