import type { SqlRunner } from '../db/port.js';

/**
 * The built-in store's table names and the check whether they exist: plain SQL, no file reads, so
 * it is safe in a Lambda bundle (the chain's default asks it at the first request). Creating the
 * tables from `infra/schema/builtin-*.sql` is `migrate` in `schema.ts`, used only by the CLI.
 */

/** The managed tables of the built-in store. */
export const USER_TABLE = 'mqtt_builtin_user';
export const ACL_TABLE = 'mqtt_builtin_acl';

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
