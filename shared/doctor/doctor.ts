import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { HashConfig } from '../hash.js';
import { createLogger } from '../log.js';
import { loadSettings, type Settings } from '../settings.js';
import { compileSql, type SqlTemplate } from '../template.js';
import type { AuthnRequest } from '../types.js';
import { checkDns, checkTcp, checkTls, codeOf } from './network.js';
import { lookupColumn, mysqlPlan, postgresPlan, type PlanReading } from './plan.js';
import { loginProblem, queryProblem, type Problem } from './problems.js';
import { CHECK_NAMES, type CheckName, type Finding, type Report } from './report.js';
import { openDataApi, openMysql, openPglite, openPostgres, type DoctorSession } from './session.js';
import { describeTarget, targetOf, type NetworkTarget, type Target } from './target.js';
import type { DbCredentials } from '../aws/secrets.js';

/**
 * `mqtt-auth doctor`: checks the configuration end to end, in the order a request meets it, and
 * explains each failure. A check that cannot run because an earlier one failed is skipped with
 * that reason, so the first FAIL is the one to fix.
 */

export interface DoctorOptions {
  /** Budget for each network step (DNS, TCP, TLS, login); default 3000 ms. */
  readonly timeoutMs?: number;
  /** Lookups timed for the latency check (after one warm-up); default 5. */
  readonly samples?: number;
}

/** Harmless values for the probe lookups: a client no real device is. */
const PROBE: AuthnRequest = { username: 'mqtt-auth-doctor', clientid: 'mqtt-auth-doctor', peerhost: '127.0.0.1', password: '', client_attrs: {} };

/** Median latency above which a lookup is worth a warning (the broker waits this long per CONNECT). */
const SLOW_MS = { pooled: 50, 'data-api': 250 } as const;

/** Runs every check against `env` (the same variables the service reads) and returns the findings in check order. */
export async function runDoctor(env: Readonly<Record<string, string | undefined>>, opts: DoctorOptions = {}): Promise<Report> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const samples = opts.samples ?? 5;
  const found = new Map<CheckName, Finding>();
  // A skip never hides a finding already made for the same check.
  const add = (f: Finding): void => {
    if (f.status !== 'skip' || !found.has(f.check)) found.set(f.check, f);
  };
  const skipRest = (reason: string): void => {
    for (const check of CHECK_NAMES) if (!found.has(check)) add({ check, status: 'skip', message: reason });
  };
  const report = (target: string): Report => {
    skipRest('no database session to run it on (see the failure above)');
    return { target, findings: CHECK_NAMES.map((c) => found.get(c)).filter((f): f is Finding => f !== undefined) };
  };

  let settings: Settings;
  try {
    settings = loadSettings(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    add({ check: 'settings', status: 'fail', message: err.message, hint: `fix ${err.setting} (see the Settings table in the README)` });
    skipRest('the settings do not parse');
    return report('(settings do not parse)');
  }
  const target = targetOf(settings.database);
  add({ check: 'settings', status: 'ok', message: `parsed; database: ${describeTarget(target)}; PASSWORD_HASH ${settings.passwordHash.name}` });

  const dialect = target.kind === 'pglite' ? 'postgres' : target.engine;
  const markers = target.kind === 'data-api' ? 'named' : 'native';
  const templates: Partial<Record<'authn' | 'authz', SqlTemplate>> = {};
  for (const [key, setting, text] of [
    ['authn', 'AUTHN_QUERY', settings.authnQuery],
    ['authz', 'AUTHZ_QUERY', settings.authzQuery],
  ] as const) {
    try {
      templates[key] = compileSql(text, { dialect, context: key, setting, markers });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      add({ check: `${key}-query`, status: 'fail', message: `does not compile: ${err.message}`, hint: `fix the placeholder syntax in ${setting}` });
      add({ check: `${key}-index`, status: 'skip', message: `${setting} does not compile` });
    }
  }

  add(pinning(target, settings));
  const session = await connect(target, settings, timeoutMs, add);
  if (session === undefined) return report(describeTarget(target));
  try {
    await checkQueries(session, templates, settings, add);
  } finally {
    await session.close();
  }
  if (templates.authn !== undefined && found.get('authn-query')?.status !== 'fail') add(await latency(settings, templates.authn, samples, target.kind === 'data-api' ? SLOW_MS['data-api'] : SLOW_MS.pooled));
  else add({ check: 'latency', status: 'skip', message: 'AUTHN_QUERY failed its check' });
  return report(describeTarget(target));
}

