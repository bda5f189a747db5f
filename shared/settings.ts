import * as v from 'valibot';
import * as schema from './schema.js';
import { ConfigError } from './errors.js';
import { dbTls, type DbTls } from './db/tls.js';
import { parseHashConfig, type HashConfig } from './hash.js';
import { tokenProblem } from './http/token.js';
import { DEFAULT_HTTP_AUTHN_BODY, DEFAULT_HTTP_AUTHZ_BODY, type HttpSourceSettings } from './sources/http-settings.js';
import type { SourceName } from './sources/port.js';

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
      /** DB_TLS and DB_CA_FILE (its PEM read once here). */
      readonly tls: DbTls;
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
  /** Local form of the broker's token (BROKER_TOKEN, one token or two separated by whitespace); BROKER_TOKEN_SECRET_ARN wins when set. */
  readonly brokerToken: string | undefined;
  readonly brokerTokenSecretArn: string | undefined;
  /** Seconds a token read from BROKER_TOKEN_SECRET_ARN is kept before it is read again (BROKER_TOKEN_TTL_S). */
  readonly brokerTokenTtlS: number;
  /** Running in AWS Lambda (AWS_LAMBDA_FUNCTION_NAME is set): no token configured then refuses every request. */
  readonly onLambda: boolean;
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
  /** EMQX 4's `super_query` (SQL template); unset: superusers come from AUTHN_QUERY's `is_superuser`. */
  readonly superuserQuery: string | undefined;
  /** How ACL rows are read: by their own columns (`auto`), or all as EMQX 5 or EMQX 4 rows. */
  readonly aclRowShape: 'auto' | 'emqx5' | 'legacy';
  /** The order EMQX 4 rows are judged in. */
  readonly legacyRowOrder: 'last-first' | 'top-down';
  /**
   * SOURCES: the chain, in order, each with its own failure policy when given (`sql:deny`);
   * undefined: `builtin,sql` when the built-in tables exist, else `sql`.
   */
  readonly sources: readonly SourceSetting[] | undefined;
  /** The operator's auth service (HTTP_SOURCE_*), when `http` is in SOURCES. */
  readonly httpSource: HttpSourceSettings | undefined;
  /** EXPLAIN=on: a request carrying `x-auth-explain: 1` gets the decision's trace in that header. */
  readonly explain: boolean;
  /** Decision counts and latency as CloudWatch EMF (on by default in Lambda). */
  readonly metrics: { readonly format: 'emf' | 'off'; readonly namespace: string };
  /** Built-in store: whether a user's `user_id` is the client's username or its client id (EMQX `user_id_type`). */
  readonly builtinUserIdType: 'username' | 'clientid';
  /** VERNEMQ_MAX_FILTERS: an `auth_on_subscribe` with more topic filters is refused whole, unjudged. */
  readonly vernemqMaxFilters: number;
  readonly pool: {
    readonly max: number;
    readonly connectTimeoutMs: number;
    readonly queryTimeoutMs: number;
    readonly idleTimeoutS: number;
    readonly maxLifetimeS: number;
  };
}

/** One entry of SOURCES: a source and, optionally, the failure policy it answers for authn and authz. */
export interface SourceSetting {
  readonly name: SourceName;
  readonly failure?: 'ignore' | 'deny';
}

const SOURCE_NAMES: readonly SourceName[] = ['builtin', 'sql', 'http'];

const sourceList = () =>
  v.pipe(
    v.string(),
    v.transform((value: string) => value.split(',').map((x) => x.trim())),
    v.array(v.pipe(v.string(), v.regex(/^(builtin|sql|http)(:(ignore|deny))?$/, 'each entry must be builtin, sql or http, optionally with :ignore or :deny (e.g. builtin,sql:deny)'))),
    v.check((names: string[]) => new Set(names.map((n) => n.split(':')[0])).size === names.length, 'names a source twice'),
    v.transform((entries: string[]): SourceSetting[] =>
      entries.flatMap((e) => {
        const [name = '', failure] = e.split(':');
        const known = SOURCE_NAMES.find((n) => n === name);
        if (known === undefined) return [];
        return failure === 'ignore' || failure === 'deny' ? [{ name: known, failure }] : [{ name: known }];
      }),
    ),
  );

