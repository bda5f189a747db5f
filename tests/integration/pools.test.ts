import { createMysqlStore } from '../../shared/db/mysql.js';
import { createPostgresStore, type PoolOptions } from '../../shared/db/postgres.js';
import type { SqlStore } from '../../shared/db/port.js';
import { BackendError } from '../../shared/errors.js';
import { freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';

/** The pools themselves: reuse, maximum lifetime, timeouts, against the real servers. */

const ID: Record<Engine, string> = { postgres: 'SELECT pg_backend_pid()::text AS id', mysql: 'SELECT CAST(CONNECTION_ID() AS CHAR) AS id' };
const open = (engine: Engine, url: string, o: Partial<PoolOptions> = {}): SqlStore => {
  const opts: PoolOptions = { max: 1, connectTimeoutMs: 1000, queryTimeoutMs: 1000, idleTimeoutS: 60, maxLifetimeS: 1800, ...o };
  return engine === 'postgres' ? createPostgresStore(url, opts) : createMysqlStore(url, opts);
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each<Engine>(['postgres', 'mysql'])('the %s pool', (engine) => {
  let db: TestDatabase;
  const stores: SqlStore[] = [];
  const store = (o: Partial<PoolOptions> = {}) => {
    const s = open(engine, db.url, o);
    stores.push(s);
    return s;
  };
  const connectionId = async (s: SqlStore) => String((await s.query(ID[engine], []))[0]?.['id']);

  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_it_pool_${engine}`);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await db.close();
  });

  it('reuses one connection across queries', async () => {
    const s = store();
    const first = await connectionId(s);
    expect(await connectionId(s)).toBe(first);
    expect(await connectionId(s)).toBe(first);
  });

  it('replaces a connection older than its maximum lifetime', async () => {
    const s = store({ maxLifetimeS: 1 });
    const first = await connectionId(s);
    await pause(2100);
    expect(await connectionId(s)).not.toBe(first);
  });

  it('gives up on a query after the query timeout with a BackendError, and the pool still works afterwards', async () => {
    const s = store({ queryTimeoutMs: 300 });
    const slow = engine === 'postgres' ? 'SELECT pg_sleep(2)' : 'SELECT SLEEP(2)';
    await expect(s.query(slow, [])).rejects.toBeInstanceOf(BackendError);
    expect(await s.query('SELECT 1 AS one', [])).toHaveLength(1);
  });

  it('after every pooled connection is killed, the next query still succeeds (each broken connection retried)', async () => {
    const s = store({ max: 4 });
    await Promise.all([1, 2, 3, 4].map(() => s.query(engine === 'postgres' ? 'SELECT pg_sleep(0.05)' : 'SELECT SLEEP(0.05)', [])));
    expect(await db.killClientConnections()).toBeGreaterThanOrEqual(4);
    await pause(100);
    const answers = await Promise.allSettled([1, 2, 3, 4, 5, 6, 7, 8].map(() => s.query('SELECT 1 AS one', [])));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill('fulfilled'));
  });

  it('reports an unreachable server as a BackendError without the URL or credentials', async () => {
    const url = engine === 'postgres' ? 'postgres://admin:hunter2@127.0.0.1:1/db' : 'mysql://admin:hunter2@127.0.0.1:1/db';
    const s = open(engine, url);
    stores.push(s);
    const err = await s.query('SELECT 1', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(String((err as Error).message)).not.toMatch(/hunter2/);
    expect((err as BackendError).code).toBe('ECONNREFUSED');
  });
});
