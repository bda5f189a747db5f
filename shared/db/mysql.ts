import { Socket } from 'node:net';
import mysql from 'mysql2/promise';
import type { PoolOptions } from './postgres.js';
import type { SqlStore } from './port.js';
import { resilient } from './retry.js';
import { BackendError } from '../errors.js';
import type { Row } from '../types.js';

/**
 * mysql2 adapter. Statements are prepared on the server (`execute`), so values are bound by the
 * server, never spliced into SQL text. Connections older than the maximum lifetime are replaced
 * when next taken from the pool.
 */
export function createMysqlStore(url: string, opts: PoolOptions): SqlStore {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: opts.max,
    maxIdle: opts.max,
    idleTimeout: opts.idleTimeoutS * 1000,
    connectTimeout: opts.connectTimeoutMs,
    waitForConnections: true,
    queueLimit: 1000,
    enableKeepAlive: true,
    charset: 'utf8mb4',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    // BIT(1) flags (is_superuser) arrive as numbers, like TINYINT(1).
    typeCast: (field, next) => {
      if (field.type === 'BIT' && field.length === 1) {
        const bytes = field.buffer();
        return bytes === null ? null : bytes[0] === 1 ? 1 : 0;
      }
      return next();
    },
  });
  const born = new WeakMap<object, number>();
  const maxAgeMs = opts.maxLifetimeS * 1000;

  /** A pooled connection younger than the maximum lifetime (older ones are closed and replaced). */
  async function acquire(): Promise<mysql.PoolConnection> {
    for (;;) {
      const conn = await pool.getConnection();
      const createdAt = born.get(conn.connection) ?? Date.now();
      born.set(conn.connection, createdAt);
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
   * One query on one connection, both within the query timeout. mysql2 has no timeout for prepared
   * statements: on expiry the connection is destroyed, which frees its pool slot at once.
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
      const [rows] = await Promise.race([conn.execute(text, [...params]), expired]);
      conn.release();
      return Array.isArray(rows) ? (rows as Row[]) : [];
    } catch (err) {
      if (err instanceof BackendError) throw err;
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
