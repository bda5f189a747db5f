import type { Readable } from 'node:stream';
import { BackendError } from '../errors.js';
import type { HashConfig } from '../hash.js';
import type { SqlRunner } from '../db/port.js';
import type { SqlSession } from '../db/session.js';
import { checkRule, checkUser, RULE_FIELDS, USER_FIELDS, type BuiltinRule, type BuiltinUser, type Checked } from './model.js';
import { csvRecords, InputError, jsonArrayRecords, jsonlRecords, type Format, type InputRecord } from './readers.js';
import { existingRules, existingUsers, markSeen, ruleKey, seenBefore, startSeen, upsertRules, upsertUsers } from './repo.js';

/**
 * Bulk import into the built-in tables. Records stream in, are checked one by one, and are written
 * in batches: each batch is one transaction (look up which exist, upsert, remember the keys), so a
 * crash leaves whole batches only and a re-run updates what is there. A bad record is rejected with
 * where it was and why; the others go on.
 */

export type ImportKind = 'users' | 'rules';

export interface ImportOptions {
  readonly kind: ImportKind;
  readonly format: Format;
  /** PASSWORD_HASH: what `password` is hashed with and what `password_hash` must look like. */
  readonly hash: HashConfig;
  /** Check and count everything, write nothing. */
  readonly dryRun?: boolean;
  readonly batchSize?: number;
  /** How many rejects the summary lists (all are counted). */
  readonly maxListed?: number;
  /** Called after each committed batch, for a progress display. */
  readonly onBatch?: (progress: ImportSummary) => void;
}

export interface Reject {
  /** `line 12` (CSV, JSON Lines) or `element 12` (JSON array). */
  readonly at: string;
  readonly reason: string;
}

export interface ImportSummary {
  readonly kind: ImportKind;
  readonly dryRun: boolean;
  read: number;
  inserted: number;
  updated: number;
  rejected: number;
  /** The first `maxListed` rejects, in input order. */
  readonly rejects: Reject[];
}

