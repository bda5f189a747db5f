import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import postgres from 'postgres';

/**
 * Real databases for integration tests. Each suite gets its own database, dropped and created
 * afresh, so runs never depend on leftovers and can be repeated. If a server is unreachable the
 * suite fails loudly: database tests are never skipped.
 */

export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';

export type Engine = 'postgres' | 'mysql';

export interface TestDatabase {
  readonly engine: Engine;
  /** URL of the suite's own database. */
  readonly url: string;
  /** Runs administrative SQL (DDL, fixtures) in the suite's database. `$n`/`?` markers per engine. */
  exec(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Loads a .sql file (statements separated by ';' at line ends). */
  execFile(path: URL): Promise<void>;
  /** Closes every connection the database has, except the admin's own (simulates a restart or a proxy reset). */
  killClientConnections(): Promise<number>;
  close(): Promise<void>;
}

const withDb = (url: string, db: string): string => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

/**
 * A short tag of this checkout's path, added to every database name: two checkouts on one machine
 * (a CI clone beside a working copy) never drop each other's databases, and one checkout reuses
 * its own names run after run.
 */
export const CHECKOUT_TAG = createHash('sha256').update(new URL('../../', import.meta.url).pathname).digest('hex').slice(0, 8);

export async function freshDatabase(engine: Engine, name: string): Promise<TestDatabase> {
  const db = `${name}_${CHECKOUT_TAG}`;
  return engine === 'postgres' ? freshPostgres(db) : freshMysql(db);
}

async function freshPostgres(name: string): Promise<TestDatabase> {
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  await admin.end();
  const url = withDb(TEST_POSTGRES_URL, name);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  return {
    engine: 'postgres',
    url,
    exec: async (text, params = []) => [...(await sql.unsafe(text, params as never[]))],
    execFile: async (path) => {
      await sql.unsafe(readFileSync(path, 'utf8'));
    },
    killClientConnections: async () => {
      const rows = await sql`SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = ${name} AND pid <> pg_backend_pid()`;
      return rows.length;
    },
    close: () => sql.end({ timeout: 1 }),
  };
}

async function freshMysql(name: string): Promise<TestDatabase> {
  const admin = await mysql.createConnection({ uri: TEST_MYSQL_URL, multipleStatements: false });
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.end();
  const url = withDb(TEST_MYSQL_URL, name);
  const conn = await mysql.createConnection({ uri: url, multipleStatements: true, charset: 'utf8mb4' });
  return {
    engine: 'mysql',
    url,
    exec: async (text, params = []) => {
      const [rows] = await conn.query(text, params);
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    },
    execFile: async (path) => {
      await conn.query(readFileSync(path, 'utf8'));
    },
    killClientConnections: async () => {
      const [rows] = await conn.query('SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()', [name]);
      const ids = (rows as Array<{ id: number }>).map((r) => r.id);
      for (const id of ids) await conn.query(`KILL ${Number(id)}`);
      return ids.length;
    },
    close: () => conn.end(),
  };
}

export const SCHEMA: Record<Engine, URL> = {
  postgres: new URL('../../infra/schema/postgresql.sql', import.meta.url),
  mysql: new URL('../../infra/schema/mysql.sql', import.meta.url),
};
