import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BackendError, ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Settings } from '../settings.js';
import { splitTokens, tokensProblem } from '../http/token.js';

/**
 * Secrets Manager, read once per container (Lambda execution environment) and kept in memory.
 * Concurrent first callers share one in-flight request. A database secret is fetched again only
 * when asked to (the database refused its credentials: rotation), at most once per `minRefreshMs`;
 * the broker token secret is read again once it is older than its TTL (`brokerTokenReader`). Secret
 * values never reach a log line or an error message: errors name the ARN and the failure only.
 */

export interface CachedSecret {
  readonly arn: string;
  /** The secret string, fetched on first use and then served from memory. */
  get(): Promise<string>;
  /**
   * Drops the cached value and fetches it again (one request shared by concurrent callers).
   * Returns undefined, fetching nothing, when the last fetch is younger than `minRefreshMs`.
   */
  refresh(): Promise<string | undefined>;
}

export interface SecretOptions {
  /** Deadline for one GetSecretValue call (default 3 s). */
  readonly timeoutMs?: number;
  /** Minimum age of a fetched value before `refresh` fetches again (default 30 s). */
  readonly minRefreshMs?: number;
}

/** The region is part of the ARN (arn:aws:secretsmanager:<region>:…). */
export const regionOf = (arn: string): string => arn.split(':')[3] ?? '';

const clients = new Map<string, Promise<SecretsManagerClient>>();

/** One client per region and process; the SDK is loaded only when a secret is first needed. */
function clientFor(region: string): Promise<SecretsManagerClient> {
  let client = clients.get(region);
  if (!client) {
    client = import('@aws-sdk/client-secrets-manager').then(({ SecretsManagerClient }) => new SecretsManagerClient({ region, maxAttempts: 2 }));
    clients.set(region, client);
  }
  return client;
}

async function fetchSecret(arn: string, timeoutMs: number): Promise<string> {
  const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = await clientFor(regionOf(arn));
  let out;
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: arn }), { abortSignal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const name = err instanceof Error ? err.name : 'error';
    throw new BackendError(`cannot read secret ${arn} (${name})`, 'SECRET_UNAVAILABLE');
  }
  if (typeof out.SecretString === 'string') return out.SecretString;
  if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString('utf8');
  throw new BackendError(`secret ${arn} has no value`, 'SECRET_INVALID');
}

export function cachedSecret(arn: string, opts: SecretOptions = {}): CachedSecret {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const minRefreshMs = opts.minRefreshMs ?? 30_000;
  let value: Promise<string> | undefined;
  let fetchedAt = 0;
  let refreshing: Promise<string | undefined> | undefined;

  const load = (): Promise<string> => {
    const p = fetchSecret(arn, timeoutMs).then(
      (v) => {
        fetchedAt = Date.now();
        return v;
      },
      (err: unknown) => {
        if (value === p) value = undefined; // a failed fetch is tried again by the next caller
        throw err;
      },
    );
    value = p;
    return p;
  };

  return {
    arn,
    get: () => value ?? load(),
    refresh: () => {
      if (refreshing) return refreshing;
      if (Date.now() - fetchedAt < minRefreshMs) return Promise.resolve(undefined);
      refreshing = load().finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },
  };
}

/** Database credentials in the shape RDS and Secrets Manager rotation use. */
export interface DbCredentials {
  readonly username: string;
  readonly password: string;
}

/** Reads `{"username": …, "password": …}` (extra keys ignored); the error never quotes the secret. */
export function parseDbCredentials(secret: string, arn: string): DbCredentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(secret);
  } catch {
    throw new BackendError(`secret ${arn} is not JSON with username and password`, 'SECRET_INVALID');
  }
  const o = parsed as { username?: unknown; password?: unknown } | null;
  if (!o || typeof o !== 'object' || typeof o.username !== 'string' || typeof o.password !== 'string' || o.username === '') {
    throw new BackendError(`secret ${arn} lacks a string username and password`, 'SECRET_INVALID');
  }
  return { username: o.username, password: o.password };
}

/**
 * A token secret is either the tokens themselves or JSON `{"token": "…"}`; either way it holds one
 * token, or two separated by whitespace (the current and the previous, during a rotation). Errors
 * name the ARN and the problem, never a token.
 */
