import { BuiltinSource } from '../../shared/sources/builtin.js';
import { loadSettings } from '../../shared/settings.js';
import { FakeStore, memoryLogger } from '../helpers/harness.js';

describe('BuiltinSource', () => {
  const log = memoryLogger().log;

  it('asks nothing when the client lacks the identifier, and ignores', async () => {
    const store = new FakeStore([]);
    const source = new BuiltinSource(store, loadSettings({ BUILTIN_USER_ID_TYPE: 'clientid' }), log);
    expect(await source.authenticate({ username: 'u', password: 'p', client_attrs: {} })).toEqual({ result: 'ignore', reason: 'built-in: no clientid to look up' });
    expect(store.calls).toEqual([]);
  });

  it('binds the identifier and the client id and username as parameters, never as SQL text', async () => {
    const store = new FakeStore([], 'mysql');
    const source = new BuiltinSource(store, loadSettings({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/x' }), log);
    await source.authenticate({ username: "a' OR '1'='1", clientid: 'c', password: 'p', client_attrs: {} });
    await source.authorize({ username: "u'--", clientid: 'c1', topic: 't', action: 'publish', qos: 0, retain: false, client_attrs: {} });
    expect(store.calls.map((c) => c.params)).toEqual([["a' OR '1'='1"], ['c1', "u'--"]]);
    expect(store.calls[0]?.text).toBe('SELECT password_hash, salt, is_superuser FROM mqtt_builtin_user WHERE user_id = ?');
    expect(store.calls[1]?.text).toContain("(who_type = 'clientid' AND who = ?) OR (who_type = 'username' AND who = ?) OR who_type = 'all'");
  });

  it('uses named markers with the Data API driver', async () => {
    const store = new FakeStore([], 'postgres');
    const env = {
      DB_DRIVER: 'data-api',
      DB_ENGINE: 'postgres',
      DB_RESOURCE_ARN: 'arn:aws:rds:eu-west-1:123456789012:cluster:x',
      DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x',
    };
    const source = new BuiltinSource(store, loadSettings(env), log);
    await source.authenticate({ username: 'u', password: 'p', client_attrs: {} });
    expect(store.calls[0]?.text).toBe('SELECT password_hash, salt, is_superuser FROM mqtt_builtin_user WHERE user_id = :p1');
  });

  it('answers no match with ignore, whatever AUTHZ_NO_MATCH says (the chain applies it after the last source)', async () => {
    const source = new BuiltinSource(new FakeStore([]), loadSettings({ AUTHZ_NO_MATCH: 'allow' }), log);
    expect(await source.authorize({ username: 'u', topic: 't', action: 'publish', qos: 0, retain: false, client_attrs: {} })).toEqual({
      result: 'ignore',
      reason: 'built-in: no rule matched',
    });
  });
});
