import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseHashConfig, type HashConfig } from './hash.js';

/**
 * Settings come from the environment, are validated once, frozen and passed down. A bad value stops
 * start-up with a message naming the setting.
 */

export const DEFAULT_AUTHN_QUERY = 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} LIMIT 1';
export const DEFAULT_AUTHZ_QUERY = 'SELECT permission, action, topic, qos, retain FROM mqtt_acl WHERE username = ${username} ORDER BY id';
export const DEFAULT_PASSWORD_HASH = '{"name":"sha256","salt_position":"prefix"}';

export type Engine = 'postgres' | 'mysql' | 'pglite';

export interface Settings {
  readonly database:
    | { readonly engine: 'postgres'; readonly url: string }
    | { readonly engine: 'mysql'; readonly url: string }
    | { readonly engine: 'pglite'; readonly dataDir: string };
  readonly authnQuery: string;
  readonly authzQuery: string;
  readonly passwordHash: HashConfig;
  readonly authzNoMatch: 'allow' | 'deny' | 'ignore';
  readonly authnBackendFailure: 'ignore' | 'deny';
  readonly authzBackendFailure: 'deny' | 'ignore';
  readonly port: number;
  /** Local server only: the address to listen on. */
  readonly host: string;
  readonly logLevel: string;
  /** EMQX 5.8+: an authentication allow carries the client's rules (`acl`) valid for `ttlS` seconds. */
  readonly connectAcl: { readonly enabled: boolean; readonly ttlS: number };
  /** How /mosquitto/* answers (mosquitto-go-auth `auth_opt_http_response_mode`). */
  readonly mosquittoResponseMode: 'status' | 'json' | 'text';
  readonly pool: {
    readonly max: number;
    readonly connectTimeoutMs: number;
    readonly queryTimeoutMs: number;
    readonly idleTimeoutS: number;
    readonly maxLifetimeS: number;
  };
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const text = z.string().refine((s) => s.trim() !== '', 'must not be empty');

function isUsableUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.hostname !== '';
  } catch {
    return false;
  }
}

/** One schema per setting, so an error names exactly the setting that is wrong. */
const SETTINGS = {
  DATABASE_URL: z
    .string()
    .regex(/^(postgres|postgresql|mysql):\/\//, 'must start with postgres://, postgresql:// or mysql://')
    .refine(isUsableUrl, 'is not a valid URL (check the host, the port and that special characters in the password are percent-encoded)')
    .optional(),
  AUTHN_QUERY: text.default(DEFAULT_AUTHN_QUERY),
  AUTHZ_QUERY: text.default(DEFAULT_AUTHZ_QUERY),
  PASSWORD_HASH: z.string().default(DEFAULT_PASSWORD_HASH),
  AUTHZ_NO_MATCH: z.enum(['ignore', 'allow', 'deny']).default('ignore'),
  AUTHN_BACKEND_FAILURE: z.enum(['ignore', 'deny']).default('ignore'),
  AUTHZ_BACKEND_FAILURE: z.enum(['deny', 'ignore']).default('deny'),
  PORT: int(0, 65535).default(8080),
  HOST: text.default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: text.default('.data'),
  DB_POOL_MAX: int(1, 100).default(4),
  DB_CONNECT_TIMEOUT_MS: int(100, 60_000).default(1000),
  DB_QUERY_TIMEOUT_MS: int(100, 60_000).default(1500),
  DB_IDLE_TIMEOUT_S: int(1, 86_400).default(60),
  DB_MAX_LIFETIME_S: int(10, 86_400).default(1800),
  CONNECT_ACL: z.enum(['off', 'on']).default('off'),
  CONNECT_ACL_TTL: int(60, 31_536_000).default(3600),
  MOSQUITTO_RESPONSE_MODE: z.enum(['status', 'json', 'text']).default('status'),
} as const;

type Raw = { [K in keyof typeof SETTINGS]: z.output<(typeof SETTINGS)[K]> };

/** Reads and validates every setting; throws a ConfigError naming the first bad one. */
export function loadSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const raw = {} as Record<string, unknown>;
  for (const [name, schema] of Object.entries(SETTINGS)) {
    const value = env[name] === '' ? undefined : env[name];
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ConfigError(name, parsed.error.issues[0]?.message ?? 'invalid value');
    raw[name] = parsed.data;
  }
  const s = raw as Raw;
  const url = s.DATABASE_URL;
  return deepFreeze({
    database: url === undefined ? { engine: 'pglite', dataDir: s.DATA_DIR } : url.startsWith('mysql') ? { engine: 'mysql', url } : { engine: 'postgres', url },
    authnQuery: s.AUTHN_QUERY,
    authzQuery: s.AUTHZ_QUERY,
    passwordHash: parseHashConfig(s.PASSWORD_HASH),
    authzNoMatch: s.AUTHZ_NO_MATCH,
    authnBackendFailure: s.AUTHN_BACKEND_FAILURE,
    authzBackendFailure: s.AUTHZ_BACKEND_FAILURE,
    port: s.PORT,
    host: s.HOST,
    logLevel: s.LOG_LEVEL,
    connectAcl: { enabled: s.CONNECT_ACL === 'on', ttlS: s.CONNECT_ACL_TTL },
    mosquittoResponseMode: s.MOSQUITTO_RESPONSE_MODE,
    pool: {
      max: s.DB_POOL_MAX,
      connectTimeoutMs: s.DB_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: s.DB_QUERY_TIMEOUT_MS,
      idleTimeoutS: s.DB_IDLE_TIMEOUT_S,
      maxLifetimeS: s.DB_MAX_LIFETIME_S,
    },
  } satisfies Settings);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export { ConfigError };
