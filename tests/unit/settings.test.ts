import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { thrownBy } from '../helpers/errors.js';
import { describeDatabase, loadSettings } from '../../shared/settings.js';


/** Asserts that loading `env` fails with a ConfigError naming `setting`. */
function expectRejected(env: Record<string, string>, setting: string): void {
  const error = thrownBy(() => loadSettings(env));
  expect(error).toBeInstanceOf(ConfigError);
  expect(error).toMatchObject({ setting });
  expect(error instanceof Error ? error.message.startsWith(`${setting}: `) : false).toBe(true);
}

describe('loadSettings defaults', () => {
  const settings = loadSettings({});

  it('uses the documented authn query', () => {
    expect(settings.authnQuery).toBe('SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} LIMIT 1');
  });

  it('uses the documented authz query', () => {
    expect(settings.authzQuery).toBe('SELECT permission, action, topic, qos, retain FROM mqtt_acl WHERE username = ${username} ORDER BY id');
  });

  it('hashes with sha256, salt prefixed', () => {
    expect(settings.passwordHash).toEqual({ name: 'sha256', salt_position: 'prefix' });
  });

  it('ignores on no match and on an authn backend failure, denies on an authz backend failure', () => {
    expect(settings.authzNoMatch).toBe('ignore');
    expect(settings.authnBackendFailure).toBe('ignore');
    expect(settings.authzBackendFailure).toBe('deny');
  });

  it('listens on port 8080 and logs at info', () => {
    expect(settings.port).toBe(8080);
    expect(settings.logLevel).toBe('info');
  });

  it('runs on PGlite when DATABASE_URL is unset', () => {
    expect(settings.database.engine).toBe('pglite');
  });

  it('refuses a VerneMQ subscribe of more than 100 filters', () => {
    expect(settings.vernemqMaxFilters).toBe(100);
    expect(loadSettings({ VERNEMQ_MAX_FILTERS: '2400' }).vernemqMaxFilters).toBe(2400);
  });

  it('treats an empty value as unset', () => {
    const blank = loadSettings({ DATABASE_URL: '', PORT: '', AUTHZ_NO_MATCH: '', PASSWORD_HASH: '' });
    expect(blank.database.engine).toBe('pglite');
    expect(blank.port).toBe(8080);
    expect(blank.authzNoMatch).toBe('ignore');
    expect(blank.passwordHash).toEqual({ name: 'sha256', salt_position: 'prefix' });
  });
});

describe('loadSettings: DATABASE_URL selects the engine', () => {
  it.each([
    ['postgres://u:p@db.example:5432/mqtt', 'postgres'],
    ['postgresql://u:p@db.example/mqtt', 'postgres'],
    ['mysql://u:p@db.example:3306/mqtt', 'mysql'],
  ] as const)('%s runs on %s', (url, engine) => {
    expect(loadSettings({ DATABASE_URL: url }).database).toEqual({ engine, url });
  });

  it.each(['http://x', 'mariadb://u@h/db', 'db.example:5432', 'POSTGRES://u@h/db', 'postgres://u:p@[bad/db', 'postgres://u@h:99999/db', 'mysql://u@h:abc/db', 'mysql:///db'])('rejects %s naming DATABASE_URL', (url) => {
    expectRejected({ DATABASE_URL: url }, 'DATABASE_URL');
  });
});

describe('loadSettings: a bad value stops start-up naming the setting', () => {
  it.each([
    ['AUTHZ_NO_MATCH', 'maybe'],
    ['AUTHZ_NO_MATCH', 'Allow'],
    ['AUTHN_BACKEND_FAILURE', 'allow'],
    ['AUTHZ_BACKEND_FAILURE', 'allow'],
    ['LOG_LEVEL', 'verbose'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['PASSWORD_HASH', '{bad'],
    ['PASSWORD_HASH', '{"name":"sha256","salt_postion":"suffix"}'],
    ['PASSWORD_HASH', '{"name":"pbkdf2","mac_fun":"md4","iterations":1000}'],
    ['AUTHN_QUERY', '   '],
    ['AUTHZ_QUERY', '   '],
    ['VERNEMQ_MAX_FILTERS', '0'],
    ['VERNEMQ_MAX_FILTERS', '10001'],
    ['VERNEMQ_MAX_FILTERS', '2.5'],
  ])('%s=%j', (setting, value) => {
    expectRejected({ [setting]: value }, setting);
  });

  it('reads the settings it accepts', () => {
    const settings = loadSettings({
      AUTHZ_NO_MATCH: 'deny',
      AUTHN_BACKEND_FAILURE: 'deny',
      AUTHZ_BACKEND_FAILURE: 'ignore',
      PORT: '3000',
      LOG_LEVEL: 'debug',
      PASSWORD_HASH: '{"name":"bcrypt"}',
    });
    expect(settings).toMatchObject({
      authzNoMatch: 'deny',
      authnBackendFailure: 'deny',
      authzBackendFailure: 'ignore',
      port: 3000,
      logLevel: 'debug',
      passwordHash: { name: 'bcrypt', salt_rounds: 10 },
    });
  });
});

describe('loadSettings result', () => {
  it('is frozen, nested objects included', () => {
    const settings = loadSettings({ DATABASE_URL: 'postgres://u@h/db' });
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.database)).toBe(true);
    expect(Object.isFrozen(settings.passwordHash)).toBe(true);
    expect(Object.isFrozen(settings.pool)).toBe(true);
    expect(Reflect.set(settings, 'port', 1)).toBe(false);
    expect(Reflect.set(settings.database, 'url', 'mysql://evil')).toBe(false);
    expect(settings.port).toBe(8080);
    expect(settings.database).toEqual({ engine: 'postgres', url: 'postgres://u@h/db' });
  });
});