/** The network and login checks; a session on success, undefined (with the rest skipped) on failure. */
async function connect(target: Target, settings: Settings, timeoutMs: number, add: (f: Finding) => void): Promise<DoctorSession | undefined> {
  if (target.kind === 'pglite') {
    const why = `embedded PGlite in ${target.dataDir}: no network connection to check`;
    for (const check of ['secret', 'dns', 'tcp', 'tls', 'login'] as const) add({ check, status: 'skip', message: why });
    if (!existsSync(join(target.dataDir, 'PG_VERSION'))) {
      add({ check: 'database', status: 'warn', message: `${target.dataDir} holds no PGlite database yet`, hint: '`npm start` creates it with the reference schema and a demo user; or set DATABASE_URL' });
      return undefined;
    }
    try {
      const session = await openPglite(target.dataDir);
      add({ check: 'database', status: 'ok', message: `opened the PGlite database in ${target.dataDir} (stop \`npm start\` first: one process at a time)` });
      return session;
    } catch (err) {
      add({
        check: 'database',
        status: 'fail',
        message: `cannot open the PGlite database in ${target.dataDir}: ${err instanceof Error ? err.message : String(err)}`,
        hint: 'stop any other process using the folder (npm start); if it is damaged, move it aside and let npm start create a new one',
      });
      return undefined;
    }
  }
  if (target.kind === 'data-api') {
    add({ check: 'secret', status: 'skip', message: 'the Data API reads DB_SECRET_ARN itself' });
    const why = 'the RDS Data API is an HTTPS call through the AWS SDK: no database connection to check';
    for (const check of ['dns', 'tcp', 'tls'] as const) add({ check, status: 'skip', message: why });
    try {
      const session = await openDataApi({ engine: target.engine, resourceArn: target.resourceArn, secretArn: target.secretArn, database: target.database, timeoutMs: timeoutMs * 3 });
      add({ check: 'login', status: 'ok', message: `the Data API ran a statement as "${session.user}" on ${session.server}` });
      add({ check: 'database', status: 'ok', message: target.database === undefined ? 'no DB_NAME: the cluster\'s default database' : `database "${target.database}" answers` });
      return session;
    } catch (err) {
      const p = dataApiProblem(err, target.database);
      if (p.check === 'database') add({ check: 'login', status: 'ok', message: 'the Data API accepted the call and the credentials' });
      add({ check: p.check, status: 'fail', message: p.message, hint: p.hint });
      return skipAfter(add, 'the Data API call failed', ['login', 'database']);
    }
  }

  let creds: DbCredentials | undefined;
  if (target.secretArn !== undefined) {
    try {
      const { cachedSecret, parseDbCredentials } = await import('../aws/secrets.js');
      creds = parseDbCredentials(await cachedSecret(target.secretArn, { timeoutMs: timeoutMs * 2 }).get(), target.secretArn);
      add({ check: 'secret', status: 'ok', message: `read the database credentials (user "${creds.username}") from ${target.secretArn}` });
    } catch (err) {
      add({
        check: 'secret',
        status: 'fail',
        message: err instanceof Error ? err.message : String(err),
        hint: 'the role running this needs secretsmanager:GetSecretValue on that ARN (and kms:Decrypt for a customer key); the secret must be JSON {"username": …, "password": …}',
      });
      return skipAfter(add, 'the credentials could not be read', ['dns', 'tcp', 'tls', 'login', 'database']);
    }
  } else add({ check: 'secret', status: 'skip', message: 'the credentials are in DATABASE_URL' });

  const dns = await checkDns(target.host, timeoutMs);
  add(dns.finding);
  if (dns.address === undefined) return skipAfter(add, 'the host name does not resolve', ['tcp', 'tls', 'login', 'database']);
  const tcp = await checkTcp(dns.address, target.port, timeoutMs);
  add(tcp);
  if (tcp.status === 'fail') return skipAfter(add, 'the port cannot be reached', ['tls', 'login', 'database']);
  const tls = await checkTls(target.engine, target.host, dns.address, target.port, target.tls, timeoutMs);
  add(tls);
  if (tls.status === 'fail') return skipAfter(add, 'TLS failed', ['login', 'database']);

  const user = creds?.username ?? userOf(target);
  try {
    const session = await (target.engine === 'postgres' ? openPostgres : openMysql)(target, creds, timeoutMs);
    add({ check: 'login', status: 'ok', message: `logged in as "${session.user}" on ${session.server}` });
    add({ check: 'database', status: 'ok', message: `database "${target.database}" exists and the user may use it` });
    return session;
  } catch (err) {
    const p = loginProblem(err, target.engine, user, target.database);
    if (p.check === 'database') {
      add({ check: 'login', status: 'ok', message: `the server accepted the credentials of "${user}"` });
      add({ check: 'database', status: 'fail', message: p.message, hint: p.hint });
      return undefined;
    }
    add({ check: p.check, status: 'fail', message: p.message, hint: p.hint });
    return skipAfter(add, 'the login failed', ['login', 'database']);
  }
}

