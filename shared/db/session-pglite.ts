import { PGlite } from '@electric-sql/pglite';
import { lockDataDir } from './pglite-lock.js';
import { sessionError, type SqlSession } from './session.js';
import type { Row } from '../types.js';

/**
 * A session on the embedded PGlite database in `dataDir` (the local server's). PGlite allows one
 * process per folder: while `npm start` holds it this throws {@link DataDirInUse}, whose message
 * says to stop the server first.
 */
export async function pgliteSession(dataDir: string): Promise<SqlSession> {
  const release = await lockDataDir(dataDir, (err) => process.stderr.write(`warning: lost the lock on DATA_DIR ${dataDir}: ${err.message}\n`));
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir);
  } catch (err) {
    await release();
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
    keepsSessionState: true,
    query: (text, params) => run(db, text, params),
    transaction: (fn) => db.transaction((tx) => fn({ dialect: 'postgres', query: (text, params) => run(tx, text, params) })),
    close: async () => {
      try {
        await db.close();
      } finally {
        await release();
      }
    },
  };
}
