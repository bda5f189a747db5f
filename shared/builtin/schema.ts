import { readFile } from 'node:fs/promises';
import type { Dialect } from '../template.js';
import type { SqlRunner } from '../db/port.js';
import { ACL_TABLE, existingTables, USER_TABLE } from './tables.js';

/**
 * `mqtt-auth migrate`: creates the built-in tables from `infra/schema/builtin-*.sql`. Reads files
 * next to the sources, so only the CLI and tests import this module; the Lambda path needs only
 * `tables.ts`.
 */

/** The schema file of one dialect, resolved when needed (never at module load). */
const schemaFile = (dialect: Dialect): URL => new URL(`../../infra/schema/${dialect === 'mysql' ? 'builtin-mysql.sql' : 'builtin-postgresql.sql'}`, import.meta.url);

/** The DDL statements of the built-in store for one dialect, comments removed. */
export async function schemaStatements(dialect: Dialect): Promise<string[]> {
  const text = await readFile(schemaFile(dialect), 'utf8');
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

/**
 * Creates the built-in tables where missing; running it again changes nothing. Returns the tables
 * that were created by this run.
 */
export async function migrate(db: SqlRunner): Promise<string[]> {
  const before = await existingTables(db);
  for (const statement of await schemaStatements(db.dialect)) await db.query(statement, []);
  return [USER_TABLE, ACL_TABLE].filter((t) => !before.has(t));
}
