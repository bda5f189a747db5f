import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { SqlStore } from './port.js';
import { resilient } from './retry.js';
import { hashPassword, type HashConfig } from '../hash.js';
import type { Row } from '../types.js';

const SCHEMA = new URL('../../infra/schema/postgresql.sql', import.meta.url);

/**
 * Embedded PGlite for the local server when no DATABASE_URL is set. On first use the data folder
 * gets the reference schema and a demo user `demo` / `public` hashed with the configured algorithm.
 */
export function createPgliteStore(dataDir: string, hash: HashConfig, queryTimeoutMs: number): SqlStore {
  let ready: Promise<PGlite> | undefined;
  const open = (): Promise<PGlite> => (ready ??= init(dataDir, hash));
  return {
    dialect: 'postgres',
    async query(text: string, params: readonly string[]): Promise<Row[]> {
      const db = await open();
      const result = await resilient(() => db.query<Row>(text, [...params]), queryTimeoutMs, 'PGlite query');
      return result.rows;
    },
    async close() {
      if (ready) await (await ready).close();
    },
  };
}

async function init(dataDir: string, hash: HashConfig): Promise<PGlite> {
  const db = await PGlite.create(dataDir);
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('public.mqtt_user')::text AS t");
  if (exists.rows[0]?.t) return db;
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
  return db;
}