/** A JSON object whose values are all strings (headers, body templates). */
const stringMap = (what: string) =>
  v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }): Record<string, string> => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(dataset.value);
      } catch {
        addIssue({ message: `must be a JSON object of ${what}` });
        return NEVER;
      }
      const ok = v.safeParse(schema.record(v.string(), 'not an object'), parsed);
      if (!ok.success) {
        addIssue({ message: `must be a JSON object of ${what} (every value a string)` });
        return NEVER;
      }
      return ok.output;
    }),
  );

const httpUrl = () =>
  v.pipe(
    v.string(),
    v.check((value: string) => {
      try {
        const u = new URL(value);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.username === '' && u.password === '' && u.hash === '';
      } catch {
        return false;
      }
    }, 'must be an http:// or https:// URL without user info or fragment (send credentials in HTTP_SOURCE_HEADERS)'),
  );

/** A whole number in [min, max], read as `Number()` reads the text. */
const int = (min: number, max: number) => v.pipe(v.unknown(), v.transform(Number), schema.number(), schema.integer(), schema.gte(min), schema.lte(max));
const text = () => v.pipe(v.string(), v.check((value: string) => value.trim() !== '', 'must not be empty'));

function isUsableUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.hostname !== '';
  } catch {
    return false;
  }
}

