import { cachedSecret, loadBrokerToken } from '../../shared/aws/secrets.js';
import type { SqlStore } from '../../shared/db/port.js';
import { createProxyStore } from '../../shared/db/rotating.js';
import { BackendError, ConfigError } from '../../shared/errors.js';
import { CHECKOUT_TAG, freshDatabase, SCHEMA, type Engine, type TestDatabase } from '../helpers/databases.js';
import { rejectionOf } from '../helpers/errors.js';
import { containerFor, handlersFor, memoryLogger } from '../helpers/harness.js';
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

describe('loadBrokerToken', () => {
  it('reads a plain or JSON {"token"} secret; BROKER_TOKEN is the local form, the ARN wins over it', async () => {
    sm.put(arn('tok-plain'), 'plain-token-1\n');
    sm.put(arn('tok-json'), '{"token":"json-token-2"}');
    expect(await loadBrokerToken({ brokerToken: 'local', brokerTokenSecretArn: arn('tok-plain') })).toBe('plain-token-1');
    expect(await loadBrokerToken({ brokerToken: undefined, brokerTokenSecretArn: arn('tok-json') })).toBe('json-token-2');
    expect(await loadBrokerToken({ brokerToken: 'local', brokerTokenSecretArn: undefined })).toBe('local');
    expect(await loadBrokerToken({ brokerToken: undefined, brokerTokenSecretArn: undefined })).toBeUndefined();
  });

  it('a JSON secret without a token is a ConfigError naming the setting, never quoting the secret', async () => {
    sm.put(arn('tok-bad'), '{"tokn":"hush-hush-77"}');
    const err = (await rejectionOf(() => loadBrokerToken({ brokerToken: undefined, brokerTokenSecretArn: arn('tok-bad') }))) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.setting).toBe('BROKER_TOKEN_SECRET_ARN');
    expect(err.message).not.toContain('hush-hush-77');
  });

  it('the container reads it once however many requests ask', async () => {
    const a = arn('tok-container');
    sm.put(a, 'container-token');
    const c = containerFor({ BROKER_TOKEN_SECRET_ARN: a });
    expect(await Promise.all([c.brokerToken(), c.brokerToken()])).toEqual(['container-token', 'container-token']);
    expect(await c.brokerToken()).toBe('container-token');
    expect(sm.calls(a)).toBe(1);
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
