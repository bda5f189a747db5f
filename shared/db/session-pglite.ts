import { PGlite } from '@electric-sql/pglite';
import { sessionError, type SqlSession } from './session.js';
import type { Row } from '../types.js';

/**
 * A session on the embedded PGlite database in `dataDir` (the local server's). PGlite allows one
 * process per folder: stop `npm start` before running a tool on the same DATA_DIR.
 */
export async function pgliteSession(dataDir: string): Promise<SqlSession> {
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir);
  } catch (err) {
    throw sessionError('PGlite', err);
  }
  const run = async (q: Pick<PGlite, 'query'>, text: string, params: readonly string[]): Promise<Row[]> => {
    try {
      return (await q.query<Row>(text, [...params])).rows;
    } catch (err) {
      throw sessionError('PGlite', err);
    }
  };
  return {
    dialect: 'postgres',
    query: (text, params) => run(db, text, params),
    transaction: (fn) => db.transaction((tx) => fn({ dialect: 'postgres', query: (text, params) => run(tx, text, params) })),
    close: () => db.close(),
  };
}
