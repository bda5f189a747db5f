import { createDataApiStore } from '../../shared/db/data-api.js';
import { BackendError } from '../../shared/errors.js';
import { compileSql } from '../../shared/template.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';
import { dataApiFor, resourceArn, secretArn } from '../helpers/drivers.js';
import { rejectionOf } from '../helpers/errors.js';

/** The RDS Data API driver's own contract, through the SDK and the local endpoint over the real databases. */

describe.each<Engine>(['postgres', 'mysql'])('Data API driver on %s', (engine) => {
  let server: DataApiServer;
  let db: TestDatabase;
  const storeFor = (timeoutMs = 2000, name?: string) =>
    createDataApiStore({ dialect: engine, resourceArn: resourceArn(engine, name), secretArn: secretArn(engine), database: new URL(db.url).pathname.slice(1), timeoutMs });

  beforeAll(async () => {
    server = (await dataApiFor('data-api'))!;
    db = await freshDatabase(engine, `maf_it_dataapi_${engine}`);
    await db.exec('CREATE TABLE t (username VARCHAR(50), n INTEGER, note VARCHAR(50))');
    await db.exec(`INSERT INTO t VALUES ('alice', 7, 'why?'), ('bob', NULL, ':p1 in text')`);
  });
  afterAll(async () => {
    await db.close();
    await server.close();
  });

  it('sends one signed ExecuteStatement with named string parameters, the database, and continueAfterTimeout false', async () => {
    const store = storeFor();
    const q = compileSql('SELECT username, n, note FROM t WHERE username = ${username} AND ${clientid} = ${clientid}', {
      dialect: engine,
      context: 'authz',
      setting: 'AUTHZ_QUERY',
      markers: 'named',
    });
    expect(q.text).toBe('SELECT username, n, note FROM t WHERE username = :p1 AND :p2 = :p3');
    const before = server.requests.length;
    expect(await store.query(q.text, ['alice', 'c1', 'c1'])).toEqual([{ username: 'alice', n: 7, note: 'why?' }]);
    expect(server.requests.length).toBe(before + 1);
    const sent = server.requests.at(-1)!;
    expect(sent.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTESTONLY\/\d{8}\/eu-west-1\/rds-data\/aws4_request/);
    expect(sent.body).toEqual({
      resourceArn: resourceArn(engine),
      secretArn: secretArn(engine),
      sql: q.text,
      database: new URL(db.url).pathname.slice(1),
      parameters: [
        { name: 'p1', value: { stringValue: 'alice' } },
        { name: 'p2', value: { stringValue: 'c1' } },
        { name: 'p3', value: { stringValue: 'c1' } },
      ],
      includeResultMetadata: true,
      continueAfterTimeout: false,
    });
    await store.close();
  });

  it('decodes NULLs, numbers and strings; a ":p1" or "?" inside a literal stays text', async () => {
    const store = storeFor();
    const q = compileSql("SELECT username, n, note FROM t WHERE note = ':p1 in text' AND username = ${username} AND 'x?' = 'x?'", {
      dialect: engine,
      context: 'authz',
      setting: 'AUTHZ_QUERY',
      markers: 'named',
    });
    expect(await store.query(q.text, ['bob'])).toEqual([{ username: 'bob', n: null, note: ':p1 in text' }]);
    expect(await store.query(q.text, ["bob' OR '1'='1"])).toEqual([]);
    await store.close();
  });

  it('retries an auto-paused cluster (DatabaseResumingException) inside the budget', async () => {
    const store = storeFor();
    server.failNext('DatabaseResumingException', 1);
    const before = server.requests.length;
    expect(await store.query(compileSql('SELECT n FROM t WHERE username = ${username}', { dialect: engine, context: 'authz', setting: 'S', markers: 'named' }).text, ['alice'])).toEqual([{ n: 7 }]);
    expect(server.requests.length).toBe(before + 2);
    await store.close();
  });

  it('gives up after two retries of a transient error, as a BackendError naming it', async () => {
    const store = storeFor();
    server.failNext('DatabaseUnavailableException', 3);
    const before = server.requests.length;
    const err = await rejectionOf(() => store.query('SELECT 1 AS one', []));
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).message).toBe('Data API query failed (DatabaseUnavailableException)');
    expect((err as BackendError).code).toBe('DATA_API_TRANSIENT');
    expect(server.requests.length).toBe(before + 3);
    await store.close();
  });

  it('never retries an SQL error; names its SQLState and keeps the service text out of the message', async () => {
    const store = storeFor();
    const before = server.requests.length;
    const err = (await rejectionOf(() => store.query('SELECT n FROM no_such_table', []))) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    expect(err.message).toBe(`Data API query failed (DatabaseErrorException, SQLState ${engine === 'postgres' ? '42P01' : '42S02'})`);
    expect(err.detail).toMatch(/no_such_table/);
    expect(server.requests.length).toBe(before + 1);
    await store.close();
  });

  it('a statement slower than the budget is abandoned at the deadline (continueAfterTimeout false)', async () => {
    const store = storeFor(400);
    const started = Date.now();
    const err = (await rejectionOf(() => store.query(engine === 'postgres' ? 'SELECT pg_sleep(2)' : 'SELECT SLEEP(2)', []))) as BackendError;
    expect(err.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1000);
    await store.close();
  });
});
