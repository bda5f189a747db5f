import { createHash } from 'node:crypto';
import type { SqlRunner } from '../db/port.js';
import type { Row } from '../types.js';
import type { BuiltinRule, BuiltinUser, WhoType } from './model.js';
import { ACL_TABLE, USER_TABLE } from './tables.js';

/**
 * The built-in tables' statements, per dialect. Every value is a bound parameter; only table and
 * column names (constants) and marker lists are built here.
 */

const marker = (db: SqlRunner, i: number): string => (db.dialect === 'postgres' ? `$${i}` : '?');

/** `(m1, m2, …), (…)` for `rows` tuples of `width` values. */
function tuples(db: SqlRunner, rows: number, width: number, casts: readonly string[] = []): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r += 1) {
    const one: string[] = [];
    for (let c = 0; c < width; c += 1) one.push(`${marker(db, r * width + c + 1)}${casts[c] ?? ''}`);
    out.push(`(${one.join(', ')})`);
  }
  return out.join(', ');
}

const text = (v: unknown): string => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
const bool = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 't' || v === 'true';

// ---- users ----

/** The users among `ids` that already exist. */
export async function existingUsers(db: SqlRunner, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const list = ids.map((_, i) => marker(db, i + 1)).join(', ');
  const rows = await db.query(`SELECT user_id FROM ${USER_TABLE} WHERE user_id IN (${list})`, ids);
  return new Set(rows.map((r) => text(r['user_id'])));
}

/** Inserts or replaces `users` in one statement. */
export async function upsertUsers(db: SqlRunner, users: readonly BuiltinUser[]): Promise<void> {
  if (users.length === 0) return;
  const params = users.flatMap((u) => [u.userId, u.passwordHash, u.salt, u.isSuperuser ? '1' : '0']);
  const values = tuples(db, users.length, 4, db.dialect === 'postgres' ? ['', '', '', '::boolean'] : []);
  const head = `INSERT INTO ${USER_TABLE} (user_id, password_hash, salt, is_superuser) VALUES ${values}`;
  const tail =
    db.dialect === 'postgres'
      ? ' ON CONFLICT (user_id) DO UPDATE SET password_hash = EXCLUDED.password_hash, salt = EXCLUDED.salt, is_superuser = EXCLUDED.is_superuser'
      : ' ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), salt = VALUES(salt), is_superuser = VALUES(is_superuser)';
  await db.query(head + tail, params);
}

/** Removes one user; false when there was none. */
export async function deleteUser(db: SqlRunner, userId: string): Promise<boolean> {
  const found = await existingUsers(db, [userId]);
  if (found.size === 0) return false;
  await db.query(`DELETE FROM ${USER_TABLE} WHERE user_id = ${marker(db, 1)}`, [userId]);
  return true;
}

/** Up to `limit` users after `after` (by user_id): pages through any number of users in bounded memory. */
async function pageUsers(db: SqlRunner, after: string | undefined, limit: number): Promise<BuiltinUser[]> {
  const where = after === undefined ? '' : ` WHERE user_id > ${marker(db, 1)}`;
  const rows = await db.query(
    `SELECT user_id, password_hash, salt, is_superuser FROM ${USER_TABLE}${where} ORDER BY user_id LIMIT ${Math.trunc(limit)}`,
    after === undefined ? [] : [after],
  );
  return rows.map((r) => ({ userId: text(r['user_id']), passwordHash: text(r['password_hash']), salt: text(r['salt'] ?? ''), isSuperuser: bool(r['is_superuser']) }));
}

/** Rows per page when walking a whole table. */
const PAGE_SIZE = 1000;

/** Every user in user_id order, a page at a time (bounded memory however many there are). */
export async function* userPages(db: SqlRunner): AsyncGenerator<BuiltinUser[]> {
  let after: string | undefined;
  for (;;) {
    const page = await pageUsers(db, after, PAGE_SIZE);
    yield page;
    if (page.length < PAGE_SIZE) return;
    after = page[page.length - 1]?.userId;
  }
}

// ---- rules ----

export interface StoredRule extends BuiltinRule {
  readonly id: string;
}

const RULE_KEY = ['who_type', 'who', 'action', 'topic', 'qos', 'retain'] as const;
const ruleKeyValues = (r: BuiltinRule): string[] => [r.whoType, r.who, r.action, r.topic, r.qos, r.retain];

/** What makes two rules the same rule (a re-import updates its permission, keeping its place). */
export const ruleKey = (r: BuiltinRule): string => JSON.stringify(ruleKeyValues(r));

/** The keys of the rules among `rules` that already exist. */
export async function existingRules(db: SqlRunner, rules: readonly BuiltinRule[]): Promise<Set<string>> {
  if (rules.length === 0) return new Set();
  const rows = await db.query(
    `SELECT ${RULE_KEY.join(', ')} FROM ${ACL_TABLE} WHERE (${RULE_KEY.join(', ')}) IN (${tuples(db, rules.length, RULE_KEY.length)})`,
    rules.flatMap(ruleKeyValues),
  );
  return new Set(rows.map((r) => JSON.stringify(RULE_KEY.map((k) => text(r[k])))));
}

/** The stored rule with the same key as `rule`, if any. */
export async function findRule(db: SqlRunner, rule: BuiltinRule): Promise<StoredRule | undefined> {
  const where = RULE_KEY.map((k, i) => `${k} = ${marker(db, i + 1)}`).join(' AND ');
  const rows = await db.query(`SELECT id, who_type, who, permission, action, topic, qos, retain FROM ${ACL_TABLE} WHERE ${where}`, ruleKeyValues(rule));
  return rows[0] === undefined ? undefined : storedRule(rows[0]);
}

