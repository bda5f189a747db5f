import { CommitTransactionCommand, ExecuteStatementCommand, RDSDataClient, RollbackTransactionCommand } from '@aws-sdk/client-rds-data';
import { migrate } from '../../shared/builtin/schema.js';
import { openSession, type SqlSession } from '../../shared/db/session.js';
import { loadSettings } from '../../shared/settings.js';
import { CHECKOUT_TAG, freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { dataApiFor, driverEnv } from '../helpers/drivers.js';
import { startSecretsServer, useLocalAws, type SecretsServer } from '../helpers/secrets-server.js';

/**
 * The CLI's session port in the Lambda form of the settings (DB_HOST, DB_NAME, credentials from a
 * Secrets Manager secret, here the local endpoint) against real PostgreSQL and MariaDB: one
 * connection, and transactions that commit or roll back whole; and the same port over the RDS Data
 * API (the local endpoint over the same databases), whose transactions are Begin/Commit/RollbackTransaction.
 */

const arn = (engine: Engine): string => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-session-${engine}-${CHECKOUT_TAG}`;
const ADMIN: Record<Engine, { username: string; password: string; port: string }> = {
  postgres: { username: 'postgres', password: '', port: '5432' },
  mysql: { username: 'root', password: '', port: '3306' },
};

let sm: SecretsServer;
beforeAll(async () => {
  sm = await startSecretsServer();
  useLocalAws({ secretsManager: sm.url });
});
afterAll(() => sm.close());

describe.each<[Engine]>([['postgres'], ['mysql']])('openSession with DB_* settings on real %s', (engine) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_it_session_${engine}`);
    const { username, password } = ADMIN[engine];
    sm.put(arn(engine), JSON.stringify({ username, password, engine }));
  });
  afterAll(() => db.close());

  it('reads the credentials from the secret once, migrates, and commits or rolls back a transaction whole', async () => {
    const settings = loadSettings({
      DB_DRIVER: 'proxy',
      DB_ENGINE: engine,
      DB_HOST: '127.0.0.1',
      DB_PORT: ADMIN[engine].port,
      DB_NAME: new URL(db.url).pathname.slice(1),
      DB_SECRET_ARN: arn(engine),
      DB_TLS: 'off', // the machine's databases have no TLS
    });
    const before = sm.calls(arn(engine));
    const session = await openSession(settings);
    try {
      expect(sm.calls(arn(engine))).toBe(before + 1);
      expect(await migrate(session)).toEqual(['mqtt_builtin_user', 'mqtt_builtin_acl']);
      const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
      const insert = `INSERT INTO mqtt_builtin_user (user_id, password_hash) VALUES (${m(1)}, ${m(2)})`;
      await expect(
        session.transaction(async (tx) => {
          await tx.query(insert, ['rolled-back', 'x']);
          throw new Error('abandon');
        }),
      ).rejects.toThrow('abandon');
      await session.transaction((tx) => tx.query(insert, ['kept', 'x']));
      const rows = await session.query('SELECT user_id FROM mqtt_builtin_user ORDER BY user_id', []);
      expect(rows.map((r) => String(r['user_id']))).toEqual(['kept']);
    } finally {
      await session.close();
    }
  });
});

