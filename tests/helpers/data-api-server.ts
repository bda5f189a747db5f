import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { findMarkers } from '../../shared/template.js';

/**
 * A small RDS-Data-API-compatible endpoint over the REAL PostgreSQL and MariaDB, for tests: the
 * SDK (`@aws-sdk/client-rds-data`) is pointed at it with `AWS_ENDPOINT_URL_RDS_DATA` and dummy
 * credentials, so its own REST/JSON serialisation is exercised. It implements ExecuteStatement as
 * the SDK speaks it (POST /Execute, JSON body with resourceArn, secretArn, sql, database,
 * parameters as named typed fields; records as typed fields with column metadata; errors named in
 * the `x-amzn-errortype` header), and BeginTransaction / CommitTransaction / RollbackTransaction:
 * each transaction holds one real connection (BEGIN … COMMIT or ROLLBACK) that ExecuteStatement
 * with its transactionId runs on; an unknown or finished transactionId is a BadRequestException.
 * Statements without one run on any pooled connection. Like the service, it resolves the secret ARN to credentials and
 * connects with them. `:name` markers are found with the project's own reading of quotes and
 * comments (findMarkers), then run as the engine's native markers.
 */

export type DataApiEngine = 'postgres' | 'mysql';

interface Resource {
  readonly engine: DataApiEngine;
  /** Server URL without credentials or database, e.g. postgres://127.0.0.1:5432 */
  readonly server: string;
}

interface Credentials {
  readonly username: string;
  readonly password: string;
}

type ArrayValue = { longValues: number[] } | { doubleValues: number[] } | { stringValues: string[] } | { booleanValues: boolean[] };
type Field =
  | { isNull: true }
  | { booleanValue: boolean }
  | { longValue: number }
  | { doubleValue: number }
  | { stringValue: string }
  | { blobValue: string }
  | { arrayValue: ArrayValue };

export interface ExecuteRequest {
  resourceArn?: string;
  secretArn?: string;
  sql?: string;
  database?: string;
  parameters?: Array<{ name: string; value: Record<string, unknown>; typeHint?: string }>;
  includeResultMetadata?: boolean;
  continueAfterTimeout?: boolean;
  formatRecordsAs?: string;
  transactionId?: string;
}

export interface DataApiServer {
  readonly url: string;
  /** Every ExecuteStatement request received, with the signature scheme it carried. */
  readonly requests: Array<{ body: ExecuteRequest; authorization: string }>;
  /** Every call's operation in order: Execute, BeginTransaction, CommitTransaction, RollbackTransaction. */
  readonly operations: string[];
  /** How many transactions are begun and not yet ended. */
  openTransactions(): number;
  addResource(arn: string, resource: Resource): void;
  addSecret(arn: string, credentials: Credentials): void;
  /** The next `count` requests fail with the named service error (e.g. DatabaseResumingException). */
  failNext(errorType: string, count: number): void;
  close(): Promise<void>;
}

const STATUS: Record<string, number> = {
  BadRequestException: 400,
  DatabaseErrorException: 400,
  DatabaseResumingException: 400,
  DatabaseUnavailableException: 504,
  ForbiddenException: 403,
  NotFoundException: 404,
  SecretsErrorException: 400,
  ServiceUnavailableError: 503,
  InternalServerErrorException: 500,
};

const BROKEN = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', '57P01']);

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

type Result = { columns: Array<{ name: string; typeName: string }>; records: Field[][] };

/** One connection taken from a pool, for a transaction. */
interface Held {
  run(sql: string, values: unknown[]): Promise<Result>;
  release(): void;
}

interface Pool {
  run(sql: string, values: unknown[]): Promise<Result>;
  reserve(): Promise<Held>;
  end(): Promise<void>;
}

interface Transaction {
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly held: Held;
}

export interface DataApiServerOptions {
  /**
   * PostgreSQL: bind a string value as VARCHAR, as the service does (pgjdbc's default), so a
   * statement comparing one with a non-text column fails unless it casts. Off: untyped, which
   * PostgreSQL reads as the column's type.
   */
  readonly stringsAsVarchar?: boolean;
}