export function parseBrokerToken(secret: string, arn: string): readonly string[] {
  const trimmed = secret.trim();
  let value = secret;
  if (trimmed.startsWith('{')) {
    let token: unknown;
    try {
      token = (JSON.parse(trimmed) as { token?: unknown }).token;
    } catch {
      throw new ConfigError('BROKER_TOKEN_SECRET_ARN', `secret ${arn} looks like JSON but does not parse`);
    }
    if (typeof token !== 'string' || token === '') throw new ConfigError('BROKER_TOKEN_SECRET_ARN', `secret ${arn} is JSON without a non-empty "token" string`);
    value = token;
  }
  const tokens = splitTokens(value);
  const problem = tokensProblem(tokens);
  if (problem !== undefined) throw new ConfigError('BROKER_TOKEN_SECRET_ARN', `secret ${arn} ${problem}`);
  return tokens;
}

export interface BrokerTokenOptions extends Pick<SecretOptions, 'timeoutMs'> {
  /** How long a secret read is trusted before the next request reads it again (BROKER_TOKEN_TTL_S, in ms). */
  readonly ttlMs: number;
  /** Monotonic milliseconds (default `performance.now`); tests inject one to pass the TTL without waiting. */
  readonly clock?: () => number;
  /** Where a failed re-read is reported (a warning naming the ARN and the failure, never a token). */
  readonly log: Pick<Logger, 'warn'>;
  /** How long a request waits for a re-read before it is answered with the kept tokens (default 1 s). */
  readonly reReadWaitMs?: number;
}

/**
 * The tokens the broker may present: from BROKER_TOKEN_SECRET_ARN when set, else BROKER_TOKEN (the
 * local form, fixed for the process), else undefined (no token configured).
 *
 * The secret is read on first use and kept. A request that finds the kept value older than `ttlMs`
 * waits for one fresh read (shared by concurrent requests), so a rotated secret is seen within the
 * TTL even by an environment that was idle. A re-read that fails (Secrets Manager unreachable, or a
 * rotated secret that does not parse) keeps serving the last good tokens, logs a warning, and is
 * tried again only one TTL later: Secrets Manager is asked at most once per TTL, whatever the
 * requests present. A re-read slower than `reReadWaitMs` does not hold requests: they get the kept
 * tokens meanwhile. Only the very first read can fail a request (the caller answers 503).
 */
export function brokerTokenReader(settings: Pick<Settings, 'brokerToken' | 'brokerTokenSecretArn'>, opts: BrokerTokenOptions): () => Promise<readonly string[] | undefined> {
  const arn = settings.brokerTokenSecretArn;
  if (arn === undefined) {
    const local = settings.brokerToken === undefined ? undefined : splitTokens(settings.brokerToken);
    return () => Promise.resolve(local);
  }
  const timeoutMs = opts.timeoutMs ?? 3000;
  const reReadWaitMs = opts.reReadWaitMs ?? 1000;
  const now = opts.clock ?? (() => performance.now());
  let good: { readonly tokens: readonly string[]; readonly at: number } | undefined;
  let reading: Promise<readonly string[]> | undefined;

  const read = async (): Promise<readonly string[]> => {
    try {
      const tokens = parseBrokerToken(await fetchSecret(arn, timeoutMs), arn);
      good = { tokens, at: now() };
      return tokens;
    } catch (err) {
      if (good === undefined) throw err; // the first read: nothing to fall back on, the next request reads again
      good = { tokens: good.tokens, at: now() }; // asked again one TTL from now, not sooner
      opts.log.warn({ arn, problem: err instanceof Error ? err.message : String(err) }, 'could not read the broker token secret again: keeping the tokens read before');
      return good.tokens;
    }
  };

  return () => {
    const kept = good;
    if (kept !== undefined && now() - kept.at < opts.ttlMs) return Promise.resolve(kept.tokens);
    const pending = (reading ??= read().finally(() => {
      reading = undefined;
    }));
    if (kept === undefined) return pending;
    // A slow re-read must not hold requests past the broker's timeout: after `reReadWaitMs` they are
    // answered with the kept tokens while the read goes on (its result is used when it arrives).
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(kept.tokens), reReadWaitMs);
      timer.unref();
      const settle = (tokens: readonly string[]) => {
        clearTimeout(timer);
        resolve(tokens);
      };
      pending.then(settle, () => settle(kept.tokens));
    });
  };
}