/** Marks the checks not yet decided as skipped for `reason`. */
function skipAfter(add: (f: Finding) => void, reason: string, checks: readonly CheckName[]): undefined {
  for (const check of checks) add({ check, status: 'skip', message: reason });
  return undefined;
}

function userOf(target: NetworkTarget): string {
  if (target.url === undefined) return '?';
  const u = new URL(target.url);
  return decodeURIComponent(u.username) || (target.engine === 'postgres' ? 'the OS user' : '');
}

/** RDS Data API failures: the SDK error name, and the SQLState when the database itself refused. */
function dataApiProblem(err: unknown, database: string | undefined): Problem {
  const name = err instanceof Error ? err.name : 'error';
  const text = err instanceof Error ? err.message : String(err);
  if (name === 'AccessDeniedException' || name === 'ForbiddenException' || name === 'UnrecognizedClientException') {
    return { check: 'login', message: `AWS refused the call (${name})`, hint: 'the role needs rds-data:ExecuteStatement on DB_RESOURCE_ARN and secretsmanager:GetSecretValue on DB_SECRET_ARN' };
  }
  if (/database .* does not exist|Unknown database/i.test(text) || /SQLState: (3D000|42000)/.test(text)) {
    return { check: 'database', message: `database "${database ?? '(default)'}" does not exist on the cluster`, hint: 'create it or fix DB_NAME' };
  }
  if (/SQLState: 28/.test(text)) return { check: 'login', message: 'the database refused the credentials in DB_SECRET_ARN', hint: 'update the secret (username and password) or the database user' };
  return { check: 'login', message: `the Data API call failed (${name}): ${text.slice(0, 200)}`, hint: 'check DB_RESOURCE_ARN (an Aurora cluster with the Data API enabled), DB_SECRET_ARN and the region' };
}

/** The Data API reports the database's error as text ending "SQLState: XXXXX"; read it as the code. */
function asServerError(err: unknown): unknown {
  if (codeOf(err) !== undefined || !(err instanceof Error)) return err;
  const state = /SQLState: ([0-9A-Z]{5})/.exec(err.message)?.[1];
  const byState: Record<string, string> = { '42S02': 'ER_NO_SUCH_TABLE', '42S22': 'ER_BAD_FIELD_ERROR' };
  return state === undefined ? err : Object.assign(new Error(err.message), { code: byState[state] ?? state });
}

