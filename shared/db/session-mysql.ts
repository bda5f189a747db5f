import mysql from 'mysql2/promise';
import { mysqlWhere, ROW_OPTIONS } from './mysql.js';
import type { DbTarget } from './port.js';
import { sessionError, type SqlSession } from './session.js';
import type { Row } from '../types.js';

/**
 * A mysql2 session on one connection. Statements with values run as server-side prepared
 * statements (`execute`): the values travel apart from the SQL. BIT(1) arrives as a number.
 */
export async function mysqlSession(target: string | DbTarget): Promise<SqlSession> {
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({
      ...mysqlWhere(target),
      ...ROW_OPTIONS,
      connectTimeout: 10_000,
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
    keepsSessionState: true,
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
