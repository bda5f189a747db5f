import { BackendError } from '../errors.js';
import type { Settings } from '../settings.js';
import type { Dialect } from '../template.js';
import type { Row } from '../types.js';
import type { DbTarget, SqlRunner } from './port.js';
import { errorCode } from './retry.js';

/**
 * The write-capable port for operator tools (the `mqtt-auth` CLI): one connection held for the
 * whole run, so a transaction and a session's temporary table stay on it, except over the RDS Data
 * API, where only a transaction's statements share a connection. Values are always bound (`$n` for
 * PostgreSQL, `?` for MySQL); a statement without values may hold DDL.
 */
export interface SqlSession {
  readonly dialect: Dialect;
  /** False when state outside a transaction (a temporary table) may be gone by the next statement. */
  readonly keepsSessionState: boolean;
  query(text: string, params: readonly string[]): Promise<Row[]>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it rejects. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A session on the database the settings name: DATABASE_URL, embedded PGlite (DATA_DIR), the DB_*
 * form through RDS Proxy with credentials read once from Secrets Manager, or the RDS Data API (which
 * reads the secret itself and keeps no session state between calls).
 */
export async function openSession(settings: Settings): Promise<SqlSession> {
  const db = settings.database;
  if (db.engine === 'pglite') return (await import('./session-pglite.js')).pgliteSession(db.dataDir);
  if (!('driver' in db)) return open(db.engine, db.url);
  if (db.driver === 'data-api') {
    const { dataApiSession } = await import('./session-data-api.js');
    return dataApiSession({ dialect: db.engine, resourceArn: db.resourceArn, secretArn: db.secretArn, database: db.name, timeoutMs: DATA_API_CALL_MS });
  }
  const { cachedSecret, parseDbCredentials } = await import('../aws/secrets.js');
  const creds = parseDbCredentials(await cachedSecret(db.secretArn, { timeoutMs: settings.pool.connectTimeoutMs * 5 }).get(), db.secretArn);
  return open(db.engine, { host: db.host, port: db.port, database: db.name, user: creds.username, password: creds.password, tls: db.tls });
}

/** The longest one Data API call may take: the service ends a statement at 45 s, plus the round trip. */
const DATA_API_CALL_MS = 50_000;

async function open(engine: 'postgres' | 'mysql', target: string | DbTarget): Promise<SqlSession> {
  if (engine === 'postgres') return (await import('./session-postgres.js')).postgresSession(target);
  return (await import('./session-mysql.js')).mysqlSession(target);
}

/**
 * A driver failure as a BackendError. The message carries the server's own words (which name
 * columns and constraints, and may quote an identifier such as a user id) but never the detail
 * fields where PostgreSQL repeats a whole row.
 */
export function sessionError(engine: string, err: unknown): BackendError {
  if (err instanceof BackendError) return err;
  // MySQL's own error names vary between MySQL and MariaDB; a data or constraint error is told by its SQLSTATE.
  const state = err && typeof err === 'object' && 'sqlState' in err && typeof err.sqlState === 'string' ? err.sqlState : undefined;
  const code = state !== undefined && /^2[23]/.test(state) ? state : errorCode(err);
  const text = err instanceof Error ? err.message.slice(0, 300) : String(err);
  return new BackendError(`${engine}: ${text}${code === undefined ? '' : ` (${code})`}`, code, { cause: err, detail: text });
}
