import postgres from 'postgres';
import type { DbTarget, SqlStore } from './port.js';
import { resilient } from './retry.js';
import { postgresSsl } from './tls-options.js';
import type { Row } from '../types.js';

export interface PoolOptions {
  readonly max: number;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
  readonly idleTimeoutS: number;
  readonly maxLifetimeS: number;
}

/** postgres.js connection options for host and credentials, with DB_TLS as its `ssl` (a fresh object each call). */
export function postgresWhere(target: DbTarget): { host: string; port: number; database: string; username: string; password: string; ssl: ReturnType<typeof postgresSsl> } {
  return { host: target.host, port: target.port, database: target.database, username: target.user, password: target.password, ssl: postgresSsl(target.tls, target.host) };
}

/**
 * postgres.js adapter. Unnamed statements (`prepare: false`) and no per-session `SET` (the
 * application name travels in the start-up packet), so a pooled proxy (RDS Proxy, PgBouncer) never
 * pins; values are always bound by the server. Connects by URL (its own sslmode) or by host and
 * credentials with DB_TLS (TLS is set up before the session starts: it does not pin either).
 */
export function createPostgresStore(target: string | DbTarget, pool: PoolOptions): SqlStore {
  const seconds = (ms: number): number => ms / 1000;
  const where = typeof target === 'string' ? {} : postgresWhere(target);
  const options = {
    ...where,
    max: pool.max,
    prepare: false,
    connect_timeout: seconds(pool.connectTimeoutMs),
    queue_timeout: seconds(pool.queryTimeoutMs),
    query_timeout: seconds(pool.queryTimeoutMs),
    idle_timeout: pool.idleTimeoutS,
    max_lifetime: pool.maxLifetimeS,
    onnotice: () => {},
    connection: { application_name: 'mqtt-auth-functions' },
  };
  const sql = typeof target === 'string' ? postgres(target, options) : postgres(options);
  return {
    dialect: 'postgres',
    async query(text: string, params: readonly string[]): Promise<Row[]> {
      const rows = await resilient(() => sql.unsafe(text, [...params]), pool.queryTimeoutMs + pool.connectTimeoutMs, 'PostgreSQL query', pool.max);
      return [...rows];
    },
    close: () => sql.end({ timeout: 1 }),
  };
}
