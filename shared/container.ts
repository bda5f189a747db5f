import type { AuthnDeps } from './authn.js';
import { ConfigError } from './errors.js';
import type { AuthzDeps } from './authz.js';
import type { SqlStore } from './db/port.js';
import { decisionLog } from './decisions.js';
import { createLogger, type Logger } from './log.js';
import { describeDatabase, loadSettings, type Settings, type SourceSetting } from './settings.js';
import { createChain, type Chain, type ChainLink } from './sources/chain.js';
import { httpSource } from './sources/http.js';
import type { Source, SourceName } from './sources/port.js';
import { builtinTablesExist } from './builtin/tables.js';
import { BuiltinSource } from './sources/builtin.js';
import { sqlSource } from './sources/sql.js';
import { compileSql, type SqlTemplate } from './template.js';

/**
 * Everything a handler needs, created once per container (Lambda execution environment or local
 * process). Settings and templates are checked at creation (cold start); the database pool opens
 * lazily on first use and is reused afterwards. Only the driver the settings name is loaded.
 */
export interface Container {
  readonly settings: Settings;
  readonly log: Logger;
  readonly authnQuery: SqlTemplate;
  readonly authzQuery: SqlTemplate;
  /** SUPERUSER_QUERY, compiled; undefined when unset. */
  readonly superuserQuery: SqlTemplate | undefined;
  store(): Promise<SqlStore>;
  /**
   * The tokens the broker may present (BROKER_TOKEN_SECRET_ARN, else BROKER_TOKEN): one, or the
   * current and the previous during a rotation. The secret is read again once it is older than
   * BROKER_TOKEN_TTL_S; undefined when no token is configured.
   */
  brokerToken(): Promise<readonly string[] | undefined>;
  authnDeps(): Promise<AuthnDeps>;
  authzDeps(): Promise<AuthzDeps>;
  /** The chain of sources (SOURCES) every handler decides through; built once, on first use. */
  chain(): Promise<Chain>;
  close(): Promise<void>;
}

export interface ContainerOptions {
  store?: SqlStore;
  log?: Logger;
  /** Sources to use instead of the built ones (tests: in-memory fakes implementing the port). */
  sources?: Partial<Record<SourceName, Source>>;
  /** Where metric lines go (default stdout). */
  writeMetrics?: (line: string) => void;
  /** Monotonic milliseconds for timings, and the wall clock; injected by tests for exact records. */
  clock?: () => number;
  nowMs?: () => number;
}