const arn = (service: string) => v.pipe(v.string(), v.regex(new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:\\S+$`), `must be an ARN of the form arn:aws:${service}:<region>:<account>:…`));

/**
 * One setting: its schema, built only when the setting is given (building every schema at each
 * cold start is most of the settings' start-up time), and its value when it is not.
 */
interface Setting<T> {
  readonly schema: () => v.GenericSchema<unknown, T>;
  readonly unset: () => T;
}
const optional = <T>(schema: () => v.GenericSchema<unknown, T>): Setting<T | undefined> => ({ schema, unset: () => undefined });
/** A default: not validated, an object copied for each read. */
const fallback = <T>(schema: () => v.GenericSchema<unknown, T>, value: T): Setting<T> => ({
  schema,
  unset: () => (typeof value === 'object' && value !== null ? { ...value } : value),
});

/** One schema per setting, so an error names exactly the setting that is wrong. */
const SETTINGS = {
  DATABASE_URL: optional(() =>
    v.pipe(
      v.string(),
      v.regex(/^(postgres|postgresql|mysql):\/\//, 'must start with postgres://, postgresql:// or mysql://'),
      v.check(isUsableUrl, 'is not a valid URL (check the host, the port and that special characters in the password are percent-encoded)'),
    ),
  ),
  AUTHN_QUERY: fallback(() => text(), DEFAULT_AUTHN_QUERY),
  AUTHZ_QUERY: fallback(() => text(), DEFAULT_AUTHZ_QUERY),
  PASSWORD_HASH: fallback(() => v.string(), DEFAULT_PASSWORD_HASH),
  AUTHZ_NO_MATCH: fallback(() => schema.picklist(['ignore', 'allow', 'deny']), 'ignore'),
  AUTHN_BACKEND_FAILURE: fallback(() => schema.picklist(['ignore', 'deny']), 'ignore'),
  AUTHZ_BACKEND_FAILURE: fallback(() => schema.picklist(['deny', 'ignore']), 'deny'),
  PORT: fallback(() => int(0, 65535), 8080),
  HOST: fallback(() => text(), '127.0.0.1'),
  LOG_LEVEL: fallback(() => schema.picklist(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  DATA_DIR: fallback(() => text(), '.data'),
  DB_POOL_MAX: fallback(() => int(1, 100), 4),
  DB_CONNECT_TIMEOUT_MS: fallback(() => int(100, 60_000), 1000),
  DB_QUERY_TIMEOUT_MS: fallback(() => int(100, 60_000), 1500),
  DB_IDLE_TIMEOUT_S: fallback(() => int(1, 86_400), 60),
  DB_MAX_LIFETIME_S: fallback(() => int(10, 86_400), 1800),
  CONNECT_ACL: fallback(() => schema.picklist(['off', 'on']), 'off'),
  CONNECT_ACL_TTL: fallback(() => int(60, 31_536_000), 3600),
  MOSQUITTO_RESPONSE_MODE: fallback(() => schema.picklist(['status', 'json', 'text']), 'status'),
  SUPERUSER_QUERY: optional(() => text()),
  ACL_ROW_SHAPE: fallback(() => schema.picklist(['auto', 'emqx5', 'legacy']), 'auto'),
  LEGACY_ROW_ORDER: fallback(() => schema.picklist(['last-first', 'top-down']), 'last-first'),
  BUILTIN_USER_ID_TYPE: fallback(() => schema.picklist(['username', 'clientid']), 'username'),
  DB_DRIVER: optional(() => schema.picklist(['proxy', 'data-api'])),
  DB_ENGINE: optional(() => schema.picklist(['postgres', 'mysql'])),
  DB_HOST: optional(() => text()),
  DB_PORT: optional(() => int(1, 65535)),
  DB_NAME: optional(() => text()),
  DB_SECRET_ARN: optional(() => arn('secretsmanager')),
  DB_RESOURCE_ARN: optional(() => arn('rds')),
  DB_TLS: fallback(() => schema.picklist(['verify-full', 'require', 'off']), 'verify-full'),
  DB_CA_FILE: optional(() => text()),
  BROKER_TOKEN: optional(() => v.pipe(text(), v.check((value: string) => tokenProblem(value) === undefined, (issue) => tokenProblem(String(issue.input)) ?? 'is not a usable token'))),
  BROKER_TOKEN_SECRET_ARN: optional(() => arn('secretsmanager')),
  BROKER_TOKEN_TTL_S: fallback(() => int(30, 86_400), 300),
  AWS_LAMBDA_FUNCTION_NAME: optional(() => v.string()),
  SOURCES: optional(sourceList),
  HTTP_SOURCE_URL: optional(httpUrl),
  HTTP_SOURCE_ACL_URL: optional(httpUrl),
  HTTP_SOURCE_METHOD: fallback(() => schema.picklist(['post', 'get']), 'post'),
  HTTP_SOURCE_HEADERS: fallback(() => stringMap('header values'), {}),
  HTTP_SOURCE_TIMEOUT_MS: fallback(() => int(100, 30_000), 2000),
  HTTP_SOURCE_AUTHN_BODY: fallback(() => stringMap('templates'), DEFAULT_HTTP_AUTHN_BODY),
  HTTP_SOURCE_AUTHZ_BODY: fallback(() => stringMap('templates'), DEFAULT_HTTP_AUTHZ_BODY),
  EXPLAIN: fallback(() => schema.picklist(['off', 'on']), 'off'),
  VERNEMQ_MAX_FILTERS: fallback(() => int(1, 10_000), 100),
  METRICS: optional(() => schema.picklist(['emf', 'off'])),
  METRICS_NAMESPACE: fallback(() => v.pipe(v.string(), v.regex(/^[A-Za-z0-9_./#:-]{1,255}$/, 'must be 1–255 letters, digits or . - _ / # :')), 'mqtt-auth'),
} as const;

type Raw = { [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };

/** Reads and validates every setting; throws a ConfigError naming the first bad one. */
export function loadSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const raw = {} as Record<string, unknown>;
  for (const [name, setting] of Object.entries(SETTINGS)) {
    const value = env[name] === '' ? undefined : env[name];
    if (value === undefined) {
      raw[name] = setting.unset();
      continue;
    }
    const parsed = v.safeParse(setting.schema(), value);
    if (!parsed.success) throw new ConfigError(name, parsed.issues[0]?.message ?? 'invalid value');
    raw[name] = parsed.output;
  }
  const s = raw as Raw;
  const onLambda = s.AWS_LAMBDA_FUNCTION_NAME !== undefined;
  return deepFreeze({
    database: databaseSettings(s),
    brokerToken: s.BROKER_TOKEN,
    brokerTokenSecretArn: s.BROKER_TOKEN_SECRET_ARN,
    brokerTokenTtlS: s.BROKER_TOKEN_TTL_S,
    onLambda,
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
    superuserQuery: s.SUPERUSER_QUERY,
    aclRowShape: s.ACL_ROW_SHAPE,
    legacyRowOrder: s.LEGACY_ROW_ORDER,
    sources: s.SOURCES,
    httpSource: httpSourceSettings(s),
    explain: s.EXPLAIN === 'on',
    metrics: { format: s.METRICS ?? (onLambda ? 'emf' : 'off'), namespace: s.METRICS_NAMESPACE },
    builtinUserIdType: s.BUILTIN_USER_ID_TYPE,
    vernemqMaxFilters: s.VERNEMQ_MAX_FILTERS,
    pool: {
      max: s.DB_POOL_MAX,
      connectTimeoutMs: s.DB_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: s.DB_QUERY_TIMEOUT_MS,
      idleTimeoutS: s.DB_IDLE_TIMEOUT_S,
      maxLifetimeS: s.DB_MAX_LIFETIME_S,
    },
  } satisfies Settings);
}

function httpSourceSettings(s: Raw): HttpSourceSettings | undefined {
  const wanted = s.SOURCES?.some((x) => x.name === 'http') === true;
  if (!wanted) return undefined;
  if (s.HTTP_SOURCE_URL === undefined) throw new ConfigError('HTTP_SOURCE_URL', 'is required when SOURCES names http (the URL of your authentication service)');
  const headers = Object.fromEntries(Object.entries(s.HTTP_SOURCE_HEADERS).map(([k, v]) => [k.toLowerCase(), v]));
  if (s.HTTP_SOURCE_METHOD === 'get' && headers['content-type'] !== undefined) throw new ConfigError('HTTP_SOURCE_HEADERS', 'content-type cannot be set with HTTP_SOURCE_METHOD=get (the body goes in the query string)');
  const type = headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== undefined && type !== 'application/json' && type !== 'application/x-www-form-urlencoded') throw new ConfigError('HTTP_SOURCE_HEADERS', 'content-type must be application/json or application/x-www-form-urlencoded');
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new ConfigError('HTTP_SOURCE_HEADERS', `"${name.slice(0, 40)}" is not a valid header name`);
    // The value may be a secret: the message names the header, never its value.
    if (/[\r\n\0]/.test(value)) throw new ConfigError('HTTP_SOURCE_HEADERS', `the value of "${name}" contains a line break or NUL`);
  }
  return {
    url: s.HTTP_SOURCE_URL,
    aclUrl: s.HTTP_SOURCE_ACL_URL,
    method: s.HTTP_SOURCE_METHOD,
    headers,
    timeoutMs: s.HTTP_SOURCE_TIMEOUT_MS,
    authnBody: s.HTTP_SOURCE_AUTHN_BODY,
    authzBody: s.HTTP_SOURCE_AUTHZ_BODY,
  };
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
    tls: dbTls(s.DB_TLS, s.DB_CA_FILE, engine, s.DB_HOST ?? ''),
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
  return db.driver === 'proxy' ? { ...common, host: db.host, port: db.port, name: db.name, tls: db.tls.mode, ...(db.tls.caFile === undefined ? {} : { caFile: db.tls.caFile }) } : { ...common, resourceArn: db.resourceArn, ...(db.name === undefined ? {} : { name: db.name }) };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export { ConfigError };
