import { readFileSync } from 'node:fs';
import mysql from 'mysql2';
import type { DbTls } from '../db/tls.js';
import { trusted } from '../db/tls-options.js';
import type { DatabaseSettings } from '../settings.js';
import type { TlsWish } from './network.js';

/**
 * Where the doctor connects, derived from the same settings the service reads: a network database
 * (DATABASE_URL, or DB_* through RDS Proxy with credentials from Secrets Manager), the RDS Data API,
 * or embedded PGlite.
 */
export type Target =
  | { readonly kind: 'pglite'; readonly dataDir: string }
  | {
      readonly kind: 'data-api';
      readonly engine: 'postgres' | 'mysql';
      readonly resourceArn: string;
      readonly secretArn: string;
      readonly database: string | undefined;
    }
  | NetworkTarget;

export interface NetworkTarget {
  readonly kind: 'network';
  readonly engine: 'postgres' | 'mysql';
  readonly source: 'DATABASE_URL' | 'DB_*';
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** The URL the service connects with (DATABASE_URL form); absent for DB_* (credentials come from the secret). */
  readonly url?: string;
  readonly secretArn?: string;
  readonly tls: TlsWish;
  /** DB_* form: DB_TLS / DB_CA_FILE, which the service's drivers apply. */
  readonly dbTls?: DbTls;
  /** Query parameters of DATABASE_URL, for the pinning check. */
  readonly urlParams: Readonly<Record<string, string>>;
}

/** Where the settings point, with the TLS wish read from DATABASE_URL as the drivers read it. */
export function targetOf(db: DatabaseSettings): Target {
  if (db.engine === 'pglite') return { kind: 'pglite', dataDir: db.dataDir };
  if ('driver' in db) {
    if (db.driver === 'data-api') return { kind: 'data-api', engine: db.engine, resourceArn: db.resourceArn, secretArn: db.secretArn, database: db.name };
    return {
      kind: 'network',
      engine: db.engine,
      source: 'DB_*',
      host: db.host,
      port: db.port,
      database: db.name,
      secretArn: db.secretArn,
      tls: dbTlsWish(db.tls),
      dbTls: db.tls,
      urlParams: {},
    };
  }
  const u = new URL(db.url);
  const params = Object.fromEntries(u.searchParams);
  const host = decodeURIComponent(u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname);
  return {
    kind: 'network',
    engine: db.engine,
    source: 'DATABASE_URL',
    host,
    port: u.port === '' ? (db.engine === 'postgres' ? 5432 : 3306) : Number(u.port),
    database: decodeURIComponent(u.pathname.slice(1)) || (db.engine === 'postgres' ? decodeURIComponent(u.username) : ''),
    url: db.url,
    tls: db.engine === 'postgres' ? postgresTls(params) : mysqlTls(params),
    urlParams: params,
  };
}

/** Which database the target names, never a credential. */
export function describeTarget(t: Target): string {
  if (t.kind === 'pglite') return `embedded PGlite in ${t.dataDir}`;
  if (t.kind === 'data-api') return `${t.engine} through the RDS Data API (${t.resourceArn}${t.database === undefined ? '' : `, database ${t.database}`})`;
  return `${t.engine} at ${t.host}:${t.port}/${t.database} (from ${t.source})`;
}

/** DB_TLS as the drivers apply it: verify-full checks chain and name against Node's CAs plus DB_CA_FILE's. */
function dbTlsWish(tls: DbTls): TlsWish {
  const from = `DB_TLS=${tls.mode}`;
  if (tls.mode === 'off') return { mode: 'off', from, dbForm: true };
  if (tls.mode === 'require') return { mode: 'require', from, dbForm: true };
  return { mode: 'verify', from, dbForm: true, ...trusted(tls) };
}

/** postgres.js reads sslmode (or ssl): require/prefer/allow encrypt without checking; verify-*, true check. */
function postgresTls(params: Record<string, string>): TlsWish {
  const key = params['sslmode'] !== undefined ? 'sslmode' : 'ssl';
  const value = params[key];
  const from = value === undefined ? 'no sslmode in DATABASE_URL' : `${key}=${value}`;
  const ca = params['sslrootcert'] === undefined ? {} : { ca: readFileSync(params['sslrootcert'], 'utf8') };
  if (value === undefined || value === 'disable' || value === 'false') return { mode: 'off', from };
  if (value === 'allow' || value === 'prefer') return { mode: 'prefer', from };
  if (value === 'require') return { mode: 'require', from };
  return { mode: 'verify', from, ...ca };
}

/** mysql2 reads `ssl` as JSON options or the name of a profile (`Amazon RDS`); it verifies unless told not to. */
function mysqlTls(params: Record<string, string>): TlsWish {
  const value = params['ssl'];
  if (value === undefined || value === 'false') return { mode: 'off', from: 'no ssl in DATABASE_URL' };
  const from = `ssl=${value}`;
  let options: unknown;
  try {
    options = JSON.parse(value);
  } catch {
    // A profile name (`Amazon RDS`): mysql2's own bundle of CAs; an unknown name fails as it would in mysql2.
    // (ConnectionConfig is exported at run time but absent from mysql2's typings.)
    let ca: unknown;
    try {
      const getProfile: unknown = Reflect.get(Reflect.get(mysql, 'ConnectionConfig') ?? {}, 'getSSLProfile');
      const profile: unknown = typeof getProfile === 'function' ? getProfile(value) : undefined;
      ca = profile && typeof profile === 'object' ? Reflect.get(profile, 'ca') : undefined;
    } catch {
      ca = undefined;
    }
    return { mode: 'verify', from, ...(typeof ca === 'string' || (Array.isArray(ca) && ca.every((c): c is string => typeof c === 'string')) ? { ca } : {}) };
  }
  if (options && typeof options === 'object') {
    const o = options as { rejectUnauthorized?: unknown; ca?: unknown };
    const ca = typeof o.ca === 'string' ? { ca: o.ca } : Array.isArray(o.ca) && o.ca.every((c): c is string => typeof c === 'string') ? { ca: o.ca } : {};
    return { mode: o.rejectUnauthorized === false ? 'require' : 'verify', from, ...ca };
  }
  return options === true ? { mode: 'verify', from } : { mode: 'off', from };
}
