import type { Engine, TestDatabase } from './databases.js';
import { startDataApiServer, type DataApiServer, type DataApiServerOptions } from './data-api-server.js';
import { useLocalAws } from './secrets-server.js';

/**
 * The ways the integration suites reach a real database: the pooled driver by DATABASE_URL, or the
 * RDS Data API driver through the SDK and the local Data-API-compatible endpoint.
 */
export type Driver = 'pooled' | 'data-api';
export const DRIVERS: Array<[Engine, Driver]> = [
  ['postgres', 'pooled'],
  ['mysql', 'pooled'],
  ['postgres', 'data-api'],
  ['mysql', 'data-api'],
];

export const DEAD_URL: Record<Engine, string> = { postgres: 'postgres://postgres@127.0.0.1:1/none', mysql: 'mysql://root@127.0.0.1:1/none' };
const SERVER: Record<Engine, string> = { postgres: 'postgres://127.0.0.1:5432', mysql: 'mysql://127.0.0.1:3306' };
const ADMIN: Record<Engine, { username: string; password: string }> = { postgres: { username: 'postgres', password: '' }, mysql: { username: 'root', password: '' } };
export const resourceArn = (engine: Engine, name = 'test'): string => `arn:aws:rds:eu-west-1:123456789012:cluster:maf-${engine}-${name}`;
export const secretArn = (engine: Engine): string => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-${engine}-AbCdEf`;

/** Starts the Data API endpoint (for the data-api variant) with the live and a dead cluster per engine. */
export async function dataApiFor(driver: Driver, opts: DataApiServerOptions = {}): Promise<DataApiServer | undefined> {
  if (driver !== 'data-api') return undefined;
  const server = await startDataApiServer(opts);
  useLocalAws({ rdsData: server.url });
  for (const engine of ['postgres', 'mysql'] as const) {
    server.addResource(resourceArn(engine), { engine, server: SERVER[engine] });
    server.addResource(resourceArn(engine, 'dead'), { engine, server: DEAD_URL[engine].replace(/\/\/[^@]*@/, '//').replace(/\/none$/, '') });
    server.addSecret(secretArn(engine), ADMIN[engine]);
  }
  return server;
}

/**
 * The settings that reach `db` with `driver`; `env` may name DATABASE_URL=DEAD_URL[engine] to mean
 * "an unreachable database", which the data-api variant maps to a dead cluster.
 */
export function driverEnv(driver: Driver, engine: Engine, db: TestDatabase, env: Record<string, string>): Record<string, string> {
  if (driver === 'pooled') return { DATABASE_URL: db.url, ...env };
  const { DATABASE_URL: url, ...rest } = env;
  return {
    DB_DRIVER: 'data-api',
    DB_ENGINE: engine,
    DB_RESOURCE_ARN: resourceArn(engine, url === DEAD_URL[engine] ? 'dead' : 'test'),
    DB_SECRET_ARN: secretArn(engine),
    DB_NAME: new URL(db.url).pathname.slice(1),
    ...rest,
  };
}
