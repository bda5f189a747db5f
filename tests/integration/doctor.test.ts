import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { createPgliteStore } from '../../shared/db/pglite.js';
import { runDoctor } from '../../shared/doctor/doctor.js';
import { exitCode, type CheckName, type Finding, type Report, type Status } from '../../shared/doctor/report.js';
import { parseHashConfig } from '../../shared/hash.js';
import { CHECKOUT_TAG, freshDatabase, SCHEMA, TEST_MYSQL_URL, type Engine, type TestDatabase } from '../helpers/databases.js';
import { dataApiFor, driverEnv } from '../helpers/drivers.js';
import type { DataApiServer } from '../helpers/data-api-server.js';
import { startPrivateMariadb, type PrivateMariadb } from '../helpers/private-mariadb.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { startSecretsServer, useLocalAws, type SecretsServer } from '../helpers/secrets-server.js';
import { freePort } from '../helpers/server.js';

/**
 * `mqtt-auth doctor` against real servers: each misconfiguration is pinpointed by the check that
 * fails, in plain words, with the exit code an operator's script sees.
 */

const doctor = (env: Record<string, string>): Promise<Report> => runDoctor(env, { timeoutMs: 2000, samples: 3 });

function finding(report: Report, check: CheckName): Finding {
  const f = report.findings.find((x) => x.check === check);
  if (f === undefined) throw new Error(`no finding for ${check}`);
  return f;
}

const statuses = (report: Report): Record<string, Status> => Object.fromEntries(report.findings.map((f) => [f.check, f.status]));

/** The URL with another host, port, user/password or database. */
function withUrl(url: string, change: { host?: string; port?: number; user?: string; password?: string; database?: string; search?: string }): string {
  const u = new URL(url);
  if (change.host !== undefined) u.hostname = change.host;
  if (change.port !== undefined) u.port = String(change.port);
  if (change.user !== undefined) u.username = change.user;
  if (change.password !== undefined) u.password = change.password;
  if (change.database !== undefined) u.pathname = `/${change.database}`;
  if (change.search !== undefined) u.search = change.search;
  return u.toString();
}

const ALL_OK: Record<string, Status> = {
  settings: 'ok',
  secret: 'skip',
  dns: 'ok',
  tcp: 'ok',
  tls: 'skip',
  login: 'ok',
  database: 'ok',
  'authn-query': 'ok',
  'authz-query': 'ok',
  'authn-index': 'ok',
  'authz-index': 'ok',
  pinning: 'ok',
  latency: 'ok',
};

const UNINDEXED: Record<Engine, string> = {
  postgres: `CREATE TABLE mqtt_user (id BIGSERIAL PRIMARY KEY, username VARCHAR(100) NOT NULL, password_hash VARCHAR(255) NOT NULL, salt VARCHAR(64), is_superuser BOOLEAN NOT NULL DEFAULT false);
             CREATE TABLE mqtt_acl (id BIGSERIAL PRIMARY KEY, username VARCHAR(100) NOT NULL, permission VARCHAR(5) NOT NULL, action VARCHAR(9) NOT NULL, topic VARCHAR(255) NOT NULL, qos VARCHAR(5), retain BOOLEAN)`,
  mysql: `CREATE TABLE mqtt_user (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, username VARBINARY(400) NOT NULL, password_hash VARCHAR(255) NOT NULL, salt VARCHAR(64), is_superuser TINYINT(1) NOT NULL DEFAULT 0);
          CREATE TABLE mqtt_acl (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, username VARBINARY(400) NOT NULL, permission VARCHAR(5) NOT NULL, action VARCHAR(9) NOT NULL, topic VARCHAR(255) NOT NULL, qos VARCHAR(5), retain TINYINT(1))`,
};