/** The import stopped (unreadable input, database failure): the batches before it are committed. */
export class ImportStopped extends Error {
  override readonly name = 'ImportStopped';
  constructor(
    message: string,
    readonly summary: ImportSummary,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

interface Kind<T> {
  readonly allowed: readonly string[];
  readonly required: readonly string[];
  check(fields: Readonly<Record<string, unknown>>, hash: HashConfig): Promise<Checked<T>> | Checked<T>;
  key(value: T): string;
  existing(db: SqlRunner, values: readonly T[]): Promise<Set<string>>;
  upsert(db: SqlRunner, values: readonly T[]): Promise<void>;
}

const USERS: Kind<BuiltinUser> = {
  allowed: USER_FIELDS,
  required: ['user_id'],
  check: checkUser,
  key: (u) => u.userId,
  existing: (db, users) => existingUsers(db, users.map((u) => u.userId)),
  upsert: upsertUsers,
};

const RULES: Kind<BuiltinRule> = {
  allowed: RULE_FIELDS,
  required: ['permission', 'action', 'topic'],
  check: checkRule,
  key: ruleKey,
  existing: existingRules,
  upsert: upsertRules,
};

/** A grouped JSON element (EMQX's API shape, `{"username": "u", "rules": [...]}`) as one record per rule. */
function* expandGrouped(record: InputRecord): Generator<InputRecord> {
  if (!('fields' in record) || !('rules' in record.fields)) {
    yield record;
    return;
  }
  const { rules, ...owner } = record.fields;
  if (!Array.isArray(rules)) {
    yield { at: record.at, invalid: 'rules must be a list' };
    return;
  }
  for (const [i, rule] of rules.entries()) {
    const at = `${record.at} rule ${i + 1}`;
    if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) yield { at, invalid: 'not a JSON object' };
    else yield { at, fields: { ...owner, ...(rule as Record<string, unknown>) } };
  }
}

function recordsOf(input: Readable, format: Format, columns: Pick<Kind<unknown>, 'allowed' | 'required'>, expand: boolean): AsyncGenerator<InputRecord> {
  if (format === 'csv') return csvRecords(input, columns.allowed, columns.required);
  const source = format === 'jsonl' ? jsonlRecords(input) : jsonArrayRecords(input);
  if (!expand) return source;
  return (async function* () {
    for await (const record of source) yield* expandGrouped(record);
  })();
}

/** SQLSTATE classes 22 (data) and 23 (constraints): the row, not the database, is at fault. */
function isDataError(err: unknown): boolean {
  return err instanceof BackendError && err.code !== undefined && /^2[23][0-9A-Z]{3}$/.test(err.code);
}

/** Imports users or rules from `input` through `session`; see {@link ImportOptions}. */
export async function importRecords(session: SqlSession, input: Readable, opts: ImportOptions): Promise<ImportSummary> {
  return opts.kind === 'users' ? run(session, input, opts, USERS) : run(session, input, opts, RULES);
}

async function run<T>(session: SqlSession, input: Readable, opts: ImportOptions, kind: Kind<T>): Promise<ImportSummary> {
  const dryRun = opts.dryRun ?? false;
  const batchSize = opts.batchSize ?? 1000;
  const maxListed = opts.maxListed ?? 1000;
  const summary: ImportSummary = { kind: opts.kind, dryRun, read: 0, inserted: 0, updated: 0, rejected: 0, rejects: [] };
  // Rejects are listed in input order, although a duplicate is only found when its batch commits.
  const listed: Array<Reject & { seq: number }> = [];
  const reject = (seq: number, at: string, reason: string) => {
    summary.rejected += 1;
    listed.push({ seq, at, reason });
    if (listed.length > maxListed * 2) trim();
  };
  const trim = () => {
    listed.sort((a, b) => a.seq - b.seq);
    listed.length = Math.min(listed.length, maxListed);
  };

  type Entry = { readonly seq: number; readonly at: string; readonly key: string; readonly value: T };

  /** One transaction: earlier duplicates out, count what exists, upsert, remember the keys. */
  async function write(db: SqlRunner, entries: readonly Entry[]): Promise<{ inserted: number; updated: number; duplicates: Array<[Entry, string]> }> {
    const earlier = await seenBefore(db, entries.map((e) => e.key));
    const duplicates: Array<[Entry, string]> = [];
    const fresh: Entry[] = [];
    for (const e of entries) {
      const first = earlier.get(e.key);
      if (first === undefined) fresh.push(e);
      else duplicates.push([e, first]);
    }
    const values = fresh.map((e) => e.value);
    const existing = await kind.existing(db, values);
    if (!dryRun) await kind.upsert(db, values);
    await markSeen(db, fresh.map((e) => [e.key, e.at] as const));
    const updated = fresh.filter((e) => existing.has(e.key)).length;
    return { inserted: fresh.length - updated, updated, duplicates };
  }

  async function commit(entries: Entry[]): Promise<void> {
    if (entries.length === 0) return;
    let outcome: Awaited<ReturnType<typeof write>>;
    try {
      outcome = await session.transaction((tx) => write(tx, entries));
    } catch (err) {
      if (!isDataError(err)) throw err;
      // The database refused something the checks let through: find which rows, one by one.
      outcome = { inserted: 0, updated: 0, duplicates: [] };
      for (const e of entries) {
        try {
          const one = await session.transaction((tx) => write(tx, [e]));
          outcome.inserted += one.inserted;
          outcome.updated += one.updated;
          outcome.duplicates.push(...one.duplicates);
        } catch (rowErr) {
          if (!isDataError(rowErr)) throw rowErr;
          reject(e.seq, e.at, `the database refused it: ${rowErr instanceof Error ? rowErr.message : String(rowErr)}`);
        }
      }
    }
    summary.inserted += outcome.inserted;
    summary.updated += outcome.updated;
    for (const [e, first] of outcome.duplicates) reject(e.seq, e.at, `duplicate of ${first}`);
    opts.onBatch?.(summary);
  }

  const finish = (): ImportSummary => {
    trim();
    summary.rejects.push(...listed.map(({ at, reason }) => ({ at, reason })));
    return summary;
  };

  await startSeen(session);
  let batch: Entry[] = [];
  let inBatch = new Map<string, string>();
  try {
    for await (const record of recordsOf(input, opts.format, kind, opts.kind === 'rules')) {
      summary.read += 1;
      const seq = summary.read;
      if ('invalid' in record) {
        reject(seq, record.at, record.invalid);
        continue;
      }
      const checked = await kind.check(record.fields, opts.hash);
      if ('invalid' in checked) {
        reject(seq, record.at, checked.invalid);
        continue;
      }
      const key = kind.key(checked.ok);
      const first = inBatch.get(key);
      if (first !== undefined) {
        reject(seq, record.at, `duplicate of ${first}`);
        continue;
      }
      inBatch.set(key, record.at);
      batch.push({ seq, at: record.at, key, value: checked.ok });
      if (batch.length >= batchSize) {
        await commit(batch);
        batch = [];
        inBatch = new Map();
      }
    }
    await commit(batch);
  } catch (err) {
    // Unreadable input from here on: what was read before it is still written.
    if (err instanceof InputError) await commit(batch).catch(() => {});
    const done = finish();
    throw new ImportStopped(err instanceof Error ? err.message : String(err), done, { cause: err });
  }
  return finish();
}
