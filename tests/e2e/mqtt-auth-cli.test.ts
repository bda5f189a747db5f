import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as cli, type Ran } from '../helpers/cli.js';
import { freshDatabase, type Engine, type TestDatabase } from '../helpers/databases.js';

/**
 * The `mqtt-auth` program as an operator runs it (`node bin/mqtt-auth.js …`, a child process with
 * the settings in its environment, no terminal): exact output and exit codes, against real
 * PostgreSQL and MariaDB and an embedded PGlite folder.
 */

const root = new URL('../../', import.meta.url).pathname;
const HASH = 'ac63a624e7074776d677dd61a003b8c803eb11db004d0ec6ae032a5d7c9c5caf';



let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'maf-cli-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe.each<[Engine]>([['postgres'], ['mysql']])('mqtt-auth against real %s', (engine) => {
  let db: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await freshDatabase(engine, `maf_e2e_cli_${engine}`);
    env = { DATABASE_URL: db.url };
  });
  afterAll(() => db.close());

  it('migrates once, then finds nothing to do', async () => {
    expect(await cli(env, ['migrate'])).toEqual({ code: 0, stdout: 'created mqtt_builtin_user, mqtt_builtin_acl\n', stderr: '' });
    expect(await cli(env, ['migrate'])).toEqual({ code: 0, stdout: 'built-in tables already present: nothing to do\n', stderr: '' });
  }, 30_000);

  it('adds, refuses a second add, lists and removes users, never printing a hash', async () => {
    expect(await cli(env, ['user', 'add', 'alice', '--password-stdin', '--superuser'], 'pw-alice\n')).toEqual({ code: 0, stdout: 'added user "alice" (sha256, superuser)\n', stderr: '' });
    expect(await cli(env, ['user', 'add', 'alice', '--password', 'x'])).toEqual({ code: 1, stdout: '', stderr: 'error: user "alice" exists; add --replace to replace it\n' });
    expect(await cli(env, ['user', 'add', 'bob', '--password', 'pw-bob'])).toEqual({ code: 0, stdout: 'added user "bob" (sha256)\n', stderr: '' });
    expect(await cli(env, ['user', 'list'])).toEqual({ code: 0, stdout: 'alice\tsuperuser\nbob\n', stderr: '' });
    expect(await cli(env, ['user', 'remove', 'bob'])).toEqual({ code: 0, stdout: 'removed user "bob"\n', stderr: '' });
    expect(await cli(env, ['user', 'remove', 'bob'])).toEqual({ code: 1, stdout: '', stderr: 'error: no user "bob"\n' });
  }, 60_000);

  it('adds, lists and removes rules, and explains a bad one', async () => {
    expect(await cli(env, ['rule', 'add', '--username', 'alice', '--permission', 'allow', '--action', 'publish', '--topic', 't/${clientid}/#', '--qos', '1,0'])).toEqual({
      code: 0,
      stdout: 'added rule 1\tusername=alice\tallow\tpublish\tt/${clientid}/#\tqos=0,1\tretain=all\n',
      stderr: '',
    });
    expect(await cli(env, ['rule', 'add', '--all', '--permission', 'deny', '--action', 'all', '--topic', '#'])).toEqual({
      code: 0,
      stdout: 'added rule 2\tall\tdeny\tall\t#\tqos=0,1,2\tretain=all\n',
      stderr: '',
    });
    expect(await cli(env, ['rule', 'add', '--clientid', 'c', '--username', 'u', '--permission', 'allow', '--action', 'all', '--topic', 'x'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: give exactly one of --clientid, --username or --all\n',
    });
    expect(await cli(env, ['rule', 'add', '--all', '--permission', 'allow', '--action', 'all', '--topic', 'a/#/b'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: topic "a/#/b" is not a valid MQTT filter\n',
    });
    expect(await cli(env, ['rule', 'list', '--all'])).toEqual({ code: 0, stdout: '2\tall\tdeny\tall\t#\tqos=0,1,2\tretain=all\n', stderr: '' });
    expect(await cli(env, ['rule', 'remove', '2', '7'])).toEqual({ code: 1, stdout: 'removed rule 2\n', stderr: 'error: no rule 7\n' });
  }, 60_000);

  it('imports with a summary and no progress bar off a terminal, dry-runs, and exports', async () => {
    const file = join(dir, `users-${engine}.csv`);
    await writeFile(file, `user_id,password_hash,salt,is_superuser\r\ncarol,${HASH},salt,false\r\n,${HASH},salt,false\r\ndave,${HASH},salt\r\n`);
    expect(await cli(env, ['import', 'users', file])).toEqual({
      code: 1,
      stdout: `import users from ${file}: 1 inserted, 0 updated, 2 rejected (3 read)\n  line 3: user_id is empty\n  line 4: expected 4 fields (user_id,password_hash,salt,is_superuser), got 3\n`,
      stderr: '',
    });
    const dry = await cli(env, ['import', 'users', file, '--dry-run', '--json']);
    expect(dry.code).toBe(1);
    expect(JSON.parse(dry.stdout)).toEqual({
      kind: 'users',
      dryRun: true,
      read: 3,
      inserted: 0,
      updated: 1,
      rejected: 2,
      rejects: [
        { at: 'line 3', reason: 'user_id is empty' },
        { at: 'line 4', reason: 'expected 4 fields (user_id,password_hash,salt,is_superuser), got 3' },
      ],
    });
    const out = join(dir, `export-${engine}.json`);
    expect(await cli(env, ['export', 'users', '--output', out])).toEqual({ code: 0, stdout: '', stderr: `exported 2 users to ${out}\n` });
    const exported = JSON.parse(await readFile(out, 'utf8')) as Array<Record<string, unknown>>;
    expect(exported.map((u) => [u['user_id'], u['is_superuser']])).toEqual([
      ['alice', true],
      ['carol', false],
    ]);
    expect(exported[1]).toEqual({ user_id: 'carol', password_hash: HASH, salt: 'salt', is_superuser: false });
    const csv = await cli(env, ['export', 'rules']);
    expect(csv).toEqual({ code: 0, stdout: 'clientid,username,permission,action,topic,qos,retain\n,alice,allow,publish,t/${clientid}/#,"0,1",all\n', stderr: 'exported 1 rules\n' });
  }, 60_000);
});

