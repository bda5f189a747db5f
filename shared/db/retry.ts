import { BackendError } from '../errors.js';

/** Error codes that mean the connection broke (not that the SQL was wrong): worth one retry. */
const BROKEN = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'PROTOCOL_CONNECTION_LOST',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '26000', // prepared statement does not exist (a proxy switched backends)
  'DATA_API_TRANSIENT', // RDS Data API: cluster resuming, briefly unavailable, throttled
]);

/** The code every adapter gives a login the database refused (wrong or rotated credentials). */
export const AUTH_FAILED = 'AUTH_FAILED';
const REFUSED_LOGIN = new Set(['28P01', '28000', 'ER_ACCESS_DENIED_ERROR']);

export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Runs `attempt` within `budgetMs` in all: a connection that broke is retried (the pool replaces
 * it) up to `retries` times while time is left — once per pooled connection, since a restarted
 * server breaks them all at once — and a timeout never is. Every failure becomes a BackendError whose
 * message names the failure and never a bound value; the server's own words for an SQL error go
 * in `detail`, for the caller to log only when the statement binds no secret.
 */
export async function resilient<T>(attempt: () => Promise<T>, budgetMs: number, what: string, retries = 1): Promise<T> {
  const started = Date.now();
  const left = (): number => budgetMs - (Date.now() - started);
  for (let tries = 0; ; tries += 1) {
    try {
      return await deadline(attempt(), left(), what);
    } catch (err) {
      const code = errorCode(err);
      if (tries < retries && code !== undefined && BROKEN.has(code) && left() > 50) continue;
      if (err instanceof BackendError) throw err;
      const mapped = code !== undefined && REFUSED_LOGIN.has(code) ? AUTH_FAILED : code;
      const detail = err instanceof Error ? err.message.slice(0, 300) : undefined;
      throw new BackendError(`${what} failed (${code ?? (err instanceof Error ? err.name : 'error')})`, mapped, { cause: err, ...(detail === undefined ? {} : { detail }) });
    }
  }
}

function deadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendError(`${what} timed out after ${ms} ms`, 'TIMEOUT')), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
