import mysql from 'mysql2/promise';
import type { DbTarget } from './port.js';
import { sessionError, type SqlSession } from './session.js';
import type { Row } from '../types.js';

/**
 * A mysql2 session on one connection. Statements with values run as server-side prepared
 * statements (`execute`): the values travel apart from the SQL. BIT(1) arrives as a number.
 */
export async function mysqlSession(target: string | DbTarget): Promise<SqlSession> {
  const where = typeof target === 'string' ? { uri: target } : { host: target.host, port: target.port, database: target.database, user: target.user, password: target.password };
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({
      ...where,
      charset: 'utf8mb4',
      connectTimeout: 10_000,
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
    });
  } catch (err) {
    throw sessionError('MySQL', err);
  }
  const query = async (text: string, params: readonly string[]): Promise<Row[]> => {
    try {
      const [rows] = params.length === 0 ? await conn.query(text) : await conn.execute(text, [...params]);
      return Array.isArray(rows) ? (rows as Row[]) : [];
    } catch (err) {
      throw sessionError('MySQL', err);
    }
  };
  return {
    dialect: 'mysql',
    query,
    async transaction(fn) {
      await query('START TRANSACTION', []);
      try {
        const out = await fn({ dialect: 'mysql', query });
        await query('COMMIT', []);
        return out;
      } catch (err) {
        await query('ROLLBACK', []).catch(() => {});
        throw err;
      }
    },
    async close() {
      // Prepared statements are freed with the connection.
      await conn.end();
    },
  };
}