/** Inserts `rules` in order (new rules go last in their group); an existing rule gets the new permission. */
export async function upsertRules(db: SqlRunner, rules: readonly BuiltinRule[]): Promise<void> {
  if (rules.length === 0) return;
  const params = rules.flatMap((r) => [r.whoType, r.who, r.permission, r.action, r.topic, r.qos, r.retain]);
  const head = `INSERT INTO ${ACL_TABLE} (who_type, who, permission, action, topic, qos, retain) VALUES ${tuples(db, rules.length, 7)}`;
  const tail =
    db.dialect === 'postgres'
      ? ` ON CONFLICT (${RULE_KEY.join(', ')}) DO UPDATE SET permission = EXCLUDED.permission`
      : ' ON DUPLICATE KEY UPDATE permission = VALUES(permission)';
  await db.query(head + tail, params);
}

/** Removes one rule by id; false when there was none. */
export async function deleteRule(db: SqlRunner, id: string): Promise<boolean> {
  // The Data API binds a string as VARCHAR on PostgreSQL, which does not compare with a bigint unless cast.
  const byId = `id = ${db.dialect === 'postgres' ? `${marker(db, 1)}::bigint` : marker(db, 1)}`;
  const rows = await db.query(`SELECT id FROM ${ACL_TABLE} WHERE ${byId}`, [id]);
  if (rows.length === 0) return false;
  await db.query(`DELETE FROM ${ACL_TABLE} WHERE ${byId}`, [id]);
  return true;
}

export interface RuleFilter {
  readonly whoType?: WhoType;
  readonly who?: string;
}

/** Up to `limit` rules after id `after`, in id order, optionally for one owner. */
async function pageRules(db: SqlRunner, filter: RuleFilter, after: string | undefined, limit: number): Promise<StoredRule[]> {
  const where: string[] = [];
  const params: string[] = [];
  const add = (sql: (m: string) => string, value: string) => {
    params.push(value);
    where.push(sql(marker(db, params.length)));
  };
  if (filter.whoType !== undefined) add((m) => `who_type = ${m}`, filter.whoType);
  if (filter.who !== undefined) add((m) => `who = ${m}`, filter.who);
  if (after !== undefined) add((m) => `id > ${db.dialect === 'postgres' ? `${m}::bigint` : m}`, after);
  const rows = await db.query(
    `SELECT id, who_type, who, permission, action, topic, qos, retain FROM ${ACL_TABLE}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${Math.trunc(limit)}`,
    params,
  );
  return rows.map(storedRule);
}

/** Every rule matching `filter` in id order, a page at a time. */
export async function* rulePages(db: SqlRunner, filter: RuleFilter): AsyncGenerator<StoredRule[]> {
  let after: string | undefined;
  for (;;) {
    const page = await pageRules(db, filter, after, PAGE_SIZE);
    yield page;
    if (page.length < PAGE_SIZE) return;
    after = page[page.length - 1]?.id;
  }
}

const oneOf = <T extends string>(value: string, allowed: readonly T[], fallback: T): T => allowed.find((a) => a === value) ?? fallback;

/** A row as a rule. The table's CHECK constraints hold these columns to their values; anything else reads as the narrowest rule. */
function storedRule(r: Row): StoredRule {
  return {
    id: text(r['id']),
    whoType: oneOf(text(r['who_type']), ['clientid', 'username', 'all'] as const, 'clientid'),
    who: text(r['who']),
    permission: oneOf(text(r['permission']), ['allow', 'deny'] as const, 'deny'),
    action: oneOf(text(r['action']), ['publish', 'subscribe', 'all'] as const, 'all'),
    topic: text(r['topic']),
    qos: text(r['qos']),
    retain: oneOf(text(r['retain']), ['true', 'false', 'all'] as const, 'all'),
  };
}

// ---- duplicates within one import ----

const SEEN = 'mqtt_auth_import_seen';
const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

/**
 * A temporary table (private to this session, gone when it ends) of the records an import has
 * already taken, so a duplicate row is found however far apart the two are, in constant memory.
 */
export async function startSeen(db: SqlRunner): Promise<void> {
  await db.query(`CREATE TEMPORARY TABLE IF NOT EXISTS ${SEEN} (k CHAR(64) NOT NULL PRIMARY KEY, at VARCHAR(40) NOT NULL)`, []);
  await db.query(`DELETE FROM ${SEEN}`, []);
}

/** For each key taken earlier in this import, where it was taken. */
export async function seenBefore(db: SqlRunner, keys: readonly string[]): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const hashed = keys.map(digest);
  const byHash = new Map(hashed.map((h, i) => [h, keys[i] ?? '']));
  const rows = await db.query(`SELECT k, at FROM ${SEEN} WHERE k IN (${hashed.map((_, i) => marker(db, i + 1)).join(', ')})`, hashed);
  return new Map(rows.map((r) => [byHash.get(text(r['k'])) ?? '', text(r['at'])]));
}

/** Records `entries` (key, where) as taken by this import. */
export async function markSeen(db: SqlRunner, entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
  if (entries.length === 0) return;
  await db.query(
    `INSERT INTO ${SEEN} (k, at) VALUES ${tuples(db, entries.length, 2)}`,
    entries.flatMap(([key, at]) => [digest(key), at.slice(0, 40)]),
  );
}