async function checkQueries(session: DoctorSession, templates: Partial<Record<'authn' | 'authz', SqlTemplate>>, settings: Settings, add: (f: Finding) => void): Promise<void> {
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

/** State a statement keeps in the session pins a pooled proxy connection (RDS Proxy, PgBouncer). */
const SESSION_STATE = /\b(pg_advisory_lock|pg_advisory_lock_shared|set_config|currval|lastval|get_lock|found_rows|last_insert_id)\s*\(/i;

function pinning(target: Target, settings: Settings): Finding {
  if (target.kind === 'pglite') return { check: 'pinning', status: 'skip', message: 'embedded PGlite: no proxy in between' };
  if (target.kind === 'data-api') return { check: 'pinning', status: 'ok', message: 'RDS Data API: one HTTPS call per statement, no session to pin' };
  const mode =
    target.engine === 'postgres'
      ? 'postgres.js with unnamed statements (prepare: false) and no session SET'
      : 'mysql2 text protocol, values bound on the client, no server-side prepared statements and no session SET';
  const proxy = /\.proxy-[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com(\.cn)?$/i.test(target.host)
    ? 'through RDS Proxy'
    : target.source === 'DB_*'
      ? 'through the DB_DRIVER=proxy endpoint'
      : target.port === 6432
        ? 'through what looks like PgBouncer (port 6432)'
        : undefined;
  const problems: string[] = [];
  for (const [setting, text] of [
    ['AUTHN_QUERY', settings.authnQuery],
    ['AUTHZ_QUERY', settings.authzQuery],
  ] as const) {
    const unquoted = text.replace(/'(?:[^'\\]|\\.|'')*'/g, "''");
    const fn = SESSION_STATE.exec(unquoted)?.[1];
    if (fn !== undefined) problems.push(`${setting} calls ${fn}(), which keeps state in the session`);
    if (target.engine === 'mysql' && /@[A-Za-z_]/.test(unquoted)) problems.push(`${setting} uses a user variable (@…), which keeps state in the session`);
  }
  if (target.engine === 'postgres' && proxy !== undefined) {
    // postgres.js sends URL parameters it does not know as start-up parameters of the session.
    const known = new Set(['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'host', 'port', 'application_name', 'connect_timeout', 'prepare', 'max', 'idle_timeout', 'max_lifetime', 'target_session_attrs']);
    for (const key of Object.keys(target.urlParams)) {
      if (!known.has(key)) problems.push(`DATABASE_URL parameter ${key} becomes a session setting at connect (PgBouncer refuses start-up parameters it does not track)`);
    }
  }
  if (problems.length > 0) {
    return {
      check: 'pinning',
      status: proxy === undefined ? 'ok' : 'warn',
      message: `driver: ${mode}; but ${problems.join('; ')}${proxy === undefined ? ' (harmless without a proxy)' : `, which pins sessions ${proxy}`}`,
      ...(proxy === undefined ? {} : { hint: 'move session settings to the database role (ALTER ROLE … SET …) or the proxy\'s initialization query, and keep the queries free of session state' }),
    };
  }
  return { check: 'pinning', status: 'ok', message: `driver: ${mode}: does not pin proxy sessions${proxy === undefined ? '' : ` (${proxy})`}` };
}

/** The median of a few lookups through the service's own driver and pool, with the probe client. */
async function latency(settings: Settings, authn: SqlTemplate, samples: number, slowMs: number): Promise<Finding> {
  const { createContainer } = await import('../container.js');
  const container = createContainer(settings, { log: createLogger('silent') });
  try {
    const store = await container.store();
    const params = authn.bind(PROBE);
    await store.query(authn.text, params);
    const times: number[] = [];
    for (let i = 0; i < samples; i += 1) {
      const started = performance.now();
      await store.query(authn.text, params);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] ?? 0;
    const summary = `median of ${samples} lookups ${median.toFixed(1)} ms (fastest ${(times[0] ?? 0).toFixed(1)}, slowest ${(times[times.length - 1] ?? 0).toFixed(1)}) through the service's own driver`;
    const data = { medianMs: Number(median.toFixed(2)), samplesMs: times.map((t) => Number(t.toFixed(2))) };
    if (median > slowMs) {
      return { check: 'latency', status: 'warn', message: `${summary}: slow, every CONNECT waits this long`, hint: 'check the index findings above, the network distance to the database, and the server\'s load', data };
    }
    return { check: 'latency', status: 'ok', message: summary, data };
  } catch (err) {
    return { check: 'latency', status: 'fail', message: `the service's driver could not run AUTHN_QUERY: ${err instanceof Error ? err.message : String(err)}`, hint: 'see the checks above; the service would answer by AUTHN_BACKEND_FAILURE' };
  } finally {
    await container.close();
  }
}