export function createContainer(settings: Settings, opts: ContainerOptions = {}): Container {
  const log = opts.log ?? createLogger(settings.logLevel);
  const dialect = opts.store?.dialect ?? (settings.database.engine === 'mysql' ? 'mysql' : 'postgres');
  const markers = !opts.store && 'driver' in settings.database && settings.database.driver === 'data-api' ? 'named' : 'native';
  const authnQuery = compileSql(settings.authnQuery, { dialect, context: 'authn', setting: 'AUTHN_QUERY', markers });
  const authzQuery = compileSql(settings.authzQuery, { dialect, context: 'authz', setting: 'AUTHZ_QUERY', markers });
  // EMQX 4's super_query takes the client's identity, never its password.
  const superuserQuery = settings.superuserQuery === undefined ? undefined : compileSql(settings.superuserQuery, { dialect, context: 'authz', setting: 'SUPERUSER_QUERY', markers });
  let store: Promise<SqlStore> | undefined = opts.store ? Promise.resolve(opts.store) : undefined;
  let tokens: Promise<() => Promise<readonly string[] | undefined>> | undefined;
  if (!opts.store) log.info({ database: describeDatabase(settings.database) }, 'database settings');

  const getStore = (): Promise<SqlStore> => {
    store ??= openStore(settings, log).catch((err: unknown) => {
      store = undefined; // a failed driver load is retried on the next request
      throw err;
    });
    return store;
  };

  const failure = (s: SourceSetting) => ({ authnFailure: s.failure ?? settings.authnBackendFailure, authzFailure: s.failure ?? settings.authzBackendFailure });
  // Built now so a bad HTTP_SOURCE_* body template stops start-up.
  const httpEntry = settings.sources?.find((x) => x.name === 'http');
  const httpPolicy = httpEntry && failure(httpEntry);
  const http = settings.httpSource && httpPolicy ? httpSource(settings.httpSource, { authn: httpPolicy.authnFailure, authz: httpPolicy.authzFailure }, log) : undefined;
  const sourceFor = (s: SourceSetting, policy: Pick<ChainLink, 'authnFailure' | 'authzFailure'>): Source => {
    const given = opts.sources?.[s.name];
    if (given) return given;
    if (s.name === 'sql') {
      // Inside the chain "no row matched" is ignore; the chain applies AUTHZ_NO_MATCH at its end.
      return sqlSource(
        async () => ({ ...(await container.authnDeps()), onBackendFailure: policy.authnFailure }),
        async () => ({ ...(await container.authzDeps()), noMatch: 'ignore', onBackendFailure: policy.authzFailure }),
      );
    }
    if (s.name === 'http' && http) return http;
    if (s.name === 'builtin') return builtinSource(getStore, { ...settings, authnBackendFailure: policy.authnFailure, authzBackendFailure: policy.authzFailure }, log);
    throw new ConfigError('SOURCES', `the ${s.name} source needs HTTP_SOURCE_URL`);
  };
  const decided = decisionLog({
    log,
    metrics: settings.metrics.format,
    namespace: settings.metrics.namespace,
    ...(opts.writeMetrics ? { write: opts.writeMetrics } : {}),
    ...(opts.nowMs ? { nowMs: opts.nowMs } : {}),
  });
  const clocks = { ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.nowMs ? { nowMs: opts.nowMs } : {}) };
  const buildChain = async (): Promise<Chain> => {
    // Without SOURCES: built-in first when `mqtt-auth migrate` has created its tables, as EMQX Cloud does.
    const list: readonly SourceSetting[] = settings.sources ?? ((await builtinTablesExist(await getStore())) ? [{ name: 'builtin' }, { name: 'sql' }] : [{ name: 'sql' }]);
    const links: ChainLink[] = list.map((s) => {
      const policy = failure(s);
      return { source: sourceFor(s, policy), ...policy };
    });
    if (settings.connectAcl.enabled && links[0]?.source.connectAcl === undefined) {
      log.warn({ sources: list.map((s) => s.name) }, `CONNECT_ACL is on but the first source (${list[0]?.name}) cannot send its rules with the login: every check goes to /mqtt/acl`);
    }
    return createChain(links, { noMatch: settings.authzNoMatch, ...(settings.connectAcl.enabled ? { connectAcl: { ttlS: settings.connectAcl.ttlS } } : {}), log, decided, ...clocks });
  };
  let chain: Promise<Chain> | undefined;

  const container: Container = {
    settings,
    log,
    authnQuery,
    authzQuery,
    superuserQuery,
    store: getStore,
    brokerToken: async () => {
      // The reader keeps the secret and reads it again after the TTL; loaded with the SDK on first use.
      tokens ??= import('./aws/secrets.js')
        .then(({ brokerTokenReader }) => brokerTokenReader(settings, { ttlMs: settings.brokerTokenTtlS * 1000, log, ...(opts.clock ? { clock: opts.clock } : {}) }))
        .catch((err: unknown) => {
          tokens = undefined; // a failed module load is tried again by the next request
          throw err;
        });
      return (await tokens)();
    },
    authnDeps: async () => ({
      store: await getStore(),
      query: authnQuery,
      hash: settings.passwordHash,
      onBackendFailure: settings.authnBackendFailure,
      log,
      ...(superuserQuery === undefined ? {} : { superuserQuery }),
    }),
    authzDeps: async () => ({
      store: await getStore(),
      query: authzQuery,
      noMatch: settings.authzNoMatch,
      onBackendFailure: settings.authzBackendFailure,
      log,
      rowShape: settings.aclRowShape,
      legacyOrder: settings.legacyRowOrder,
    }),
    chain: () =>
      (chain ??= buildChain().catch((err: unknown) => {
        chain = undefined;
        throw err;
      })),
    close: async () => {
      if (store) await (await store).close();
      store = undefined;
    },
  };
  return container;
}

async function openStore(settings: Settings, log: Logger): Promise<SqlStore> {
  const db = settings.database;
  if ('driver' in db) {
    if (db.driver === 'data-api') {
      const { createDataApiStore } = await import('./db/data-api.js');
      const timeoutMs = settings.pool.queryTimeoutMs + settings.pool.connectTimeoutMs;
      return createDataApiStore({ dialect: db.engine, resourceArn: db.resourceArn, secretArn: db.secretArn, database: db.name, timeoutMs });
    }
    // Through RDS Proxy with credentials from Secrets Manager, fetched again once on rotation.
    return (await import('./db/rotating.js')).createProxyStore(db, settings.pool, log);
  }
  if (db.engine === 'postgres') return (await import('./db/postgres.js')).createPostgresStore(db.url, settings.pool);
  if (db.engine === 'mysql') return (await import('./db/mysql.js')).createMysqlStore(db.url, settings.pool);
  const lost = (err: Error) => log.error({ dataDir: db.dataDir, problem: err.message }, 'lost the lock on DATA_DIR: another process may open the embedded database now');
  return (await import('./db/pglite.js')).createPgliteStore(db.dataDir, settings.passwordHash, settings.pool.queryTimeoutMs, lost);
}

/** The built-in store as a chain source, over the container's store (opened on first use). */
function builtinSource(store: () => Promise<SqlStore>, settings: Settings, log: Logger): Source {
  let source: Promise<BuiltinSource> | undefined;
  const get = () =>
    (source ??= store()
      .then((s) => new BuiltinSource(s, settings, log))
      .catch((err: unknown) => {
        source = undefined; // the store is opened again by the next request
        throw err;
      }));
  return {
    name: 'builtin',
    authenticate: async (req) => (await get()).authenticate(req),
    authorize: async (req) => (await get()).authorize(req),
    authorizeMany: async (reqs) => (await get()).authorizeMany(reqs),
    superuser: async (client) => (await get()).superuser(client),
    connectAcl: async (client) => (await get()).connectAcl(client),
  };
}

let shared: Container | undefined;

/** The process-wide container built from the environment (fails fast on a bad setting). */
export function defaultContainer(): Container {
  shared ??= createContainer(loadSettings(process.env));
  return shared;
}