export async function startDataApiServer(opts: DataApiServerOptions = {}): Promise<DataApiServer> {
  const resources = new Map<string, Resource>();
  const secrets = new Map<string, Credentials>();
  const pools = new Map<string, Pool>();
  const requests: DataApiServer['requests'] = [];
  const operations: string[] = [];
  const transactions = new Map<string, Transaction>();
  const injected: string[] = [];

  function poolFor(resource: Resource, creds: Credentials, database: string | undefined): Pool {
    const key = JSON.stringify([resource, creds, database]);
    let pool = pools.get(key);
    if (!pool) {
      pool = resource.engine === 'postgres' ? postgresPool(resource.server, creds, database, opts.stringsAsVarchar === true) : mysqlPool(resource.server, creds, database);
      pools.set(key, pool);
    }
    return pool;
  }

  function target(body: { resourceArn?: string; secretArn?: string }): { resource: Resource; creds: Credentials } {
    if (typeof body.resourceArn !== 'string' || typeof body.secretArn !== 'string') throw new ServiceError('BadRequestException', 'resourceArn and secretArn are required');
    const resource = resources.get(body.resourceArn);
    if (!resource) throw new ServiceError('BadRequestException', `Database cluster ${body.resourceArn} not found`);
    const creds = secrets.get(body.secretArn);
    if (!creds) throw new ServiceError('SecretsErrorException', 'Secrets Manager can not find the specified secret');
    return { resource, creds };
  }

  /** The open transaction a call names, on the same cluster and secret it was begun with. */
  function transaction(body: { resourceArn?: string; secretArn?: string; transactionId?: string }): Transaction {
    const tx = typeof body.transactionId === 'string' ? transactions.get(body.transactionId) : undefined;
    if (!tx || tx.resourceArn !== body.resourceArn || tx.secretArn !== body.secretArn) throw new ServiceError('BadRequestException', `Transaction ${String(body.transactionId)} is not found`);
    return tx;
  }

  async function begin(body: { resourceArn?: string; secretArn?: string; database?: string }): Promise<unknown> {
    const { resource, creds } = target(body);
    const held = await poolFor(resource, creds, body.database).reserve();
    try {
      await held.run('BEGIN', []);
    } catch (err) {
      held.release();
      throw err;
    }
    const transactionId = randomUUID();
    transactions.set(transactionId, { resourceArn: String(body.resourceArn), secretArn: String(body.secretArn), held });
    return { transactionId };
  }

  async function end(body: { resourceArn?: string; secretArn?: string; transactionId?: string }, how: 'COMMIT' | 'ROLLBACK'): Promise<unknown> {
    target(body);
    const tx = transaction(body);
    transactions.delete(String(body.transactionId));
    try {
      await tx.held.run(how, []);
    } finally {
      tx.held.release();
    }
    return { transactionStatus: how === 'COMMIT' ? 'Transaction Committed' : 'Rollback Complete' };
  }

  async function execute(body: ExecuteRequest): Promise<unknown> {
    const { resource, creds } = target(body);
    if (typeof body.sql !== 'string') throw new ServiceError('BadRequestException', 'sql is required');
    const tx = body.transactionId === undefined ? undefined : transaction(body);
    const byName = new Map<string, unknown>();
    for (const p of body.parameters ?? []) byName.set(p.name, fieldValue(p.value));
    // Our renderer names markers p1, p2…; a marker without a parameter is the service's error too.
    const markers = findMarkers(body.sql, resource.engine, 'named');
    let text = '';
    let at = 0;
    const values: unknown[] = [];
    for (const m of markers) {
      const name = body.sql.slice(m.start + 1, m.end);
      if (!byName.has(name)) throw new ServiceError('BadRequestException', `No value specified for parameter: ${name}`);
      values.push(byName.get(name));
      text += body.sql.slice(at, m.start) + (resource.engine === 'postgres' ? `$${values.length}` : '?');
      at = m.end;
    }
    text += body.sql.slice(at);
    const pool = poolFor(resource, creds, body.database);
    // The service keeps its own pool: a connection the database dropped is replaced, not reported.
    const result = tx
      ? await tx.held.run(text, values)
      : await pool.run(text, values).catch((err: unknown) => {
          if (BROKEN.has(String((err as { code?: unknown }).code))) return pool.run(text, values);
          throw err;
        });
    return {
      records: result.records,
      numberOfRecordsUpdated: 0,
      ...(body.includeResultMetadata ? { columnMetadata: result.columns.map((c) => ({ name: c.name, label: c.name, typeName: c.typeName })) } : {}),
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, payload: unknown, errorType?: string): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
      res.end(JSON.stringify(payload));
    };
    const operation = String(req.url).slice(1);
    const routes: Record<string, (body: ExecuteRequest) => Promise<unknown>> = {
      Execute: execute,
      BeginTransaction: begin,
      CommitTransaction: (b) => end(b, 'COMMIT'),
      RollbackTransaction: (b) => end(b, 'ROLLBACK'),
    };
    const route = req.method === 'POST' ? routes[operation] : undefined;
    if (!route) return reply(404, { message: `no route ${req.method} ${req.url}` }, 'NotFoundException');
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExecuteRequest;
    operations.push(operation);
    if (operation === 'Execute') requests.push({ body, authorization: String(req.headers.authorization ?? '') });
    const fail = injected.shift();
    if (fail) return reply(STATUS[fail] ?? 400, { message: `injected ${fail}` }, fail);
    try {
      reply(200, await route(body));
    } catch (err) {
      const e = err instanceof ServiceError ? err : asServiceError(err);
      reply(STATUS[e.type] ?? 400, { message: e.message }, e.type);
    }
  }

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    operations,
    openTransactions: () => transactions.size,
    addResource: (arn, resource) => void resources.set(arn, resource),
    addSecret: (arn, credentials) => void secrets.set(arn, credentials),
    failNext: (type, count) => {
      for (let i = 0; i < count; i += 1) injected.push(type);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // A transaction never ended is rolled back, as the service does when it expires.
      await Promise.all([...transactions.values()].map((tx) => tx.held.run('ROLLBACK', []).catch(() => {}).finally(() => tx.held.release())));
      transactions.clear();
      await Promise.all([...pools.values()].map((p) => p.end()));
    },
  };
}