describe('loadSettings: the Lambda form (DB_*) and its precedence over DATABASE_URL', () => {
  const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenant-db-AbCdEf';
  const CLUSTER = 'arn:aws:rds:eu-west-1:123456789012:cluster:tenant';

  it('DB_HOST + DB_SECRET_ARN: through the proxy with the engine default port', () => {
    expect(loadSettings({ DB_ENGINE: 'postgres', DB_HOST: 'proxy.example', DB_NAME: 'iot', DB_SECRET_ARN: SECRET }).database).toEqual({
      engine: 'postgres',
      driver: 'proxy',
      host: 'proxy.example',
      port: 5432,
      name: 'iot',
      secretArn: SECRET,
      urlIgnored: false,
      tls: { mode: 'verify-full' },
    });
    expect(loadSettings({ DB_DRIVER: 'proxy', DB_ENGINE: 'mysql', DB_HOST: 'p', DB_PORT: '3307', DB_NAME: 'iot', DB_SECRET_ARN: SECRET }).database).toMatchObject({ engine: 'mysql', port: 3307 });
  });

  it('DB_* win over DATABASE_URL, and the settings record that the URL was ignored', () => {
    const s = loadSettings({ DATABASE_URL: 'mysql://u:p@h/db', DB_ENGINE: 'postgres', DB_HOST: 'proxy', DB_NAME: 'iot', DB_SECRET_ARN: SECRET });
    expect(s.database).toMatchObject({ engine: 'postgres', driver: 'proxy', host: 'proxy', urlIgnored: true });
  });

  it('DB_DRIVER=proxy with only DATABASE_URL uses the URL', () => {
    expect(loadSettings({ DB_DRIVER: 'proxy', DATABASE_URL: 'postgres://u@proxy/db' }).database).toEqual({ engine: 'postgres', url: 'postgres://u@proxy/db' });
  });

  it('data-api: the cluster and secret ARNs, DB_NAME optional', () => {
    expect(loadSettings({ DB_DRIVER: 'data-api', DB_ENGINE: 'mysql', DB_RESOURCE_ARN: CLUSTER, DB_SECRET_ARN: SECRET }).database).toEqual({
      engine: 'mysql',
      driver: 'data-api',
      resourceArn: CLUSTER,
      secretArn: SECRET,
      name: undefined,
      urlIgnored: false,
    });
  });

  it.each<[Record<string, string>, string]>([
    [{ DB_DRIVER: 'data-api', DB_ENGINE: 'mysql', DB_SECRET_ARN: SECRET }, 'DB_RESOURCE_ARN'],
    [{ DB_DRIVER: 'data-api', DB_ENGINE: 'mysql', DB_RESOURCE_ARN: CLUSTER }, 'DB_SECRET_ARN'],
    [{ DB_DRIVER: 'data-api', DB_RESOURCE_ARN: CLUSTER, DB_SECRET_ARN: SECRET }, 'DB_ENGINE'],
    [{ DB_DRIVER: 'proxy' }, 'DB_HOST'],
    [{ DB_ENGINE: 'postgres', DB_SECRET_ARN: SECRET, DB_NAME: 'iot' }, 'DB_HOST'],
    [{ DB_ENGINE: 'postgres', DB_HOST: 'p', DB_NAME: 'iot' }, 'DB_SECRET_ARN'],
    [{ DB_ENGINE: 'postgres', DB_HOST: 'p', DB_SECRET_ARN: SECRET }, 'DB_NAME'],
    [{ DB_DRIVER: 'direct' }, 'DB_DRIVER'],
    [{ DB_ENGINE: 'oracle' }, 'DB_ENGINE'],
    [{ DB_PORT: '70000' }, 'DB_PORT'],
    [{ DB_SECRET_ARN: 'tenant-db' }, 'DB_SECRET_ARN'],
    [{ DB_RESOURCE_ARN: SECRET }, 'DB_RESOURCE_ARN'],
    [{ BROKER_TOKEN_SECRET_ARN: 'arn:aws:s3:::bucket' }, 'BROKER_TOKEN_SECRET_ARN'],
  ])('%j is rejected naming %s', (env, setting) => expectRejected(env, setting));

  describe('DB_TLS and DB_CA_FILE', () => {
    const PROXY = { DB_ENGINE: 'postgres', DB_HOST: 'proxy.example', DB_NAME: 'iot', DB_SECRET_ARN: SECRET };
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'maf-settings-ca-'));
      // A real certificate to read: the one the machine's OpenSSL makes for a throwaway CA.
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=maf test CA', '-days', '1', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem')], { stdio: 'ignore' });
      writeFileSync(join(dir, 'not-pem.txt'), 'hello\n');
      writeFileSync(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('each mode is read; DB_CA_FILE is read once into the settings with verify-full', () => {
      expect(loadSettings({ ...PROXY, DB_TLS: 'require' }).database).toMatchObject({ tls: { mode: 'require' } });
      expect(loadSettings({ ...PROXY, DB_TLS: 'off' }).database).toMatchObject({ tls: { mode: 'off' } });
      const pem = readFileSync(join(dir, 'ca.pem'), 'utf8');
      const s = loadSettings({ ...PROXY, DB_CA_FILE: join(dir, 'ca.pem') });
      expect(s.database).toMatchObject({ tls: { mode: 'verify-full', caFile: join(dir, 'ca.pem'), ca: pem } });
      expect(describeDatabase(s.database)).toMatchObject({ tls: 'verify-full', caFile: join(dir, 'ca.pem') });
      expect(JSON.stringify(describeDatabase(s.database))).not.toContain('BEGIN CERTIFICATE');
    });

    it('DB_TLS and DB_CA_FILE do not touch the DATABASE_URL or Data API forms (the file is not even read)', () => {
      const missing = join(dir, 'absent.pem');
      expect(loadSettings({ DATABASE_URL: 'postgres://u@db/iot', DB_TLS: 'off', DB_CA_FILE: missing }).database).toEqual({ engine: 'postgres', url: 'postgres://u@db/iot' });
      expect(loadSettings({ DB_DRIVER: 'data-api', DB_ENGINE: 'mysql', DB_RESOURCE_ARN: CLUSTER, DB_SECRET_ARN: SECRET, DB_CA_FILE: missing }).database).not.toHaveProperty('tls');
    });

    it.each<[Record<string, string>, string, RegExp]>([
      [{ DB_TLS: 'verify' }, 'DB_TLS', /verify-full/],
      [{ DB_TLS: 'on' }, 'DB_TLS', /verify-full/],
      [{ DB_CA_FILE: '/nonexistent/maf-ca.pem' }, 'DB_CA_FILE', /^DB_CA_FILE: cannot read \/nonexistent\/maf-ca.pem \(ENOENT\)$/],
      [{ DB_CA_FILE: '.' }, 'DB_CA_FILE', /cannot read \. \(EISDIR\)/],
      [{ DB_CA_FILE: 'NOT-PEM' }, 'DB_CA_FILE', /holds no PEM certificate/],
      [{ DB_CA_FILE: 'BROKEN' }, 'DB_CA_FILE', /certificate 1 in .* does not parse/],
      [{ DB_TLS: 'require', DB_CA_FILE: 'CA' }, 'DB_CA_FILE', /only used with DB_TLS=verify-full \(DB_TLS is require/],
      [{ DB_TLS: 'off', DB_CA_FILE: 'CA' }, 'DB_CA_FILE', /only used with DB_TLS=verify-full \(DB_TLS is off/],
    ])('%j is rejected naming %s', (extra, setting, message) => {
      const files: Record<string, string> = { 'NOT-PEM': join(dir, 'not-pem.txt'), BROKEN: join(dir, 'broken.pem'), CA: join(dir, 'ca.pem') };
      const env = Object.fromEntries(Object.entries({ ...PROXY, ...extra }).map(([k, v]) => [k, files[v] ?? v]));
      expectRejected(env, setting);
      expect((thrownBy(() => loadSettings(env)) as Error).message).toMatch(message);
    });
  });

  it('reads BROKER_TOKEN and BROKER_TOKEN_SECRET_ARN', () => {
    expect(loadSettings({ BROKER_TOKEN: 'tok' })).toMatchObject({ brokerToken: 'tok', brokerTokenSecretArn: undefined });
    expect(loadSettings({ BROKER_TOKEN_SECRET_ARN: SECRET })).toMatchObject({ brokerToken: undefined, brokerTokenSecretArn: SECRET });
  });

  it('describes the database for the start-up log without credentials', () => {
    expect(describeDatabase(loadSettings({ DATABASE_URL: 'postgres://admin:s3cret-pw@db.example:6432/iot' }).database)).toEqual({
      source: 'DATABASE_URL',
      engine: 'postgres',
      host: 'db.example',
      port: '6432',
      name: 'iot',
    });
    const both = loadSettings({ DATABASE_URL: 'postgres://admin:s3cret-pw@db/iot', DB_DRIVER: 'data-api', DB_ENGINE: 'postgres', DB_RESOURCE_ARN: CLUSTER, DB_SECRET_ARN: SECRET, DB_NAME: 'iot' });
    expect(describeDatabase(both.database)).toEqual({ source: 'DB_*', engine: 'postgres', driver: 'data-api', secretArn: SECRET, databaseUrlIgnored: true, resourceArn: CLUSTER, name: 'iot' });
    expect(JSON.stringify(describeDatabase(both.database))).not.toContain('s3cret');
  });
});
