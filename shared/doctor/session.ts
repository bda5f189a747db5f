import { regionOf } from '../aws/secrets.js';
import type { DbCredentials } from '../aws/secrets.js';
import type { Row } from '../types.js';
import type { NetworkTarget } from './target.js';

/**
 * One diagnostic connection: the same driver and options the service uses, opened once, without
 * the pool's retries, so the server's own error reaches the doctor unchanged.
 */
export interface DoctorSession {
  readonly engine: 'postgres' | 'mysql';
  /** Server version and the user logged in, for the report. */
  readonly server: string;
  readonly user: string;
  /** False when every statement may run in a different session (the Data API). */
  readonly keepsSession: boolean;
  rows(text: string, params: readonly string[]): Promise<Row[]>;
  /** The statement that names an index whose first column is (table, column), in this session's markers. */
  readonly indexQuery: string;
  /** The names of the columns a statement returns, without reading a row. */
  columns(text: string, params: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}

/** An index whose leading column is the given one, from the catalog (markers filled per driver). */
function indexQuery(engine: 'postgres' | 'mysql', marker: (n: number) => string): string {
  return engine === 'postgres'
    ? `SELECT i.relname AS name FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
       WHERE t.relname = ${marker(1)} AND a.attname = ${marker(2)} AND pg_table_is_visible(t.oid) LIMIT 1`
    : `SELECT index_name AS name FROM information_schema.statistics
       WHERE table_schema = DATABASE() AND table_name = ${marker(1)} AND column_name = ${marker(2)} AND seq_in_index = 1 LIMIT 1`;
}

/** `SELECT * FROM (<query>) LIMIT 0`: the columns of any SELECT, on engines without a describe. */
export function wrapLimit0(text: string): string {
  const body = text.trim().replace(/;+\s*$/, '');
  // The newline ends a trailing `--` comment inside the subquery.
  return `SELECT * FROM (${body}\n) AS mqtt_auth_doctor LIMIT 0`;
}

/** postgres.js as the service runs it (unnamed statements), one connection, by URL or by host and secret. */
export async function openPostgres(target: NetworkTarget, creds: DbCredentials | undefined, timeoutMs: number): Promise<DoctorSession> {
  const { default: postgres } = await import('postgres');
  const { postgresWhere } = await import('../db/postgres.js');
  const options = {
    max: 1,
    prepare: false,
    connect_timeout: timeoutMs / 1000,
    idle_timeout: 5,
    onnotice: () => {},
    connection: { application_name: 'mqtt-auth-doctor' },
    // The server's first error is the finding: no reconnect loop behind it.
    backoff: () => 0,
  };
  const where =
    creds === undefined
      ? {}
      : postgresWhere({ host: target.host, port: target.port, database: target.database, user: creds.username, password: creds.password, tls: target.dbTls ?? { mode: 'off' } });
  const sql = target.url === undefined ? postgres({ ...options, ...where }) : postgres(target.url, options);
  try {
    const [me] = await sql.unsafe<Array<{ u: string; v: string }>>("SELECT current_user AS u, current_setting('server_version') AS v");
    return {
      engine: 'postgres',
      server: `PostgreSQL ${me?.v ?? '?'}`,
      user: me?.u ?? '?',
      keepsSession: true,
      indexQuery: indexQuery('postgres', (n) => `$${n}`),
      rows: async (text, params) => [...(await sql.unsafe(text, [...params]))],
      columns: async (text, params) => {
        const described = await sql.unsafe(text, [...params]).describe();
        return described.columns.map((c) => c.name);
      },
      close: () => sql.end({ timeout: 1 }),
    };
  } catch (err) {
    await sql.end({ timeout: 0 }).catch(() => {});
    throw err;
  }
}

/** mysql2 as the service runs it (values bound on the client), one connection. */
export async function openMysql(target: NetworkTarget, creds: DbCredentials | undefined, timeoutMs: number): Promise<DoctorSession> {
  const { default: mysql } = await import('mysql2/promise');
  const { bindOnClient, mysqlWhere } = await import('../db/mysql.js');
  const where =
    creds === undefined || target.url !== undefined
      ? { uri: target.url ?? '' }
      : mysqlWhere({ host: target.host, port: target.port, database: target.database, user: creds.username, password: creds.password, tls: target.dbTls ?? { mode: 'off' } });
  const conn = await mysql.createConnection({ ...where, connectTimeout: timeoutMs, queryFormat: bindOnClient, charset: 'utf8mb4', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
  const run = async (text: string, params: readonly string[]): Promise<{ rows: Row[]; fields: string[] }> => {
    const [rows, fields] = await conn.query(text, [...params]);
    return { rows: Array.isArray(rows) ? (rows as Row[]) : [], fields: Array.isArray(fields) ? fields.map((f) => f.name) : [] };
  };
  try {
    const [me] = (await run('SELECT CURRENT_USER() AS u, VERSION() AS v', [])).rows;
    return {
      engine: 'mysql',
      server: `${/mariadb/i.test(String(me?.['v'])) ? 'MariaDB' : 'MySQL'} ${String(me?.['v'] ?? '?')}`,
      user: String(me?.['u'] ?? '?'),
      keepsSession: true,
      indexQuery: indexQuery('mysql', () => '?'),
      rows: async (text, params) => (await run(text, params)).rows,
      columns: async (text, params) => (await run(wrapLimit0(text), params)).fields,
      close: () => conn.end(),
    };
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

/** The embedded PGlite folder the local server uses (one process at a time). */
export async function openPglite(dataDir: string): Promise<DoctorSession> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { lockDataDir } = await import('../db/pglite-lock.js');
  // Refused with a plain explanation while npm start holds the folder.
  const release = await lockDataDir(dataDir, () => {});
  let db: InstanceType<typeof PGlite>;
  try {
    db = await PGlite.create(dataDir);
  } catch (err) {
    await release();
    throw err;
  }
  return {
    engine: 'postgres',
    server: 'embedded PGlite',
    user: 'postgres',
    keepsSession: true,
    indexQuery: indexQuery('postgres', (n) => `$${n}`),
    rows: async (text, params) => (await db.query<Row>(text, [...params])).rows,
    columns: async (text) => (await db.describeQuery(text)).resultFields.map((f) => f.name),
    close: async () => {
      try {
        await db.close();
      } finally {
        await release();
      }
    },
  };
}

/** The Data API: every statement is one HTTPS call that may land in a different session. */
export async function openDataApi(opts: { engine: 'postgres' | 'mysql'; resourceArn: string; secretArn: string; database: string | undefined; timeoutMs: number }): Promise<DoctorSession> {
  const { RDSDataClient } = await import('@aws-sdk/client-rds-data');
  const client = new RDSDataClient({ region: regionOf(opts.resourceArn), maxAttempts: 1 });
  const { decodeRecords, statement } = await import('../db/data-api.js');
  const run = async (text: string, params: readonly string[]): Promise<{ rows: Row[]; fields: string[] }> => {
    const out = await client.send(statement(opts, text, params), { abortSignal: AbortSignal.timeout(opts.timeoutMs) });
    const columns = out.columnMetadata ?? [];
    return { rows: decodeRecords(columns, out.records ?? []), fields: columns.map((c, i) => c.label ?? c.name ?? `column${i + 1}`) };
  };
  try {
    const [me] = (await run(opts.engine === 'postgres' ? "SELECT current_user AS u, current_setting('server_version') AS v" : 'SELECT CURRENT_USER() AS u, VERSION() AS v', [])).rows;
    return {
      engine: opts.engine,
      server: `${opts.engine === 'postgres' ? 'PostgreSQL' : 'MySQL'} ${String(me?.['v'] ?? '?')} (Data API)`,
      user: String(me?.['u'] ?? '?'),
      keepsSession: false,
      indexQuery: indexQuery(opts.engine, (n) => `:p${n}`),
      rows: async (text, params) => (await run(text, params)).rows,
      columns: async (text, params) => (await run(wrapLimit0(text), params)).fields,
      close: async () => client.destroy(),
    };
  } catch (err) {
    client.destroy();
    throw err;
  }
}
