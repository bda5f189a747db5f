import { ExecuteStatementCommand, RDSDataClient, type ColumnMetadata, type Field } from '@aws-sdk/client-rds-data';
import type { SqlStore } from './port.js';
import { errorCode, resilient } from './retry.js';
import { regionOf } from '../aws/secrets.js';
import { BackendError } from '../errors.js';
import type { Dialect } from '../template.js';
import type { Row } from '../types.js';

export interface DataApiOptions {
  readonly dialect: Dialect;
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly database: string | undefined;
  /** One budget for the whole call, retries included. */
  readonly timeoutMs: number;
}

/**
 * Data API failures worth another try inside the budget: an auto-paused Aurora cluster resuming,
 * the database or the service briefly unavailable, throttling. SQL errors (BadRequestException,
 * DatabaseErrorException), access and secret errors are final.
 */
const TRANSIENT = new Set(['DatabaseResumingException', 'DatabaseUnavailableException', 'ServiceUnavailableError', 'InternalServerErrorException', 'ThrottlingException']);

/**
 * One ExecuteStatement: the statement with named markers (`:p1`, `:p2`…), every value a string
 * parameter, column metadata included (rows are decoded by name), never left running past a timeout;
 * with a transactionId, inside that transaction.
 */
export function statement(opts: Pick<DataApiOptions, 'resourceArn' | 'secretArn' | 'database'>, text: string, params: readonly string[], transactionId?: string): ExecuteStatementCommand {
  return new ExecuteStatementCommand({
    resourceArn: opts.resourceArn,
    secretArn: opts.secretArn,
    sql: text,
    ...(opts.database === undefined ? {} : { database: opts.database }),
    ...(transactionId === undefined ? {} : { transactionId }),
    parameters: params.map((value, i) => ({ name: `p${i + 1}`, value: { stringValue: value } })),
    includeResultMetadata: true,
    continueAfterTimeout: false,
  });
}

/**
 * RDS Data API adapter (Aurora): one HTTPS ExecuteStatement per query, no connection to manage and
 * nothing to pin. The statement carries named markers (`:p1`, `:p2`…, rendered by compileSql with
 * `markers: 'named'`) and every value is a typed string parameter; the Data API reads the
 * credentials from the secret itself. The SDK's own retries are off so the one budget holds.
 */
export function createDataApiStore(opts: DataApiOptions): SqlStore {
  const client = new RDSDataClient({ region: regionOf(opts.resourceArn), maxAttempts: 1 });

  async function run(text: string, params: readonly string[], signal: AbortSignal): Promise<Row[]> {
    const command = statement(opts, text, params);
    try {
      const out = await client.send(command, { abortSignal: signal });
      return decodeRecords(out.columnMetadata ?? [], out.records ?? []);
    } catch (err) {
      throw dataApiError(err);
    }
  }

  return {
    dialect: opts.dialect,
    async query(text, params) {
      // Abort the HTTP request itself when the budget runs out, not just stop waiting for it.
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
      try {
        return await resilient(() => run(text, params, abort.signal), opts.timeoutMs, 'Data API query', 2);
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => client.destroy(),
  };
}

/** An SDK failure as an error `resilient` reads: transient ones carry a retryable code. */
export function dataApiError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  if (err.name === 'AbortError') return new BackendError('Data API query aborted at the deadline', 'TIMEOUT');
  const code = TRANSIENT.has(err.name) ? 'DATA_API_TRANSIENT' : (errorCode(err) ?? err.name);
  // The service's message may quote the statement's values, so it only goes to `detail`; the SQLState
  // it ends with is safe to name.
  const state = /SQLState: ([0-9A-Z]{5})/.exec(err.message)?.[1];
  const what = state === undefined ? err.name : `${err.name}, SQLState ${state}`;
  return new BackendError(`Data API query failed (${what})`, code, { cause: err, detail: err.message.slice(0, 300) });
}

/** Rows as the pooled drivers give them: column label → JavaScript value. */
export function decodeRecords(columns: readonly ColumnMetadata[], records: readonly Field[][]): Row[] {
  const names = columns.map((c, i) => c.label ?? c.name ?? `column${i + 1}`);
  return records.map((record) => {
    const row: Record<string, unknown> = {};
    record.forEach((field, i) => {
      row[names[i] ?? `column${i + 1}`] = decodeField(field);
    });
    return row;
  });
}

function decodeField(field: Field): unknown {
  if (field.isNull) return null;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.blobValue !== undefined) return Buffer.from(field.blobValue);
  const a = field.arrayValue;
  if (a !== undefined) return a.longValues ?? a.doubleValues ?? a.stringValues ?? a.booleanValues ?? null;
  return null;
}