describe('mqtt-auth import on a terminal and from standard input', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('postgres', 'maf_e2e_cli_tty');
  });
  afterAll(() => db.close());

  it('draws a progress bar on a terminal (run under script(1)) and reads - as standard input', async () => {
    const env = { DATABASE_URL: db.url };
    expect(await cli(env, ['user', 'list'])).toEqual({ code: 1, stdout: '', stderr: 'error: the built-in tables do not exist in this database; run mqtt-auth migrate first\n' });
    expect((await cli(env, ['migrate'])).code).toBe(0);
    const file = join(dir, 'tty.csv');
    await writeFile(file, `user_id,password_hash,salt\n${Array.from({ length: 3000 }, (_, i) => `t${i},${HASH},salt`).join('\n')}\n`);
    const tty = await new Promise<Ran>((resolve, reject) => {
      const child = spawn('script', ['-qfec', `${process.execPath} bin/mqtt-auth.js import users ${file}`, '/dev/null'], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'xterm', ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
      child.stdin.end();
    });
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain('importing ');
    expect(tty.stdout).toContain('100% | 3000 rows | 3000 inserted, 0 updated, 0 rejected');
    expect(tty.stdout).toContain(`import users from ${file}: 3000 inserted, 0 updated, 0 rejected (3000 read)`);
    const piped = await cli(env, ['import', 'rules', '-', '--format', 'csv'], 'username,permission,action,topic\nt1,allow,all,t/#\n');
    expect(piped).toEqual({ code: 0, stdout: 'import rules from standard input: 1 inserted, 0 updated, 0 rejected (1 read)\n', stderr: '' });
  }, 60_000);
});

describe('mqtt-auth on embedded PGlite and with a setting it cannot use', () => {
  it('keeps users in the DATA_DIR folder between runs', async () => {
    const env = { DATA_DIR: join(dir, 'pglite') };
    expect(await cli(env, ['migrate'])).toEqual({ code: 0, stdout: 'created mqtt_builtin_user, mqtt_builtin_acl\n', stderr: '' });
    expect(await cli(env, ['user', 'add', 'erin', '--password', 'pw'])).toEqual({ code: 0, stdout: 'added user "erin" (sha256)\n', stderr: '' });
    expect(await cli(env, ['user', 'list'])).toEqual({ code: 0, stdout: 'erin\n', stderr: '' });
  }, 90_000);

  it('refuses a bad setting, naming the setting', async () => {
    expect(await cli({ BUILTIN_USER_ID_TYPE: 'email' }, ['user', 'list'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'configuration error: BUILTIN_USER_ID_TYPE: Invalid option: expected one of "username"|"clientid"\n',
    });
  }, 30_000);
});
