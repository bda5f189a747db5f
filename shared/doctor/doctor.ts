import { ConfigError } from '../errors.js';
import { createLogger } from '../log.js';
import { loadSettings, type Settings } from '../settings.js';
import { compileSql, type SqlTemplate } from '../template.js';
import { connect } from './connect.js';
import { checkQueries, PROBE } from './queries.js';
import { CHECK_NAMES, type CheckName, type Finding, type Report } from './report.js';
import { describeTarget, targetOf, type Target } from './target.js';

/**
 * `mqtt-auth doctor`: checks the configuration end to end, in the order a request meets it, and
 * explains each failure. A check that cannot run because an earlier one failed is skipped with
 * that reason, so the first FAIL is the one to fix.
 */

interface DoctorOptions {
  /** Budget for each network step (DNS, TCP, TLS, login); default 3000 ms. */
  readonly timeoutMs?: number;
  /** Lookups timed for the latency check (after one warm-up); default 5. */
  readonly samples?: number;
}

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
  // Every check not decided by now is skipped for want of a session.
  const report = (target: string): Report => ({
    target,
    findings: CHECK_NAMES.map((check): Finding => found.get(check) ?? { check, status: 'skip', message: 'no database session to run it on (see the failure above)' }),
  });

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
  const session = await connect(target, timeoutMs, add);
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
