import * as z from 'zod';
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
export type DbDriver = 'proxy' | 'data-api';

/**
 * Where the data lives. Locally and in containers: DATABASE_URL (or embedded PGlite). In Lambda: the
 * DB_* settings, with credentials from Secrets Manager; when they are set they win over DATABASE_URL
 * (`urlIgnored` records that one was set too).
 */
export type DatabaseSettings =
  | { readonly engine: 'postgres'; readonly url: string }
  | { readonly engine: 'mysql'; readonly url: string }
  | { readonly engine: 'pglite'; readonly dataDir: string }
  | {
      readonly engine: 'postgres' | 'mysql';
      readonly driver: 'proxy';
      readonly host: string;
      readonly port: number;
      readonly name: string;
      readonly secretArn: string;
      readonly urlIgnored: boolean;
    }
  | {
      readonly engine: 'postgres' | 'mysql';
      readonly driver: 'data-api';
      readonly resourceArn: string;
      readonly secretArn: string;
      readonly name: string | undefined;
      readonly urlIgnored: boolean;
    };

export interface Settings {
  readonly database: DatabaseSettings;
  /** Local form of the broker's token (BROKER_TOKEN); BROKER_TOKEN_SECRET_ARN wins when set. */
  readonly brokerToken: string | undefined;
  readonly brokerTokenSecretArn: string | undefined;
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

const arn = (service: string) =>
  z.string().regex(new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:\\S+$`), `must be an ARN of the form arn:aws:${service}:<region>:<account>:…`);

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
  DB_DRIVER: z.enum(['proxy', 'data-api']).optional(),
  DB_ENGINE: z.enum(['postgres', 'mysql']).optional(),
  DB_HOST: text.optional(),
  DB_PORT: int(1, 65535).optional(),
  DB_NAME: text.optional(),
  DB_SECRET_ARN: arn('secretsmanager').optional(),
  DB_RESOURCE_ARN: arn('rds').optional(),
  BROKER_TOKEN: text.optional(),
  BROKER_TOKEN_SECRET_ARN: arn('secretsmanager').optional(),
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
  return deepFreeze({
    database: databaseSettings(s),
    brokerToken: s.BROKER_TOKEN,
    brokerTokenSecretArn: s.BROKER_TOKEN_SECRET_ARN,
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

/**
 * DB_* (the Lambda form) wins over DATABASE_URL when DB_HOST, DB_SECRET_ARN or DB_RESOURCE_ARN is
 * set, or DB_DRIVER is data-api. DB_DRIVER=proxy with only DATABASE_URL uses the URL (a proxy
 * endpoint with credentials in the URL, as in a container).
 */
function databaseSettings(s: Raw): DatabaseSettings {
  const url = s.DATABASE_URL;
  const awsForm = s.DB_HOST !== undefined || s.DB_SECRET_ARN !== undefined || s.DB_RESOURCE_ARN !== undefined || s.DB_DRIVER === 'data-api';
  if (!awsForm) {
    if (url === undefined) {
      if (s.DB_DRIVER === 'proxy') throw new ConfigError('DB_HOST', 'is required when DB_DRIVER=proxy (with DB_SECRET_ARN), unless DATABASE_URL is set');
      return { engine: 'pglite', dataDir: s.DATA_DIR };
    }
    return url.startsWith('mysql') ? { engine: 'mysql', url } : { engine: 'postgres', url };
  }
  const need = <T>(value: T | undefined, name: string, why: string): T => {
    if (value === undefined) throw new ConfigError(name, `is required ${why}`);
    return value;
  };
  const driver = s.DB_DRIVER ?? 'proxy';
  const engine = need(s.DB_ENGINE, 'DB_ENGINE', `with DB_DRIVER=${driver} (postgres or mysql)`);
  const urlIgnored = url !== undefined;
  if (driver === 'data-api') {
    return {
      engine,
      driver,
      resourceArn: need(s.DB_RESOURCE_ARN, 'DB_RESOURCE_ARN', 'with DB_DRIVER=data-api (the Aurora cluster ARN)'),
      secretArn: need(s.DB_SECRET_ARN, 'DB_SECRET_ARN', 'with DB_DRIVER=data-api (the database credentials secret)'),
      name: s.DB_NAME,
      urlIgnored,
    };
  }
  return {
    engine,
    driver,
    host: need(s.DB_HOST, 'DB_HOST', 'with DB_DRIVER=proxy (the RDS Proxy endpoint), unless only DATABASE_URL is set'),
    port: s.DB_PORT ?? (engine === 'postgres' ? 5432 : 3306),
    name: need(s.DB_NAME, 'DB_NAME', 'with DB_DRIVER=proxy (the database to use)'),
    secretArn: need(s.DB_SECRET_ARN, 'DB_SECRET_ARN', 'with DB_DRIVER=proxy and DB_HOST (the database credentials secret)'),
    urlIgnored,
  };
}

/** Which database the settings name, for the start-up log: never a credential. */
export function describeDatabase(db: DatabaseSettings): Record<string, string | number | boolean> {
  if (db.engine === 'pglite') return { source: 'DATA_DIR', engine: 'pglite', dataDir: db.dataDir };
  if (!('driver' in db)) {
    const u = new URL(db.url);
    return { source: 'DATABASE_URL', engine: db.engine, host: u.hostname, port: u.port, name: u.pathname.slice(1) };
  }
  const common = { source: 'DB_*', engine: db.engine, driver: db.driver, secretArn: db.secretArn, databaseUrlIgnored: db.urlIgnored };
  return db.driver === 'proxy' ? { ...common, host: db.host, port: db.port, name: db.name } : { ...common, resourceArn: db.resourceArn, ...(db.name === undefined ? {} : { name: db.name }) };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export { ConfigError };
