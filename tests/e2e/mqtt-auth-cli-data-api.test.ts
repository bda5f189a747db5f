import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container } from '../../shared/container.js';
import { runCli as cli } from '../helpers/cli.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';
import { dataApiFor, driverEnv } from '../helpers/drivers.js';
import { containerFor, handlersFor } from '../helpers/harness.js';
import { localAwsEnv } from '../helpers/secrets-server.js';

/**
 * The `mqtt-auth` program with DB_DRIVER=data-api (a child process; the SDK pointed at the local
 * Data API endpoint over real PostgreSQL and MariaDB): every command but import works, and what it
 * writes is what the handlers read over the same settings. Import refuses before any call. The
 * endpoint binds strings as VARCHAR on PostgreSQL, as the service does, so an uncast comparison with
 * a non-text column fails here as it would on Aurora.
 */

const HASH = 'ac63a624e7074776d677dd61a003b8c803eb11db004d0ec6ae032a5d7c9c5caf';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'maf-cli-da-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe.each<[Engine]>([['postgres'], ['mysql']])('mqtt-auth with DB_DRIVER=data-api on real %s', (engine) => {
  let db: TestDatabase;
  let api: DataApiServer;
  let env: Record<string, string>;
  const containers: Container[] = [];
  const handlers = () => {
    const c = containerFor(driverEnv('data-api', engine, db, { SOURCES: 'builtin' }));
    containers.push(c);
    return handlersFor(c);
  };
  const rows = async (table: string) => Number((await db.exec(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.['n']);

  beforeAll(async () => {
    api = (await dataApiFor('data-api', { stringsAsVarchar: true })) as DataApiServer;
    db = await freshDatabase(engine, `maf_e2e_cli_da_${engine}`);
    env = { ...localAwsEnv({ rdsData: api.url }), ...driverEnv('data-api', engine, db, {}) };
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => c.close()));
    await api.close();
    await db.close();
  });

  it('migrates once, then finds nothing to do', async () => {
    expect(await cli(env, ['migrate'])).toEqual({ code: 0, stdout: 'created mqtt_builtin_user, mqtt_builtin_acl\n', stderr: '' });
    expect(await cli(env, ['migrate'])).toEqual({ code: 0, stdout: 'built-in tables already present: nothing to do\n', stderr: '' });
  }, 30_000);

  it('adds users the handler then authenticates, lists and removes them', async () => {
    expect(await cli(env, ['user', 'add', 'alice', '--password-stdin', '--superuser'], 'pw-alice\n')).toEqual({ code: 0, stdout: 'added user "alice" (sha256, superuser)\n', stderr: '' });
    expect(await cli(env, ['user', 'add', 'alice', '--password', 'x'])).toEqual({ code: 1, stdout: '', stderr: 'error: user "alice" exists; add --replace to replace it\n' });
    expect(await cli(env, ['user', 'add', 'bob', '--password', 'pw-bob'])).toEqual({ code: 0, stdout: 'added user "bob" (sha256)\n', stderr: '' });
    expect(await cli(env, ['user', 'add', 'bob', '--password', 'pw-bob-2', '--replace'])).toEqual({ code: 0, stdout: 'replaced user "bob" (sha256)\n', stderr: '' });
    expect(await cli(env, ['user', 'list'])).toEqual({ code: 0, stdout: 'alice\tsuperuser\nbob\n', stderr: '' });
    const h = handlers();
    expect((await h.auth({ username: 'alice', password: 'pw-alice' })).body).toEqual({ result: 'allow', is_superuser: true });
    expect((await h.auth({ username: 'alice', password: 'wrong' })).body).toEqual({ result: 'deny' });
    expect((await h.auth({ username: 'bob', password: 'pw-bob-2' })).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await h.auth({ username: 'bob', password: 'pw-bob' })).body).toEqual({ result: 'deny' });
    expect(await cli(env, ['user', 'remove', 'bob'])).toEqual({ code: 0, stdout: 'removed user "bob"\n', stderr: '' });
    expect(await cli(env, ['user', 'remove', 'bob'])).toEqual({ code: 1, stdout: '', stderr: 'error: no user "bob"\n' });
    expect((await h.auth({ username: 'bob', password: 'pw-bob-2' })).body).toEqual({ result: 'ignore' });
    expect(await cli(env, ['user', 'list'])).toEqual({ code: 0, stdout: 'alice\tsuperuser\n', stderr: '' });
  }, 60_000);

  it('adds, lists and removes rules', async () => {
    expect(await cli(env, ['rule', 'add', '--username', 'alice', '--permission', 'allow', '--action', 'publish', '--topic', 't/${clientid}/#', '--qos', '1,0'])).toEqual({
      code: 0,
      stdout: 'added rule 1\tusername=alice\tallow\tpublish\tt/${clientid}/#\tqos=0,1\tretain=all\n',
      stderr: '',
    });
    expect(await cli(env, ['rule', 'add', '--all', '--permission', 'deny', '--action', 'all', '--topic', '#'])).toEqual({ code: 0, stdout: 'added rule 2\tall\tdeny\tall\t#\tqos=0,1,2\tretain=all\n', stderr: '' });
    expect(await cli(env, ['rule', 'list'])).toEqual({
      code: 0,
      stdout: '1\tusername=alice\tallow\tpublish\tt/${clientid}/#\tqos=0,1\tretain=all\n2\tall\tdeny\tall\t#\tqos=0,1,2\tretain=all\n',
      stderr: '',
    });
    expect(await cli(env, ['rule', 'add', '--all', '--permission', 'allow', '--action', 'all', '--topic', 'x'])).toEqual({ code: 0, stdout: 'added rule 3\tall\tallow\tall\tx\tqos=0,1,2\tretain=all\n', stderr: '' });
    expect(await cli(env, ['rule', 'remove', '3', '7'])).toEqual({ code: 1, stdout: 'removed rule 3\n', stderr: 'error: no rule 7\n' });
    expect(await cli(env, ['rule', 'list', '--all'])).toEqual({ code: 0, stdout: '2\tall\tdeny\tall\t#\tqos=0,1,2\tretain=all\n', stderr: '' });
  }, 60_000);

  it('exports users and rules', async () => {
    const out = join(dir, `export-${engine}.json`);
    expect(await cli(env, ['export', 'users', '--output', out])).toEqual({ code: 0, stdout: '', stderr: `exported 1 users to ${out}\n` });
    const exported = JSON.parse(await readFile(out, 'utf8')) as Array<Record<string, unknown>>;
    const salt = String(exported[0]?.['salt']);
    expect(salt).toMatch(/^[0-9a-f]{24}$/);
    expect(exported).toEqual([{ user_id: 'alice', password_hash: createHash('sha256').update(`${salt}pw-alice`).digest('hex'), salt, is_superuser: true }]);
    expect(await cli(env, ['export', 'rules'])).toEqual({
      code: 0,
      stdout: 'clientid,username,permission,action,topic,qos,retain\n,alice,allow,publish,t/${clientid}/#,"0,1",all\n,,deny,all,#,"0,1,2",all\n',
      stderr: 'exported 2 rules\n',
    });
  }, 60_000);

  it('refuses import before any Data API call, naming DB_DRIVER, and writes nothing', async () => {
    const file = join(dir, `users-${engine}.csv`);
    await writeFile(file, `user_id,password_hash,salt\ncarol,${HASH},salt\n`);
    const before = { calls: api.operations.length, users: await rows('mqtt_builtin_user'), rules: await rows('mqtt_builtin_acl') };
    const refusal = {
      code: 2,
      stdout: '',
      stderr:
        'configuration error: DB_DRIVER: import keeps a temporary table across its batches, which the RDS Data API does not keep between calls; run mqtt-auth import with DATABASE_URL (or DB_DRIVER=proxy and DB_HOST) pointing at the cluster\n',
    };
    expect(await cli(env, ['import', 'users', file])).toEqual(refusal);
    expect(await cli(env, ['import', 'users', file, '--dry-run'])).toEqual(refusal);
    expect(await cli(env, ['import', 'rules', '-', '--format', 'csv'], 'username,permission,action,topic\ncarol,allow,all,t/#\n')).toEqual(refusal);
    expect({ calls: api.operations.length, users: await rows('mqtt_builtin_user'), rules: await rows('mqtt_builtin_acl') }).toEqual(before);
    expect(before).toEqual({ calls: before.calls, users: 1, rules: 2 });
  }, 60_000);
});