/** A database failure as the service reports it: SQL errors vs an unreachable database. */
function asServiceError(err: unknown): ServiceError {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ECONNREFUSED' || code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return new ServiceError('DatabaseUnavailableException', 'Communications link failure');
  const state = (err as { sqlState?: unknown }).sqlState ?? code;
  return new ServiceError('DatabaseErrorException', `${message}; SQLState: ${String(state)}`);
}

function fieldValue(value: Record<string, unknown>): unknown {
  if (value['isNull']) return null;
  for (const key of ['stringValue', 'longValue', 'doubleValue', 'booleanValue']) if (key in value) return value[key];
  if (typeof value['blobValue'] === 'string') return Buffer.from(value['blobValue'], 'base64');
  throw new ServiceError('BadRequestException', `unsupported parameter value ${Object.keys(value).join(',')}`);
}

/** A JavaScript value from a driver as the typed field the Data API returns. */
function toField(value: unknown, integer: boolean): Field {
  if (value === null || value === undefined) return { isNull: true };
  if (typeof value === 'boolean') return { booleanValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { longValue: value } : { doubleValue: value };
  if (typeof value === 'bigint') return { longValue: Number(value) };
  if (Buffer.isBuffer(value)) return { blobValue: value.toString('base64') };
  if (value instanceof Date) return { stringValue: value.toISOString() };
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) {
    return { arrayValue: value.every((v) => Number.isInteger(v)) ? { longValues: value } : { doubleValues: value } };
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'boolean')) return { arrayValue: { booleanValues: value } };
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return { arrayValue: { stringValues: value } };
  if (typeof value === 'string') return integer ? { longValue: Number(value) } : { stringValue: value };
  return { stringValue: JSON.stringify(value) };
}

const withCredentials = (server: string, creds: Credentials, database: string | undefined): string => {
  const u = new URL(server);
  u.username = encodeURIComponent(creds.username);
  u.password = encodeURIComponent(creds.password);
  u.pathname = database ? `/${database}` : '/';
  return u.toString();
};

function postgresPool(server: string, creds: Credentials, database: string | undefined, varchar: boolean): Pool {
  const sql = postgres(withCredentials(server, creds, database), { max: 3, prepare: false, onnotice: () => {}, connect_timeout: 2 });
  const INT8 = 20;
  const VARCHAR = 1043;
  const runOn = async (q: postgres.Sql | postgres.ReservedSql, text: string, values: unknown[]): Promise<Result> => {
    const rows = await q.unsafe(text, (varchar ? values.map((v) => (typeof v === 'string' ? sql.typed(v, VARCHAR) : v)) : values) as never[]);
    const columns = rows.columns ?? [];
    return {
      columns: columns.map((c) => ({ name: c.name, typeName: String(c.type) })),
      records: [...rows].map((row) => columns.map((c) => toField((row as Record<string, unknown>)[c.name], c.type === INT8))),
    };
  };
  return {
    run: (text, values) => runOn(sql, text, values),
    reserve: async () => {
      const conn = await sql.reserve();
      return { run: (text, values) => runOn(conn, text, values), release: () => conn.release() };
    },
    end: () => sql.end({ timeout: 1 }),
  };
}

function mysqlPool(server: string, creds: Credentials, database: string | undefined): Pool {
  const pool = mysql.createPool({ uri: withCredentials(server, creds, database), connectionLimit: 3, charset: 'utf8mb4', connectTimeout: 2000, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  const BIT = 16;
  const LONGLONG = 8;
  const runOn = async (q: mysql.Pool | mysql.PoolConnection, text: string, values: unknown[]): Promise<Result> => {
    // The service prepares statements on the server, so the text's own `?` inside literals stay text;
    // BEGIN, COMMIT and ROLLBACK (no values) go as plain statements on the held connection.
    const [rows, fields] = values.length === 0 && /^(BEGIN|COMMIT|ROLLBACK)$/.test(text) ? await q.query(text) : await q.execute(text, values as never[]);
    const list = Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
    const cols = fields ?? [];
    return {
      columns: cols.map((f) => ({ name: f.name, typeName: String(f.columnType) })),
      records: list.map((row) =>
        cols.map((f) => {
          const v = row[f.name];
          // BIT(1) comes back as a boolean, like the service's JDBC mapping.
          if (f.columnType === BIT && f.columnLength === 1 && Buffer.isBuffer(v)) return { booleanValue: v[0] === 1 };
          return toField(v, f.columnType === LONGLONG);
        }),
      ),
    };
  };
  return {
    run: (text, values) => runOn(pool, text, values),
    reserve: async () => {
      const conn = await pool.getConnection();
      return { run: (text, values) => runOn(conn, text, values), release: () => conn.release() };
    },
    end: () => pool.end(),
  };
}
