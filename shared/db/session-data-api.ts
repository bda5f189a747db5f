import { BeginTransactionCommand, CommitTransactionCommand, RDSDataClient, RollbackTransactionCommand } from '@aws-sdk/client-rds-data';
import { regionOf } from '../aws/secrets.js';
import { BackendError } from '../errors.js';
import { findMarkers, type Dialect } from '../template.js';
import type { Row } from '../types.js';
import { dataApiError, decodeRecords, statement, type DataApiOptions } from './data-api.js';
import type { SqlSession } from './session.js';

/**
 * The session's statements with the Data API's named markers: `$n` (PostgreSQL) becomes `:pn`,
 * the k-th `?` (MySQL) becomes `:pk`; markers inside quotes and comments stay text.
 */
function namedMarkers(text: string, dialect: Dialect): string {
  let out = '';
  let at = 0;
  for (const m of findMarkers(text, dialect, 'native')) {
    out += `${text.slice(at, m.start)}:p${m.index + 1}`;
    at = m.end;
  }
  return out + text.slice(at);
}

/**
 * A session over the RDS Data API (Aurora). A statement outside a transaction is one
 * ExecuteStatement, committed on its own; `transaction` opens one with BeginTransaction, runs every
 * statement of `fn` with its transactionId and ends it with CommitTransaction, or with
 * RollbackTransaction when `fn` rejects. Between calls the service may use another connection and
 * resets it, so nothing outside a transaction (a temporary table, a session variable) lasts:
 * `keepsSessionState` is false. The service reads the credentials from the secret itself; no SDK
 * retries, since a write sent twice could apply twice. `timeoutMs` bounds each call (the service
 * itself stops a statement after 45 seconds).
 */
export function dataApiSession(opts: DataApiOptions): SqlSession {
  const client = new RDSDataClient({ region: regionOf(opts.resourceArn), maxAttempts: 1 });
  const target = { resourceArn: opts.resourceArn, secretArn: opts.secretArn };

  async function call<T>(send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await send(AbortSignal.timeout(opts.timeoutMs));
    } catch (err) {
      throw dataApiError(err);
    }
  }

  const run = async (text: string, params: readonly string[], transactionId: string | undefined): Promise<Row[]> => {
    const command = statement(opts, params.length === 0 ? text : namedMarkers(text, opts.dialect), params, transactionId);
    const out = await call((abortSignal) => client.send(command, { abortSignal }));
    return decodeRecords(out.columnMetadata ?? [], out.records ?? []);
  };

  return {
    dialect: opts.dialect,
    keepsSessionState: false,
    query: (text, params) => run(text, params, undefined),
    async transaction(fn) {
      const begun = await call((abortSignal) =>
        client.send(new BeginTransactionCommand({ ...target, ...(opts.database === undefined ? {} : { database: opts.database }) }), { abortSignal }),
      );
      const transactionId = begun.transactionId;
      if (transactionId === undefined) throw new BackendError('Data API BeginTransaction returned no transactionId', 'DATA_API_NO_TRANSACTION');
      let out: Awaited<ReturnType<typeof fn>>;
      try {
        out = await fn({ dialect: opts.dialect, query: (text, params) => run(text, params, transactionId) });
      } catch (err) {
        // fn's own failure is the one to report, whether or not the rollback goes through.
        await call((abortSignal) => client.send(new RollbackTransactionCommand({ ...target, transactionId }), { abortSignal })).catch(() => {});
        throw err;
      }
      await call((abortSignal) => client.send(new CommitTransactionCommand({ ...target, transactionId }), { abortSignal }));
      return out;
    },
    close: async () => client.destroy(),
  };
}
