import { Socket } from 'node:net';
import mysql from 'mysql2/promise';
import type { PoolOptions } from './postgres.js';
import type { DbTarget, SqlStore } from './port.js';
import { resilient } from './retry.js';
import { mysqlSsl } from './tls-options.js';
import { BackendError } from '../errors.js';
import { findMarkers, type Marker } from '../template.js';
import type { Row } from '../types.js';

const markerCache = new Map<string, Marker[]>();

/**
 * Binds values on the client (mysql2 `query`, the text protocol): a server-side prepared statement
 * (`execute`) would pin the connection to one database session behind RDS Proxy. Each value is
 * escaped by mysql2's own escaper and placed at a bind marker found by the renderer's reading of
 * quotes and comments, so a `?` inside a string literal stays text (mysql2's default formatter
 * would take it for a marker).
 */
export function bindOnClient(sql: string, values: unknown): string {
  if (!Array.isArray(values) || values.length === 0) return sql;
  let markers = markerCache.get(sql);
  if (!markers) {
    markers = findMarkers(sql, 'mysql', 'native');
    if (markerCache.size > 1000) markerCache.clear();
    markerCache.set(sql, markers);
  }
  if (markers.length !== values.length) throw new BackendError(`statement has ${markers.length} bind markers but ${values.length} values`, 'BIND_MISMATCH');
  let out = '';
  let at = 0;
  for (const m of markers) {
    out += sql.slice(at, m.start) + mysql.escape(values[m.index]);
    at = m.end;
  }
  return out + sql.slice(at);
}

/**
 * Where mysql2 connects: the URL (with its own `ssl` parameter), or host and credentials with
 * DB_TLS as mysql2's `ssl` (TLS is negotiated before the login: it does not pin behind RDS Proxy).
 */
export function mysqlWhere(target: string | DbTarget): mysql.ConnectionOptions {
  if (typeof target === 'string') return { uri: target };
  const ssl = mysqlSsl(target.tls);
  return { host: target.host, port: target.port, database: target.database, user: target.user, password: target.password, ...(ssl === undefined ? {} : { ssl }) };
}

/**
 * How rows are read, the same for the service's pool and the CLI's session: utf8mb4, big integers
 * and dates as strings, BIT(1) flags (is_superuser) as numbers, like TINYINT(1).
 */
export const ROW_OPTIONS = {
  charset: 'utf8mb4',
  supportBigNumbers: true,
  bigNumberStrings: true,
  dateStrings: true,
  typeCast: (field, next) => {
    if (field.type === 'BIT' && field.length === 1) {
      const bytes = field.buffer();
      return bytes === null ? null : bytes[0] === 1 ? 1 : 0;
    }
    return next();
  },
} as const satisfies mysql.PoolOptions;

/**
 * mysql2 adapter. Values are bound on the client by mysql2's escaper (see {@link bindOnClient}), never
 * concatenated by us. A server running with sql_mode NO_BACKSLASH_ESCAPES would read that escaping
 * differently, so every new connection checks the mode once and refuses to run under it. No
 * per-session `SET` is sent. Connections older than the maximum lifetime are replaced when next
 * taken from the pool.
 */
export function createMysqlStore(target: string | DbTarget, opts: PoolOptions): SqlStore {
  const pool = mysql.createPool({
    ...mysqlWhere(target),
    queryFormat: bindOnClient,
    connectionLimit: opts.max,
    maxIdle: opts.max,
    idleTimeout: opts.idleTimeoutS * 1000,
    connectTimeout: opts.connectTimeoutMs,
    waitForConnections: true,
    queueLimit: 1000,
    enableKeepAlive: true,
    ...ROW_OPTIONS,
  });
  const born = new WeakMap<object, number>();
  const maxAgeMs = opts.maxLifetimeS * 1000;

  /** A pooled connection younger than the maximum lifetime (older ones are closed and replaced). */
  async function acquire(): Promise<mysql.PoolConnection> {
    for (;;) {
      const conn = await pool.getConnection();
      const createdAt = born.get(conn.connection);
      if (createdAt === undefined) {
        try {
          await refuseNoBackslashEscapes(conn);
        } catch (err) {
          conn.destroy();
          throw err;
        }
        born.set(conn.connection, Date.now());
        return conn;
      }
      if (Date.now() - createdAt < maxAgeMs) return conn;
      conn.destroy();
    }
  }

  /**
   * A connection within `ms`, or a BackendError. mysql2's pool queue has no timeout of its own: a
   * connection that arrives after we gave up goes straight back to the pool, unused.
   */
  function acquireWithin(ms: number): Promise<mysql.PoolConnection> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new BackendError(`no MySQL connection free within ${ms} ms`, 'QUEUE_TIMEOUT'));
      }, ms);
      acquire().then(
        (conn) => {
          if (settled) return conn.release();
          settled = true;
          clearTimeout(timer);
          resolve(conn);
        },
        (err: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /**
   * One query on one connection, both within the query timeout. On expiry the connection is destroyed, which frees its pool slot at once.
   */
  async function run(text: string, params: readonly string[]): Promise<Row[]> {
    const started = Date.now();
    const conn = await acquireWithin(opts.queryTimeoutMs);
    const left = Math.max(1, opts.queryTimeoutMs - (Date.now() - started));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // mysql2's destroy() only half-closes the socket, which then lingers until the server
        // finishes the query; close it outright so a hung server cannot pile up sockets.
        conn.destroy();
        const socket: unknown = Reflect.get(conn.connection, 'stream');
        if (socket instanceof Socket) socket.destroy();
        reject(new BackendError(`MySQL query timed out after ${opts.queryTimeoutMs} ms`, 'TIMEOUT'));
      }, left);
    });
    try {
      const [rows] = await Promise.race([conn.query(text, [...params]), expired]);
      conn.release();
      return Array.isArray(rows) ? (rows as Row[]) : [];
    } catch (err) {
      if (err instanceof BackendError && err.code === 'TIMEOUT') throw err; // the connection is already destroyed
      // A connection that failed mid-query is not handed out again.
      if ((err as { fatal?: boolean }).fatal) conn.destroy();
      else conn.release();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    dialect: 'mysql',
    query: (text, params) => resilient(() => run(text, params), opts.queryTimeoutMs + opts.connectTimeoutMs, 'MySQL query', opts.max),
    close: () => pool.end(),
  };
}

/** Client-side escaping relies on backslash escapes: a server that ignores them is refused (fail closed). */
export async function refuseNoBackslashEscapes(conn: mysql.PoolConnection): Promise<void> {
  const [rows] = await conn.query('SELECT @@SESSION.sql_mode AS mode');
  const mode = Array.isArray(rows) ? String((rows[0] as { mode?: unknown } | undefined)?.mode ?? '') : '';
  if (mode.split(',').includes('NO_BACKSLASH_ESCAPES')) {
    throw new BackendError('MySQL sql_mode NO_BACKSLASH_ESCAPES is set; remove it for this user (values are escaped with backslashes)', 'UNSAFE_SQL_MODE');
  }
}