describe.each(['postgres', 'mysql'] as const)('mqtt-auth doctor on real %s', (engine) => {
  let good: TestDatabase;
  beforeAll(async () => {
    good = await freshDatabase(engine, 'maf_it_doc_ok');
    await good.execFile(SCHEMA[engine]);
  });
  afterAll(async () => good.close());

  it('reports every check ok on the reference schema, and exits 0', async () => {
    const report = await doctor({ DATABASE_URL: good.url });
    expect(statuses(report)).toEqual(ALL_OK);
    expect(finding(report, 'authn-query').message).toBe('compiles and returns password_hash, salt, is_superuser');
    expect(finding(report, 'authz-query').message).toBe('compiles and returns permission, action, topic, qos, retain');
    expect(finding(report, 'pinning').message).toContain('does not pin proxy sessions');
    expect(finding(report, 'latency').message).toMatch(/^median of 3 lookups \d+\.\d ms/);
    expect(exitCode(report)).toBe(0);
  });

  it('names an unresolvable host in the DNS check', async () => {
    const report = await doctor({ DATABASE_URL: withUrl(good.url, { host: 'nonexistent.invalid' }) });
    expect(finding(report, 'dns')).toMatchObject({ status: 'fail', message: 'the host name nonexistent.invalid does not resolve (no such host)' });
    expect(finding(report, 'dns').hint).toContain('VPC');
    expect(finding(report, 'tcp')).toMatchObject({ status: 'skip', message: 'the host name does not resolve' });
    expect(finding(report, 'login').status).toBe('skip');
    expect(exitCode(report)).toBe(1);
  });

  it('names a closed port in the TCP check (refused, not a timeout)', async () => {
    const port = await freePort();
    const report = await doctor({ DATABASE_URL: withUrl(good.url, { port }) });
    expect(finding(report, 'dns').status).toBe('ok');
    expect(finding(report, 'tcp')).toMatchObject({ status: 'fail', message: `connection refused by 127.0.0.1:${port}: nothing is listening on that port` });
    expect(finding(report, 'tls').status).toBe('skip');
    expect(exitCode(report)).toBe(1);
  });

  it("names a port where another kind of server answers (the other engine's)", async () => {
    const report = await doctor({ DATABASE_URL: withUrl(good.url, { port: engine === 'postgres' ? 3306 : 5432 }) });
    expect(finding(report, 'tcp').status).toBe('ok');
    expect(finding(report, 'login')).toMatchObject({
      status: 'fail',
      message:
        engine === 'postgres'
          ? 'the server closed the connection during the login (ECONNRESET): is this port a PostgreSQL server?'
          : "the port answered TCP but no MySQL greeting arrived: is this port the MySQL server's?",
    });
    expect(exitCode(report)).toBe(1);
  });

  it('names a database that does not exist, after a successful login', async () => {
    const name = `maf_it_doc_absent_${CHECKOUT_TAG}`;
    const report = await doctor({ DATABASE_URL: withUrl(good.url, { database: name }) });
    expect(finding(report, 'login').status).toBe('ok');
    expect(finding(report, 'database')).toMatchObject({ status: 'fail', message: `database "${name}" does not exist on the server` });
    expect(finding(report, 'database').hint).toContain('CREATE DATABASE');
    expect(exitCode(report)).toBe(1);
  });

  it('fails the TLS check when the URL asks for TLS and the server offers none', async () => {
    const search = engine === 'postgres' ? '?sslmode=require' : '?ssl=%7B%7D';
    const report = await doctor({ DATABASE_URL: withUrl(good.url, { search }) });
    const from = engine === 'postgres' ? 'sslmode=require' : 'ssl={}';
    expect(finding(report, 'tls')).toMatchObject({ status: 'fail', message: `${from} asks for TLS but the server does not accept TLS connections` });
    expect(finding(report, 'login')).toMatchObject({ status: 'skip', message: 'TLS failed' });
    expect(exitCode(report)).toBe(1);
  });

  it('names a missing table in the query checks', async () => {
    const empty = await freshDatabase(engine, 'maf_it_doc_notable');
    try {
      const report = await doctor({ DATABASE_URL: empty.url });
      expect(finding(report, 'database').status).toBe('ok');
      expect(finding(report, 'authn-query')).toMatchObject({ status: 'fail', message: 'AUTHN_QUERY reads table mqtt_user, which does not exist in this database' });
      expect(finding(report, 'authn-query').hint).toContain(`infra/schema/${engine === 'postgres' ? 'postgresql' : 'mysql'}.sql`);
      expect(finding(report, 'authz-query')).toMatchObject({ status: 'fail', message: 'AUTHZ_QUERY reads table mqtt_acl, which does not exist in this database' });
      expect(finding(report, 'authn-index')).toMatchObject({ status: 'skip', message: 'AUTHN_QUERY does not run' });
      expect(finding(report, 'latency').status).toBe('skip');
      expect(exitCode(report)).toBe(1);
    } finally {
      await empty.close();
    }
  });

  it('names a column the query selects and the table lacks', async () => {
    const db = await freshDatabase(engine, 'maf_it_doc_nocol');
    try {
      await db.execFile(SCHEMA[engine]);
      await db.exec('ALTER TABLE mqtt_user DROP COLUMN salt');
      const report = await doctor({ DATABASE_URL: db.url });
      expect(finding(report, 'authn-query')).toMatchObject({ status: 'fail', message: 'AUTHN_QUERY names column salt, which the table does not have' });
      expect(finding(report, 'authz-query').status).toBe('ok');
      expect(exitCode(report)).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('fails a query that returns no password_hash column, and one that returns no topic', async () => {
    const report = await doctor({
      DATABASE_URL: good.url,
      AUTHN_QUERY: 'SELECT salt, is_superuser FROM mqtt_user WHERE username = ${username}',
      AUTHZ_QUERY: 'SELECT permission, action FROM mqtt_acl WHERE username = ${username}',
    });
    expect(finding(report, 'authn-query')).toMatchObject({ status: 'fail', message: 'returns salt, is_superuser but no password_hash (or password) column: every login would be denied' });
    expect(finding(report, 'authz-query')).toMatchObject({
      status: 'fail',
      message: 'returns permission, action but not topic: every ACL row would be invalid and answered by AUTHZ_BACKEND_FAILURE',
    });
    expect(exitCode(report)).toBe(1);
  });

  it('fails a template that does not compile, naming the placeholder, and still checks the other', async () => {
    const report = await doctor({ DATABASE_URL: good.url, AUTHN_QUERY: 'SELECT password_hash FROM mqtt_user WHERE username = ${user}' });
    expect(finding(report, 'authn-query').status).toBe('fail');
    expect(finding(report, 'authn-query').message).toMatch(/^does not compile: AUTHN_QUERY: placeholder \$\{user\} is not allowed here; allowed: /);
    expect(finding(report, 'authn-index')).toMatchObject({ status: 'skip', message: 'AUTHN_QUERY does not compile' });
    expect(finding(report, 'authz-query').status).toBe('ok');
    expect(finding(report, 'latency')).toEqual({ check: 'latency', status: 'skip', message: 'AUTHN_QUERY failed its check' });
    expect(exitCode(report)).toBe(1);
  });

  it('accepts a password column aliased as password_hash and warns when a salted hash has no salt column', async () => {
    const report = await doctor({ DATABASE_URL: good.url, AUTHN_QUERY: 'SELECT password_hash AS password FROM mqtt_user WHERE username = ${username} LIMIT 1' });
    expect(finding(report, 'authn-query')).toMatchObject({
      status: 'warn',
      message: 'returns password but no salt column, while PASSWORD_HASH uses a salt: every salt is taken as empty',
    });
    expect(exitCode(report)).toBe(0);
  });

  it('warns of a missing index with the CREATE INDEX that fixes it, and exits 0', async () => {
    const db = await freshDatabase(engine, 'maf_it_doc_noidx');
    try {
      for (const statement of UNINDEXED[engine].split(';')) await db.exec(statement);
      const report = await doctor({ DATABASE_URL: db.url });
      expect(finding(report, 'authn-index')).toMatchObject({
        status: 'warn',
        message: 'AUTHN_QUERY reads the whole table mqtt_user on every lookup (a full scan: no index on username)',
        hint: 'CREATE INDEX mqtt_user_username_idx ON mqtt_user (username);',
      });
      expect(finding(report, 'authz-index')).toMatchObject({
        status: 'warn',
        message: 'AUTHZ_QUERY reads the whole table mqtt_acl on every lookup (a full scan: no index on username)',
        hint: 'CREATE INDEX mqtt_acl_username_idx ON mqtt_acl (username);',
      });
      expect(exitCode(report)).toBe(0);
      await db.exec('CREATE INDEX mqtt_user_username_idx ON mqtt_user (username)');
      expect(finding(await doctor({ DATABASE_URL: db.url }), 'authn-index').status).toBe('ok');
    } finally {
      await db.close();
    }
  });
});

describe('mqtt-auth doctor: wrong password on real MariaDB', () => {
  const user = `maf_doc_${CHECKOUT_TAG}`;
  let db: TestDatabase;
  let admin: mysql.Connection;
  beforeAll(async () => {
    db = await freshDatabase('mysql', 'maf_it_doc_pw');
    await db.execFile(SCHEMA.mysql);
    admin = await mysql.createConnection(TEST_MYSQL_URL);
    await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
    await admin.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY 'right-pw-7'`);
    await admin.query(`GRANT SELECT ON \`${new URL(db.url).pathname.slice(1)}\`.* TO '${user}'@'127.0.0.1'`);
  });
  afterAll(async () => {
    await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
    await admin.end();
    await db.close();
  });

  it('fails the login check on a wrong password, naming the account', async () => {
    const report = await doctor({ DATABASE_URL: withUrl(db.url, { user, password: 'wrong-pw-7' }) });
    const login = finding(report, 'login');
    expect(login.status).toBe('fail');
    expect(login.message).toContain(`access denied for user "${user}" ('${user}'@'127.0.0.1' (using password: YES))`);
    expect(login.message).toContain('the password is wrong, the user does not exist');
    expect(login.message).not.toContain('wrong-pw-7');
    expect(finding(report, 'database')).toMatchObject({ status: 'skip', message: 'the login failed' });
    expect(exitCode(report)).toBe(1);
  });

  it('logs in with the right password and passes every check', async () => {
    const report = await doctor({ DATABASE_URL: withUrl(db.url, { user, password: 'right-pw-7' }) });
    expect(finding(report, 'login')).toMatchObject({ status: 'ok', message: expect.stringContaining(`logged in as "${user}@127.0.0.1"`) });
    expect(statuses(report)).toEqual(ALL_OK);
  });
});

describe('mqtt-auth doctor: a private PostgreSQL with SCRAM passwords and a self-signed TLS certificate', () => {
  // The machine's PostgreSQL trusts 127.0.0.1 (no password is ever checked there), so this one checks them.
  let pg: PrivatePostgres;
  let url: string;
  beforeAll(async () => {
    pg = await startPrivatePostgres(['host postgres maf_doc 127.0.0.1/32 reject']);
    pg.psql("CREATE ROLE maf_doc LOGIN PASSWORD 'right-pw-5'");
    pg.psql('CREATE DATABASE maf_doc OWNER maf_doc');
    pg.psql(`${execFileSync('cat', [SCHEMA.postgres.pathname]).toString()}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO maf_doc`, 'maf_doc');
    url = `postgres://maf_doc:right-pw-5@127.0.0.1:${pg.port}/maf_doc`;
  }, 60_000);
  afterAll(() => pg.stop());

  it('fails the login check on a wrong password (SQLSTATE 28P01)', async () => {
    const report = await doctor({ DATABASE_URL: withUrl(url, { password: 'wrong-pw-5' }) });
    expect(finding(report, 'tcp').status).toBe('ok');
    expect(finding(report, 'login')).toMatchObject({
      status: 'fail',
      message: 'the server refused the password for user "maf_doc" (wrong password, or no such user: PostgreSQL does not say which)',
    });
    expect(JSON.stringify(report)).not.toContain('wrong-pw-5');
    expect(exitCode(report)).toBe(1);
  });

  it('gives an unknown user the same answer as a wrong password', async () => {
    const report = await doctor({ DATABASE_URL: withUrl(url, { user: 'maf_nobody' }) });
    expect(finding(report, 'login').message).toBe('the server refused the password for user "maf_nobody" (wrong password, or no such user: PostgreSQL does not say which)');
  });

  it("names a pg_hba.conf that admits no connection from this address (EMQX's grants-by-CIDR cause)", async () => {
    const report = await doctor({ DATABASE_URL: withUrl(url, { database: 'postgres' }) });
    expect(finding(report, 'login')).toMatchObject({
      status: 'fail',
      message: 'the server\'s pg_hba.conf admits no connection for user "maf_doc" to database "postgres" from this address',
    });
    expect(finding(report, 'login').hint).toContain('pg_hba.conf');
    expect(exitCode(report)).toBe(1);
  });

  it('encrypts with sslmode=require and passes every check', async () => {
    const report = await doctor({ DATABASE_URL: `${url}?sslmode=require` });
    expect(statuses(report)).toEqual({ ...ALL_OK, tls: 'ok' });
    expect(finding(report, 'tls').message).toMatch(/^TLSv1\.3, encrypted; the certificate is not checked with sslmode=require \(subject localhost, issuer localhost, valid until /);
  });

  it('names a self-signed certificate under sslmode=verify-full', async () => {
    const report = await doctor({ DATABASE_URL: `${url}?sslmode=verify-full` });
    expect(finding(report, 'tls')).toMatchObject({ status: 'fail', message: 'the server certificate is self-signed, so it cannot be verified' });
    expect(finding(report, 'tls').hint).toContain('sslrootcert=');
    expect(finding(report, 'login').status).toBe('skip');
    expect(exitCode(report)).toBe(1);
  });
});

describe('mqtt-auth doctor: a private MariaDB with a self-signed TLS certificate', () => {
  // The machine's MariaDB has TLS off; this one negotiates it, so MySQL's TLS upgrade is exercised.
  let db: PrivateMariadb;
  let url: string;
  beforeAll(async () => {
    db = await startPrivateMariadb();
    url = `mysql://${db.user}:${db.password}@127.0.0.1:${db.port}/maf_doc`;
    const conn = await mysql.createConnection({ uri: url, multipleStatements: true });
    await conn.query(execFileSync('cat', [SCHEMA.mysql.pathname]).toString());
    await conn.end();
  }, 60_000);
  afterAll(async () => db.stop());

  it('encrypts without checking the certificate when the URL says rejectUnauthorized false', async () => {
    const report = await doctor({ DATABASE_URL: `${url}?ssl=${encodeURIComponent('{"rejectUnauthorized":false}')}` });
    expect(statuses(report)).toEqual({ ...ALL_OK, tls: 'ok' });
    expect(finding(report, 'tls').message).toMatch(/^TLSv1\.3, encrypted; the certificate is not checked with ssl=\{"rejectUnauthorized":false\} \(subject localhost, issuer localhost, /);
  });

  it("names a self-signed certificate under mysql2's default verification", async () => {
    const report = await doctor({ DATABASE_URL: `${url}?ssl=%7B%7D` });
    expect(finding(report, 'tls')).toMatchObject({ status: 'fail', message: 'the server certificate is self-signed, so it cannot be verified' });
    expect(exitCode(report)).toBe(1);
  });

  it('fails the login check on a wrong password over TLS', async () => {
    const report = await doctor({ DATABASE_URL: `${withUrl(url, { password: 'wrong-pw-9' })}?ssl=${encodeURIComponent('{"rejectUnauthorized":false}')}` });
    expect(finding(report, 'tls').status).toBe('ok');
    expect(finding(report, 'login').status).toBe('fail');
    expect(finding(report, 'login').message).toContain(`access denied for user "${db.user}"`);
  });

  // Last in this block: it moves the only TCP account to another network.
  it("names a server that has no account for this machine's address (EMQX's grants-by-CIDR cause)", async () => {
    db.sql(`RENAME USER '${db.user}'@'127.0.0.1' TO '${db.user}'@'10.11.30.%'`);
    const report = await doctor({ DATABASE_URL: url });
    expect(finding(report, 'login').status).toBe('fail');
    expect(finding(report, 'login').message).toBe("the server lets no account connect from this machine's address (Host '127.0.0.1' is not allowed to connect to this MariaDB server)");
    expect(finding(report, 'login').hint).toContain("CREATE USER 'u'@'10.11.%'");
    expect(exitCode(report)).toBe(1);
    // With TLS asked for, the refusal arrives in the greeting, before TLS: the login check still names it.
    const tls = await doctor({ DATABASE_URL: `${url}?ssl=${encodeURIComponent('{"rejectUnauthorized":false}')}` });
    expect(finding(tls, 'tls')).toMatchObject({ status: 'skip', message: 'the server refused this connection before TLS could start (see the login check)' });
    expect(finding(tls, 'login').message).toBe(finding(report, 'login').message);
  });
});

describe('mqtt-auth doctor on embedded PGlite', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'maf-doctor-pglite-'));
    const store = createPgliteStore(join(dir, 'data'), parseHashConfig('{"name":"sha256","salt_position":"prefix"}'), 5000);
    await store.query('SELECT 1', []);
    await store.close();
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('skips the network checks with the reason and checks the queries on the data folder', async () => {
    const report = await doctor({ DATA_DIR: join(dir, 'data') });
    expect(statuses(report)).toEqual({ ...ALL_OK, dns: 'skip', tcp: 'skip', login: 'skip', pinning: 'skip' });
    expect(finding(report, 'dns').message).toBe(`embedded PGlite in ${join(dir, 'data')}: no network connection to check`);
    expect(finding(report, 'authn-index').message).toBe('AUTHN_QUERY finds its rows through index mqtt_user_username_key');
    expect(exitCode(report)).toBe(0);
  }, 60_000);

  it('warns when the data folder holds no database yet', async () => {
    const report = await doctor({ DATA_DIR: join(dir, 'absent') });
    expect(finding(report, 'database')).toMatchObject({ status: 'warn', message: `${join(dir, 'absent')} holds no PGlite database yet` });
    expect(exitCode(report)).toBe(0);
  });
});

describe.each(['postgres', 'mysql'] as const)('mqtt-auth doctor through the RDS Data API on %s', (engine) => {
  let api: DataApiServer | undefined;
  let good: TestDatabase;
  beforeAll(async () => {
    api = await dataApiFor('data-api');
    good = await freshDatabase(engine, 'maf_it_doc_api');
    await good.execFile(SCHEMA[engine]);
  });
  afterAll(async () => {
    await good.close();
    await api?.close();
  });

  it('runs the checks that apply and skips the connection checks with the reason', async () => {
    const report = await doctor(driverEnv('data-api', engine, good, {}));
    expect(statuses(report)).toEqual({ ...ALL_OK, dns: 'skip', tcp: 'skip' });
    expect(finding(report, 'tcp').message).toBe('the RDS Data API is an HTTPS call through the AWS SDK: no database connection to check');
    expect(finding(report, 'pinning').message).toBe('RDS Data API: one HTTPS call per statement, no session to pin');
    expect(exitCode(report)).toBe(0);
  });

  it('names a missing table from the SQLState the Data API reports', async () => {
    const empty = await freshDatabase(engine, 'maf_it_doc_api_empty');
    try {
      const report = await doctor(driverEnv('data-api', engine, empty, {}));
      expect(finding(report, 'authn-query')).toMatchObject({ status: 'fail', message: 'AUTHN_QUERY reads table mqtt_user, which does not exist in this database' });
      expect(exitCode(report)).toBe(1);
    } finally {
      await empty.close();
    }
  });
});

describe('mqtt-auth doctor with DB_* settings (a proxy endpoint, credentials from Secrets Manager)', () => {
  // One endpoint for the whole file: the SDK client is made once per region and process.
  let sm: SecretsServer;
  beforeAll(async () => {
    sm = await startSecretsServer();
    useLocalAws({ secretsManager: sm.url });
  });
  afterAll(async () => sm.close());

  describe.each(['postgres', 'mysql'] as const)('on %s', (engine) => {
    const arn = (name: string): string => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-doc-${engine}-${name}-${CHECKOUT_TAG}`;
    let db: TestDatabase;
    let env: Record<string, string>;
    beforeAll(async () => {
      db = await freshDatabase(engine, 'maf_it_doc_dbstar');
      await db.execFile(SCHEMA[engine]);
      sm.put(arn('admin'), JSON.stringify(engine === 'postgres' ? { username: 'postgres', password: '' } : { username: 'root', password: '' }));
      const u = new URL(db.url);
      env = { DB_DRIVER: 'proxy', DB_ENGINE: engine, DB_HOST: u.hostname, DB_PORT: u.port, DB_NAME: u.pathname.slice(1), DB_SECRET_ARN: arn('admin'), DB_TLS: 'off' };
    });
    afterAll(async () => db.close());

    it('reads the credentials from the secret and reports the proxy mode as not pinning', async () => {
      const report = await doctor(env);
      expect(statuses(report)).toEqual({ ...ALL_OK, secret: 'ok' });
      expect(finding(report, 'secret').message).toBe(`read the database credentials (user "${engine === 'postgres' ? 'postgres' : 'root'}") from ${arn('admin')}`);
      expect(finding(report, 'tls').message).toBe('not requested (DB_TLS=off): traffic to the database is not encrypted');
      expect(finding(report, 'pinning').message).toMatch(/: does not pin proxy sessions \(through the DB_DRIVER=proxy endpoint\)$/);
    });

    it('fails the secret check when the secret cannot be read, before any connection', async () => {
      const report = await doctor({ ...env, DB_SECRET_ARN: arn('absent') });
      expect(finding(report, 'secret')).toMatchObject({ status: 'fail', message: `cannot read secret ${arn('absent')} (ResourceNotFoundException)` });
      expect(finding(report, 'secret').hint).toContain('secretsmanager:GetSecretValue');
      expect(finding(report, 'dns')).toMatchObject({ status: 'skip', message: 'the credentials could not be read' });
      expect(exitCode(report)).toBe(1);
    });

    it('warns when a query keeps state in the session, which pins proxy connections', async () => {
      const query =
        engine === 'postgres'
          ? "SELECT password_hash, salt, is_superuser, set_config('app.probe', 'x', false) AS s FROM mqtt_user WHERE username = ${username}"
          : 'SELECT password_hash, salt, is_superuser, @n := 1 AS n FROM mqtt_user WHERE username = ${username}';
      const report = await doctor({ ...env, AUTHN_QUERY: query });
      const what = engine === 'postgres' ? 'AUTHN_QUERY calls set_config(), which keeps state in the session' : 'AUTHN_QUERY uses a user variable (@…), which keeps state in the session';
      expect(finding(report, 'pinning')).toMatchObject({ status: 'warn', message: expect.stringContaining(`but ${what}, which pins sessions through the DB_DRIVER=proxy endpoint`) });
      expect(finding(report, 'pinning').hint).toContain('ALTER ROLE');
      expect(exitCode(report)).toBe(0);
    });
  });
});

describe('mqtt-auth doctor: pinning is judged from the settings, even when nothing answers', () => {
  it('warns of a URL parameter postgres.js would send as a session setting through PgBouncer (port 6432)', async () => {
    const report = await doctor({ DATABASE_URL: 'postgres://u@127.0.0.1:6432/mqtt?search_path=tenant1' });
    expect(finding(report, 'pinning')).toMatchObject({
      status: 'warn',
      message:
        'driver: postgres.js with unnamed statements (prepare: false) and no session SET; but DATABASE_URL parameter search_path becomes a session setting at connect (PgBouncer refuses start-up parameters it does not track), which pins sessions through what looks like PgBouncer (port 6432)',
    });
    expect(finding(report, 'pinning').hint).toContain('ALTER ROLE');
  });

  it('lets a URL parameter pass without a proxy in between', async () => {
    const report = await doctor({ DATABASE_URL: 'postgres://u@127.0.0.1:5432/mqtt?search_path=tenant1' });
    expect(finding(report, 'pinning')).toEqual({
      check: 'pinning',
      status: 'ok',
      message: 'driver: postgres.js with unnamed statements (prepare: false) and no session SET: does not pin proxy sessions',
    });
  });
});

describe('mqtt-auth doctor as a command', () => {
  const root = new URL('../../', import.meta.url).pathname;
  const run = (args: string[], env: Record<string, string>): { code: number; out: string } => {
    try {
      return { code: 0, out: execFileSync(process.execPath, ['bin/mqtt-auth.js', 'doctor', ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' }) };
    } catch (err) {
      const e = err as { status: number; stdout: string };
      return { code: e.status, out: e.stdout };
    }
  };

  it('prints one line per check and exits 1 on a failure', () => {
    const { code, out } = run([], { DATABASE_URL: 'postgres://postgres@nonexistent.invalid:5432/x' });
    expect(code).toBe(1);
    expect(out).toContain('FAIL  dns          the host name nonexistent.invalid does not resolve (no such host)\n');
    expect(out).toContain('skip  tcp          the host name does not resolve\n');
    expect(out.trimEnd().split('\n').at(-1)).toBe('1 failed, 0 warned, 2 ok, 10 skipped');
  }, 60_000);

  it('prints JSON with --json and exits 1 on a bad setting', () => {
    const { code, out } = run(['--json'], { DATABASE_URL: 'redis://x' });
    expect(code).toBe(1);
    const parsed = JSON.parse(out) as { ok: boolean; findings: Finding[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.findings[0]).toEqual({
      check: 'settings',
      status: 'fail',
      message: 'DATABASE_URL: must start with postgres://, postgresql:// or mysql://',
      hint: 'fix DATABASE_URL (see the Settings table in the README)',
    });
    expect(parsed.findings.slice(1).every((f) => f.status === 'skip')).toBe(true);
  }, 60_000);
});