describe.each<[Engine]>([['postgres'], ['mysql']])('openSession with DB_DRIVER=data-api on real %s (through the local Data API endpoint)', (engine) => {
  let db: TestDatabase;
  let api: DataApiServer;
  let session: SqlSession;
  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
  const insert = `INSERT INTO mqtt_builtin_user (user_id, password_hash) VALUES (${m(1)}, ${m(2)})`;
  const users = async () => (await db.exec('SELECT user_id FROM mqtt_builtin_user ORDER BY user_id')).map((r) => (Buffer.isBuffer(r['user_id']) ? r['user_id'].toString('utf8') : String(r['user_id'])));
  beforeAll(async () => {
    api = (await dataApiFor('data-api', { stringsAsVarchar: true })) as DataApiServer;
    db = await freshDatabase(engine, `maf_it_session_da_${engine}`);
    session = await openSession(loadSettings(driverEnv('data-api', engine, db, {})));
  });
  afterAll(async () => {
    await session.close();
    await api.close();
    await db.close();
  });

  it('keeps no session state, migrates with autocommit statements, and commits a transaction whole', async () => {
    expect(session.keepsSessionState).toBe(false);
    expect(await migrate(session)).toEqual(['mqtt_builtin_user', 'mqtt_builtin_acl']);
    const before = api.operations.length;
    expect(await session.transaction(async (tx) => {
      await tx.query(insert, ['kept', 'x']);
      await tx.query(insert, ['kept-too', 'y']);
      return (await tx.query(`SELECT COUNT(*) AS n FROM mqtt_builtin_user WHERE user_id LIKE ${m(1)}`, ['kept%']))[0]?.['n'];
    })).toBe(2);
    expect(api.operations.slice(before)).toEqual(['BeginTransaction', 'Execute', 'Execute', 'Execute', 'CommitTransaction']);
    expect(api.openTransactions()).toBe(0);
    expect(await users()).toEqual(['kept', 'kept-too']);
  });

  it('rolls back when fn throws, rejecting with fn\'s own error', async () => {
    const before = api.operations.length;
    await expect(
      session.transaction(async (tx) => {
        await tx.query(insert, ['rolled-back', 'x']);
        // MySQL's user_id is binary: the Data API returns it as a blob.
        const seen = await tx.query(`SELECT user_id FROM mqtt_builtin_user WHERE user_id = ${m(1)}`, ['rolled-back']);
        expect(seen.map((r) => (Buffer.isBuffer(r['user_id']) ? r['user_id'].toString('utf8') : r['user_id']))).toEqual(['rolled-back']);
        throw new Error('abandon');
      }),
    ).rejects.toThrow('abandon');
    expect(api.operations.slice(before)).toEqual(['BeginTransaction', 'Execute', 'Execute', 'RollbackTransaction']);
    expect(api.openTransactions()).toBe(0);
    expect(await users()).toEqual(['kept', 'kept-too']);
    // A statement the database refuses inside the transaction rolls back the statements before it.
    await expect(
      session.transaction(async (tx) => {
        await tx.query(insert, ['also-rolled-back', 'x']);
        await tx.query(insert, ['kept', 'duplicate']);
      }),
    ).rejects.toThrow(/^Data API query failed \(DatabaseErrorException, SQLState 23\w{3}\)$/);
    expect(api.openTransactions()).toBe(0);
    expect(await users()).toEqual(['kept', 'kept-too']);
  });

  it('still rejects with fn\'s error when the rollback itself fails, and the service refuses a finished transactionId', async () => {
    await expect(
      session.transaction(async (tx) => {
        await tx.query(insert, ['never', 'x']);
        api.failNext('InternalServerErrorException', 1);
        throw new Error('abandon again');
      }),
    ).rejects.toThrow('abandon again');
    const last = api.requests[api.requests.length - 1]?.body;
    const transactionId = String(last?.transactionId);
    expect(api.openTransactions()).toBe(1);
    expect(await users()).toEqual(['kept', 'kept-too']);
    const client = new RDSDataClient({ region: 'eu-west-1', maxAttempts: 1 });
    try {
      const target = { resourceArn: String(last?.resourceArn), secretArn: String(last?.secretArn) };
      expect((await client.send(new RollbackTransactionCommand({ ...target, transactionId }))).transactionStatus).toBe('Rollback Complete');
      expect(api.openTransactions()).toBe(0);
      await expect(client.send(new ExecuteStatementCommand({ ...target, sql: 'SELECT 1', transactionId }))).rejects.toMatchObject({ name: 'BadRequestException', message: `Transaction ${transactionId} is not found` });
      await expect(client.send(new CommitTransactionCommand({ ...target, transactionId }))).rejects.toMatchObject({ name: 'BadRequestException' });
    } finally {
      client.destroy();
    }
    expect(await users()).toEqual(['kept', 'kept-too']);
  });
});
