import { readFile } from 'node:fs/promises';
import type { SqlStore } from '../db/port.js';
import type { Dialect } from '../template.js';

/** The managed tables of the built-in store. */
export const USER_TABLE = 'mqtt_builtin_user';
export const ACL_TABLE = 'mqtt_builtin_acl';

const SCHEMA_FILE: Record<Dialect, string> = {
  postgres: '../../infra/schema/builtin-postgresql.sql',
  mysql: '../../infra/schema/builtin-mysql.sql',
};

/** Anything that runs one statement: a store, or one transaction of a session. */
export type SqlRunner = Pick<SqlStore, 'dialect' | 'query'>;

/** The DDL statements of the built-in store for one dialect, comments removed. */
export async function schemaStatements(dialect: Dialect): Promise<string[]> {
  // Resolved on use, not at import: the Lambda bundles (CommonJS, no import.meta) load this module
  // for existingTables but never read the DDL files, which they do not carry.
  const text = await readFile(new URL(SCHEMA_FILE[dialect], import.meta.url), 'utf8');
  return text
    .split(/;\s*$/m)
    .map((part) =>
      part
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((statement) => statement !== '');
}

/** Which of the built-in tables exist in the connected database (its current schema). */
export async function existingTables(db: SqlRunner): Promise<Set<string>> {
  const schema = db.dialect === 'mysql' ? 'DATABASE()' : 'current_schema()';
  // Constant names only: nothing here comes from a client.
  const rows = await db.query(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ${schema} AND table_name IN ('${USER_TABLE}', '${ACL_TABLE}')`,
    [],
  );
  return new Set(rows.map((r) => String(r['name'] ?? r['NAME'] ?? r['TABLE_NAME'])));
}

/** True when both built-in tables exist (for a chain's default: built-in first when present). */
export async function builtinTablesExist(db: SqlRunner): Promise<boolean> {
  const found = await existingTables(db);
  return found.has(USER_TABLE) && found.has(ACL_TABLE);
}

/**
 * Creates the built-in tables where missing; running it again changes nothing. Returns the tables
 * that were created by this run.
 */
export async function migrate(db: SqlRunner): Promise<string[]> {
  const before = await existingTables(db);
  for (const statement of await schemaStatements(db.dialect)) await db.query(statement, []);
  return [USER_TABLE, ACL_TABLE].filter((t) => !before.has(t));
}
