import { BackendError } from '../errors.js';

/** Error codes that mean the connection broke (not that the SQL was wrong): worth one retry. */
const BROKEN = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '26000', // prepared statement does not exist (a proxy switched backends)
]);

export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Runs `attempt` under a deadline; a broken connection is retried once (the pool replaces it).
 * Every failure becomes a BackendError whose message names the failure but never the query's
 * values.
 */
export async function resilient<T>(attempt: () => Promise<T>, timeoutMs: number, what: string, params: readonly string[] = []): Promise<T> {
  for (let tries = 1; ; tries += 1) {
    try {
      return await deadline(attempt(), timeoutMs, what);
    } catch (err) {
      const code = errorCode(err);
      if (tries === 1 && code !== undefined && BROKEN.has(code)) continue;
      if (err instanceof BackendError) throw err;
      throw new BackendError(`${what} failed (${code ?? (err instanceof Error ? err.name : 'error')})${safeDetail(err, params)}`, code, { cause: err });
    }
  }
}

/**
 * The server's own message for SQL errors (it names the missing table or the syntax problem), with
 * every bound value scrubbed out: a server may quote a value it could not convert, and that value
 * may be a password.
 */
function safeDetail(err: unknown, params: readonly string[]): string {
  if (!(err instanceof Error)) return '';
  const code = errorCode(err);
  const sqlError = code !== undefined && (/^[0-9A-Z]{5}$/.test(code) || code.startsWith('ER_'));
  if (!sqlError) return '';
  let message = err.message;
  for (const value of params) if (value !== '') message = message.split(value).join('[value]');
  return `: ${message.slice(0, 200)}`;
}

function deadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendError(`${what} timed out after ${ms} ms`, 'TIMEOUT')), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
