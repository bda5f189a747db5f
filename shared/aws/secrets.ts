import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BackendError, ConfigError } from '../errors.js';
import type { Settings } from '../settings.js';

/**
 * Secrets Manager, read once per container (Lambda execution environment) and kept in memory.
 * Concurrent first callers share one in-flight request. A secret is fetched again only when asked
 * to (the database refused its credentials: rotation), at most once per `minRefreshMs`. Secret
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

/** A token secret is either the token itself or JSON `{"token": "…"}`. */
export function parseBrokerToken(secret: string, arn: string): string {
  const trimmed = secret.trim();
  if (trimmed.startsWith('{')) {
    let token: unknown;
    try {
      token = (JSON.parse(trimmed) as { token?: unknown }).token;
    } catch {
      throw new ConfigError('BROKER_TOKEN_SECRET_ARN', `secret ${arn} looks like JSON but does not parse`);
    }
    if (typeof token !== 'string' || token === '') throw new ConfigError('BROKER_TOKEN_SECRET_ARN', `secret ${arn} is JSON without a non-empty "token" string`);
    return token;
  }
  if (trimmed === '') throw new ConfigError('BROKER_TOKEN_SECRET_ARN', `secret ${arn} is empty`);
  return trimmed;
}

/**
 * The token the broker must present: from BROKER_TOKEN_SECRET_ARN when set (fetched once, cached by
 * the caller's container), else BROKER_TOKEN (the local form), else undefined (no token configured).
 */
export async function loadBrokerToken(settings: Pick<Settings, 'brokerToken' | 'brokerTokenSecretArn'>, opts: SecretOptions = {}): Promise<string | undefined> {
  const arn = settings.brokerTokenSecretArn;
  if (arn === undefined) return settings.brokerToken;
  return parseBrokerToken(await cachedSecret(arn, opts).get(), arn);
}
