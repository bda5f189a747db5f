import type { PoolOptions } from './postgres.js';
import type { SqlStore } from './port.js';
import type { DbTls } from './tls.js';
import { AUTH_FAILED } from './retry.js';
import { cachedSecret, parseDbCredentials, type CachedSecret, type DbCredentials, type SecretOptions } from '../aws/secrets.js';
import { BackendError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Dialect } from '../template.js';
import type { Row } from '../types.js';

/**
 * A pool whose credentials come from a Secrets Manager secret. The pool opens on first use with the
 * cached credentials. When the database refuses them (the secret was rotated), the secret is
 * fetched again — once, shared by every request that saw the refusal — the pool is recreated and
 * the statement retried once. A refusal right after a fetch is answered as a failure, never looped.
 */
export function rotatingStore(dialect: Dialect, secret: CachedSecret, open: (creds: DbCredentials) => SqlStore, log: Logger): SqlStore {
  let current: Promise<SqlStore> | undefined;
  let rotation: Promise<SqlStore | undefined> | undefined;

  const opened = (): Promise<SqlStore> => {
    const p = secret.get().then((value) => open(parseDbCredentials(value, secret.arn)));
    p.catch(() => {
      if (current === p) current = undefined;
    });
    return p;
  };
  const pool = (): Promise<SqlStore> => (current ??= opened());

  /** The pool `failed` refused our login: one fresh secret and a new pool, or undefined when none is due. */
  function rotate(failed: Promise<SqlStore>): Promise<SqlStore | undefined> {
    if (current !== failed) return Promise.resolve(current); // another request already rotated
    rotation ??= (async () => {
      try {
        const value = await secret.refresh();
        if (value === undefined) return undefined;
        log.warn({ secretArn: secret.arn }, 'database refused the credentials; fetched the secret again (rotation) and reopening the pool');
        const next = Promise.resolve(open(parseDbCredentials(value, secret.arn)));
        current = next;
        void (await failed).close().catch(() => {});
        return next;
      } finally {
        rotation = undefined;
      }
    })();
    return rotation;
  }

  return {
    dialect,
    async query(text: string, params: readonly string[]): Promise<Row[]> {
      const used = pool();
      try {
        return await (await used).query(text, params);
      } catch (err) {
        if (!(err instanceof BackendError) || err.code !== AUTH_FAILED) throw err;
        const fresh = await rotate(used);
        if (fresh === undefined) throw err;
        return (await fresh).query(text, params);
      }
    },
    async close() {
      const p = current;
      current = undefined;
      if (p) await (await p).close();
    },
  };
}

/** Where RDS Proxy (or any pooled endpoint) is, and the secret holding the credentials. */
export interface ProxyTarget {
  readonly engine: 'postgres' | 'mysql';
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly secretArn: string;
  readonly tls: DbTls;
}

/**
 * The pooled driver for `target.engine` (only that one is loaded) with credentials from Secrets
 * Manager, read once per container and again once on rotation.
 */
export async function createProxyStore(target: ProxyTarget, pool: PoolOptions, log: Logger, secretOptions: SecretOptions = {}): Promise<SqlStore> {
  const driver = target.engine === 'postgres' ? (await import('./postgres.js')).createPostgresStore : (await import('./mysql.js')).createMysqlStore;
  const secret = cachedSecret(target.secretArn, { timeoutMs: pool.connectTimeoutMs + pool.queryTimeoutMs, ...secretOptions });
  return rotatingStore(target.engine, secret, (c) => driver({ host: target.host, port: target.port, database: target.name, user: c.username, password: c.password, tls: target.tls }, pool), log);
}
