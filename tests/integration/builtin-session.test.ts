import { migrate } from '../../shared/builtin/schema.js';
import { openSession } from '../../shared/db/session.js';
import { loadSettings } from '../../shared/settings.js';
import { CHECKOUT_TAG, freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';
import { startSecretsServer, useLocalAws, type SecretsServer } from '../helpers/secrets-server.js';

/**
 * The CLI's session port in the Lambda form of the settings (DB_HOST, DB_NAME, credentials from a
 * Secrets Manager secret, here the local endpoint) against real PostgreSQL and MariaDB: one
 * connection, and transactions that commit or roll back whole.
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
