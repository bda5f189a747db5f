import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { SqlRunner } from '../db/port.js';
import type { ImportKind } from './bulk.js';
import { RULE_FIELDS, ruleRecord, type BuiltinRule, type BuiltinUser } from './model.js';
import type { Format } from './readers.js';
import { rulePages, userPages } from './repo.js';

/**
 * Export of the built-in tables in the formats import reads: EMQX's user columns (`user_id`,
 * `password_hash`, `salt`, `is_superuser`) and the rule fields. Pages through the table by key,
 * writing as it goes (honouring back-pressure), so memory stays flat however large the table.
 */

const USER_COLUMNS = ['user_id', 'password_hash', 'salt', 'is_superuser'];

function userObject(u: BuiltinUser): Record<string, unknown> {
  return { user_id: u.userId, password_hash: u.passwordHash, salt: u.salt, is_superuser: u.isSuperuser };
}

/** A rule as EMQX's API writes one: the owner's key, qos as a list, retain as a boolean or "all". */
function ruleObject(r: BuiltinRule): Record<string, unknown> {
  return {
    ...(r.whoType === 'all' ? {} : { [r.whoType]: r.who }),
    permission: r.permission,
    action: r.action,
    topic: r.topic,
    qos: r.qos.split(',').map(Number),
    retain: r.retain === 'all' ? 'all' : r.retain === 'true',
  };
}

async function put(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** Writes every user or rule to `out` in `format`; returns how many. */
export async function exportRecords(db: SqlRunner, kind: ImportKind, format: Format, out: Writable): Promise<number> {
  let count = 0;
  if (format === 'json') await put(out, '[');
  const emit = async (rows: Array<Record<string, unknown>>, csvRows: () => unknown[][], columns: string[]) => {
    if (rows.length === 0) return;
    if (format === 'csv') await put(out, stringify(csvRows(), { header: count === 0, columns }));
    else if (format === 'jsonl') await put(out, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    else await put(out, rows.map((r, i) => `${count === 0 && i === 0 ? '\n' : ',\n'}${JSON.stringify(r)}`).join(''));
    count += rows.length;
  };
  if (kind === 'users') {
    for await (const page of userPages(db)) {
      await emit(page.map(userObject), () => page.map((u) => [u.userId, u.passwordHash, u.salt, u.isSuperuser ? 'true' : 'false']), USER_COLUMNS);
    }
  } else {
    for await (const page of rulePages(db, {})) {
      await emit(page.map(ruleObject), () => page.map((r) => Object.values(ruleRecord(r))), [...RULE_FIELDS]);
    }
  }
  if (format === 'json') await put(out, count === 0 ? ']\n' : '\n]\n');
  else if (format === 'csv' && count === 0) await put(out, `${(kind === 'users' ? USER_COLUMNS : [...RULE_FIELDS]).join(',')}\n`);
  return count;
}
