import type { AuthnDeps } from './authn.js';
import type { AuthzDeps } from './authz.js';
import type { SqlStore } from './db/port.js';
import { createLogger, type Logger } from './log.js';
import { describeDatabase, loadSettings, type Settings } from './settings.js';
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
  /** The token the broker must present (BROKER_TOKEN_SECRET_ARN, else BROKER_TOKEN); read once. */
  brokerToken(): Promise<string | undefined>;
  authnDeps(): Promise<AuthnDeps>;
  authzDeps(): Promise<AuthzDeps>;
  close(): Promise<void>;
}

export function createContainer(settings: Settings, opts: { store?: SqlStore; log?: Logger } = {}): Container {
  const log = opts.log ?? createLogger(settings.logLevel);
  const dialect = opts.store?.dialect ?? (settings.database.engine === 'mysql' ? 'mysql' : 'postgres');
  const markers = !opts.store && 'driver' in settings.database && settings.database.driver === 'data-api' ? 'named' : 'native';
  const authnQuery = compileSql(settings.authnQuery, { dialect, context: 'authn', setting: 'AUTHN_QUERY', markers });
  const authzQuery = compileSql(settings.authzQuery, { dialect, context: 'authz', setting: 'AUTHZ_QUERY', markers });
  // EMQX 4's super_query takes the client's identity, never its password.
  const superuserQuery = settings.superuserQuery === undefined ? undefined : compileSql(settings.superuserQuery, { dialect, context: 'authz', setting: 'SUPERUSER_QUERY', markers });
  let store: Promise<SqlStore> | undefined = opts.store ? Promise.resolve(opts.store) : undefined;
  let token: Promise<string | undefined> | undefined;
  if (!opts.store) log.info({ database: describeDatabase(settings.database) }, 'database settings');

  const getStore = (): Promise<SqlStore> => {
    store ??= openStore(settings, log).catch((err: unknown) => {
      store = undefined; // a failed driver load is retried on the next request
      throw err;
    });
    return store;
  };

  return {
    settings,
    log,
    authnQuery,
    authzQuery,
    superuserQuery,
    store: getStore,
    brokerToken: () =>
      (token ??= import('./aws/secrets.js')
        .then(({ loadBrokerToken }) => loadBrokerToken(settings))
        .catch((err: unknown) => {
          token = undefined; // fetched again by the next request
          throw err;
        })),
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
    close: async () => {
      if (store) await (await store).close();
      store = undefined;
    },
  };
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
  return (await import('./db/pglite.js')).createPgliteStore(db.dataDir, settings.passwordHash, settings.pool.queryTimeoutMs);
}

let shared: Container | undefined;

/** The process-wide container built from the environment (fails fast on a bad setting). */
export function defaultContainer(): Container {
  shared ??= createContainer(loadSettings(process.env));
  return shared;
}
