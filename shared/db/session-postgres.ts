import postgres from 'postgres';
import type { DbTarget } from './port.js';
import { postgresWhere } from './postgres.js';
import { sessionError, type SqlSession } from './session.js';
import type { Row } from '../types.js';

/** A postgres.js session: one connection, kept for the whole run (no idle or lifetime limit). */
export function postgresSession(target: string | DbTarget): SqlSession {
  const options = {
    max: 1,
    prepare: false,
    idle_timeout: null,
    max_lifetime: null,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'mqtt-auth-cli' },
  };
  const sql =
    typeof target === 'string'
      ? postgres(target, options)
      : postgres({ ...options, ...postgresWhere(target) });
  const run = async (q: postgres.Sql | postgres.TransactionSql, text: string, params: readonly string[]): Promise<Row[]> => {
    try {
      return [...(await q.unsafe(text, [...params]))];
    } catch (err) {
      throw sessionError('PostgreSQL', err);
    }
  };
  return {
    dialect: 'postgres',
    keepsSessionState: true,
    query: (text, params) => run(sql, text, params),
    async transaction(fn) {
      try {
        return (await sql.begin((tx) => fn({ dialect: 'postgres', query: (text, params) => run(tx, text, params) }))) as Awaited<ReturnType<typeof fn>>;
      } catch (err) {
        throw sessionError('PostgreSQL', err);
      }
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
