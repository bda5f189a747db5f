import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { SqlStore } from './port.js';
import { lockDataDir } from './pglite-lock.js';
import { resilient } from './retry.js';
import { hashPassword, type HashConfig } from '../hash.js';
import type { Row } from '../types.js';

const SCHEMA = new URL('../../infra/schema/postgresql.sql', import.meta.url);
// Read here rather than through mqtt-auth migrate's code: the same file, IF NOT EXISTS throughout.
const BUILTIN_SCHEMA = new URL('../../infra/schema/builtin-postgresql.sql', import.meta.url);

/**
 * Embedded PGlite for the local server when no DATABASE_URL is set. On first use the data folder
 * gets the reference schema and a demo user `demo` / `public` hashed with the configured algorithm;
 * on every start the built-in store's tables where missing, so `mqtt-auth user add` works on it
 * and the default chain is `builtin,sql`. The folder is held for this process while open (PGlite
 * takes no lock of its own): a second process is refused with {@link DataDirInUse}.
 *
 * @param onLockLost called if the folder's lock could not be renewed (another process may take it).
 */
export function createPgliteStore(dataDir: string, hash: HashConfig, queryTimeoutMs: number, onLockLost: (err: Error) => void = () => {}): SqlStore {
  let ready: Promise<{ db: PGlite; release: () => Promise<void> }> | undefined;
  const open = async (): Promise<PGlite> => {
    ready ??= init(dataDir, hash, onLockLost).catch((err: unknown) => {
      ready = undefined; // tried again by the next query (the folder may be free by then)
      throw err;
    });
    return (await ready).db;
  };
  return {
    dialect: 'postgres',
    async query(text: string, params: readonly string[]): Promise<Row[]> {
      const db = await open();
      const result = await resilient(() => db.query<Row>(text, [...params]), queryTimeoutMs, 'PGlite query');
      return result.rows;
    },
    async close() {
      const opened = ready;
      ready = undefined;
      if (!opened) return;
      const { db, release } = await opened;
      try {
        await db.close();
      } finally {
        await release();
      }
    },
  };
}

async function init(dataDir: string, hash: HashConfig, onLockLost: (err: Error) => void): Promise<{ db: PGlite; release: () => Promise<void> }> {
  const release = await lockDataDir(dataDir, onLockLost);
  try {
    const db = await PGlite.create(dataDir);
    await seed(db, hash);
    await db.exec(await readFile(BUILTIN_SCHEMA, 'utf8'));
    return { db, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** The reference schema and the demo user, on the folder's first start only. */
async function seed(db: PGlite, hash: HashConfig): Promise<void> {
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('public.mqtt_user')::text AS t");
  if (exists.rows[0]?.t) return;
  await db.exec(await readFile(SCHEMA, 'utf8'));
  const demo = await hashPassword(hash, 'public');
  await db.query('INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES ($1, $2, $3, false) ON CONFLICT (username) DO NOTHING', [
    'demo',
    demo.hash,
    demo.salt,
  ]);
  await db.query(
    `INSERT INTO mqtt_acl (username, permission, action, topic, qos, retain) VALUES
       ('demo', 'allow', 'all', 'demo/#', NULL, NULL),
       ('demo', 'allow', 'subscribe', 'devices/\${clientid}/#', NULL, NULL),
       ('demo', 'deny', 'all', '#', NULL, NULL)`,
  );
}
