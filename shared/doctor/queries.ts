import type { HashConfig } from '../hash.js';
import type { Settings } from '../settings.js';
import type { SqlTemplate } from '../template.js';
import type { AuthnRequest } from '../types.js';
import { errorCode } from '../db/retry.js';
import { lookupColumn, mysqlPlan, postgresPlan, type PlanReading } from './plan.js';
import { queryProblem } from './problems.js';
import type { Finding } from './report.js';
import type { DoctorSession } from './session.js';

/**
 * The query half of the doctor: each template's result columns (without reading a row) and its
 * plan (which tables it reads whole).
 */

/** Harmless values for the probe lookups: a client no real device is. */
export const PROBE: AuthnRequest = { username: 'mqtt-auth-doctor', clientid: 'mqtt-auth-doctor', peerhost: '127.0.0.1', password: '', client_attrs: {} };

/** The Data API reports the database's error as text ending "SQLState: XXXXX"; read it as the code. */
function asServerError(err: unknown): unknown {
  if (errorCode(err) !== undefined || !(err instanceof Error)) return err;
  const state = /SQLState: ([0-9A-Z]{5})/.exec(err.message)?.[1];
  const byState: Record<string, string> = { '42S02': 'ER_NO_SUCH_TABLE', '42S22': 'ER_BAD_FIELD_ERROR' };
  return state === undefined ? err : Object.assign(new Error(err.message), { code: byState[state] ?? state });
}

/** The column and index checks of both templates on one session. */
export async function checkQueries(session: DoctorSession, templates: Partial<Record<'authn' | 'authz', SqlTemplate>>, settings: Settings, add: (f: Finding) => void): Promise<void> {
  let sessionPrepared = false;
  for (const key of ['authn', 'authz'] as const) {
    const template = templates[key];
    if (template === undefined) continue;
    const setting = key === 'authn' ? 'AUTHN_QUERY' : 'AUTHZ_QUERY';
    let columns: string[];
    try {
      columns = await session.columns(template.text, template.bind(PROBE));
    } catch (err) {
      const p = queryProblem(asServerError(err), setting);
      add({ check: `${key}-query`, status: 'fail', message: p.message, hint: p.hint });
      add({ check: `${key}-index`, status: 'skip', message: `${setting} does not run` });
      continue;
    }
    add(key === 'authn' ? authnColumns(columns, settings.passwordHash) : authzColumns(columns));
    try {
      if (session.engine === 'postgres' && session.keepsSession && !sessionPrepared) {
        // Only this diagnostic session: with sequential scans priced out, a scan that remains has no index to use.
        await session.rows('SET enable_seqscan = off', []);
        sessionPrepared = true;
      }
      const explain = session.engine === 'postgres' ? `EXPLAIN (FORMAT JSON) ${template.text}` : `EXPLAIN ${template.text}`;
      const rows = await session.rows(explain, template.bind(PROBE));
      const source = key === 'authn' ? settings.authnQuery : settings.authzQuery;
      const plan = await withCatalog(session, session.engine === 'postgres' ? postgresPlan(rows) : mysqlPlan(rows), lookupColumn(source));
      add(indexFinding(key, setting, plan, source));
    } catch (err) {
      add({ check: `${key}-index`, status: 'warn', message: `EXPLAIN of ${setting} failed: ${err instanceof Error ? err.message : String(err)}`, hint: `run EXPLAIN on ${setting} by hand` });
    }
  }
}

/**
 * A full scan on a table that does have an index on the lookup column is the optimizer's choice
 * for a small table (or, on the Data API, a plan made without pricing sequential scans out).
 */
async function withCatalog(session: DoctorSession, plan: PlanReading, column: string | undefined): Promise<PlanReading> {
  if (column === undefined) return plan;
  const fullScans = await Promise.all(
    plan.fullScans.map(async (scan) => {
      if (scan.unusedIndex !== undefined) return scan;
      const [row] = await session.rows(session.indexQuery, [scan.table, column]);
      const name = row?.['name'];
      return typeof name === 'string' ? { ...scan, unusedIndex: name } : scan;
    }),
  );
  return { ...plan, fullScans };
}

function authnColumns(columns: readonly string[], hash: HashConfig): Finding {
  const has = (c: string): boolean => columns.includes(c);
  const returned = columns.length === 0 ? 'no columns' : columns.join(', ');
  if (!has('password_hash') && !has('password')) {
    return {
      check: 'authn-query',
      status: 'fail',
      message: `returns ${returned} but no password_hash (or password) column: every login would be denied`,
      hint: 'select the stored hash under that name, e.g. SELECT pwd AS password_hash, salt, is_superuser FROM …',
      data: { columns },
    };
  }
  const salted = (hash.name === 'pbkdf2' || ('salt_position' in hash && hash.salt_position !== 'disable')) && !has('salt');
  if (salted) {
    return {
      check: 'authn-query',
      status: 'warn',
      message: `returns ${returned} but no salt column, while PASSWORD_HASH uses a salt: every salt is taken as empty`,
      hint: 'select the salt column (… , salt FROM …), or set PASSWORD_HASH salt_position to disable if the hashes are unsalted',
      data: { columns },
    };
  }
  const notes = has('is_superuser') ? '' : ' (no is_superuser column: nobody is a superuser)';
  return { check: 'authn-query', status: 'ok', message: `compiles and returns ${returned}${notes}`, data: { columns } };
}

function authzColumns(columns: readonly string[]): Finding {
  const returned = columns.length === 0 ? 'no columns' : columns.join(', ');
  const missing = ['permission', 'action', 'topic'].filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    return {
      check: 'authz-query',
      status: 'fail',
      message: `returns ${returned} but not ${missing.join(', ')}: every ACL row would be invalid and answered by AUTHZ_BACKEND_FAILURE`,
      hint: `select permission, action and topic (optionally qos, retain), aliasing your columns: … ${missing[0]} AS ${missing[0]} …`,
      data: { columns },
    };
  }
  return { check: 'authz-query', status: 'ok', message: `compiles and returns ${returned}`, data: { columns } };
}

function indexFinding(key: 'authn' | 'authz', setting: string, plan: PlanReading, template: string): Finding {
  const check = `${key}-index` as const;
  const unindexed = plan.fullScans.filter((s) => s.unusedIndex === undefined);
  if (unindexed.length === 0) {
    const small = plan.fullScans.map((s) => `${s.table} is small, so it is read whole for now (index ${s.unusedIndex} will serve as it grows)`);
    const named = plan.indexes.filter((i) => i !== '(a unique key)');
    const via = named.length > 0 ? `through index ${named.join(', ')}` : plan.indexes.length > 0 ? 'through a unique key' : 'without searching a table';
    return { check, status: 'ok', message: [`${setting} finds its rows ${via}`, ...small].join('; '), data: { indexes: plan.indexes } };
  }
  const column = lookupColumn(template);
  const tables = unindexed.map((s) => s.table);
  const first = tables[0] ?? 'the table';
  return {
    check,
    status: 'warn',
    message: `${setting} reads the whole table ${tables.join(', ')} on every lookup (a full scan: no index on ${column ?? 'the lookup column'})`,
    hint: column === undefined ? `create an index on the column of ${first} that ${setting} compares with the client's value` : `CREATE INDEX ${first}_${column}_idx ON ${first} (${column});`,
    data: { fullScans: tables },
  };
}

