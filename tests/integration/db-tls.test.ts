import { execFileSync } from 'node:child_process';
import type { SqlStore } from '../../shared/db/port.js';
import { createProxyStore } from '../../shared/db/rotating.js';
import { openSession } from '../../shared/db/session.js';
import { runDoctor } from '../../shared/doctor/doctor.js';
import type { CheckName, Finding, Report } from '../../shared/doctor/report.js';
import { BackendError } from '../../shared/errors.js';
import { loadSettings } from '../../shared/settings.js';
import { makeTestCa, type TestCa } from '../helpers/certificates.js';
import { CHECKOUT_TAG, SCHEMA, type Engine } from '../helpers/databases.js';
import { rejectionOf, thrownBy } from '../helpers/errors.js';
import { containerFor, handlersFor, memoryLogger } from '../helpers/harness.js';
import { startPrivateMariadb, type PrivateMariadb } from '../helpers/private-mariadb.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { startSecretsServer, useLocalAws, type SecretsServer } from '../helpers/secrets-server.js';

/**
 * DB_TLS and DB_CA_FILE for the DB_* form, for real: private PostgreSQL and MariaDB servers that
 * accept TLS connections only, with certificates signed by a throwaway CA — one for localhost and
 * 127.0.0.1, one for another name only. Credentials come from the local Secrets Manager endpoint,
 * as in Lambda. A connection that TLS refuses is answered by the failure policy, never allow.
 */

const POOL = { max: 1, connectTimeoutMs: 2000, queryTimeoutMs: 2000, idleTimeoutS: 60, maxLifetimeS: 1800 };
const PLAIN = '{"name":"plain","salt_position":"disable"}';
const arn = (name: string): string => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-tls-${name}-${CHECKOUT_TAG}`;

let sm: SecretsServer;
let ca: TestCa;
const stores: SqlStore[] = [];
beforeAll(async () => {
  sm = await startSecretsServer();
  useLocalAws({ secretsManager: sm.url });
  ca = makeTestCa();
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await sm.close();
  ca.remove();
});

/**
 * The words of the error under a BackendError. (Node's own errors come from another realm than
 * jest's, so `detail`, filled only for an `instanceof Error` cause, is empty for them here.)
 */
const causeText = (err: unknown): string => String((err as { cause?: { message?: unknown } }).cause?.message);

/** The service's pooled store for `env` (DB_* form), as the container opens it. */
async function storeFor(env: Record<string, string>): Promise<SqlStore> {
  const db = loadSettings(env).database;
  if (!('driver' in db) || db.driver !== 'proxy') throw new Error('not the DB_* proxy form');
  const store = await createProxyStore(db, POOL, memoryLogger().log);
  stores.push(store);
  return store;
}

/** The authentication and ACL answers of a container for `env`, for a client whose password is right. */
async function answers(env: Record<string, string>): Promise<{ auth: unknown; acl: unknown; logs: string }> {
  const mem = memoryLogger();
  const c = containerFor(env, undefined, mem.log);
  try {
    const h = handlersFor(c);
    const auth = (await h.auth({ username: 'tls-dev', password: 'open-sesame' })).body;
    const acl = (await h.acl({ username: 'tls-dev', topic: 'devices/tls-dev/up', action: 'publish' })).body;
    return { auth, acl, logs: mem.lines().join('\n') };
  } finally {
    await c.close();
  }
}

const doctor = (env: Record<string, string>): Promise<Report> => runDoctor(env, { timeoutMs: 3000, samples: 1 });
function finding(report: Report, check: CheckName): Finding {
  const f = report.findings.find((x) => x.check === check);
  if (f === undefined) throw new Error(`no finding for ${check}`);
  return f;
}

/** What every engine's servers must show: the modes, the trust store and the host name check. */
interface Servers {
  /** A TLS-only server whose certificate names localhost and 127.0.0.1. */
  good: number;
  /** A TLS-only server whose certificate names db.example.test only. */
  otherName: number;
}

const ENGINES: Array<[Engine, string]> = [
  ['postgres', "SELECT ssl::text AS encrypted, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
  ['mysql', "SELECT IF(VARIABLE_VALUE = '', 'false', 'true') AS encrypted, VARIABLE_VALUE AS version FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'"],
];

describe.each(ENGINES)('DB_TLS on a TLS-only %s', (engine, tlsQuery) => {
  const servers: Servers = { good: 0, otherName: 0 };
  /** The error code a refused handshake carries: Node's own, which mysql2 replaces by its HANDSHAKE_SSL_ERROR. */
  const tlsFailure = (nodeCode: string): string => (engine === 'postgres' ? nodeCode : 'HANDSHAKE_SSL_ERROR');
  const stops: Array<() => unknown> = [];
  const secret = arn(engine);
  /** mysql2 checks certificates against host names only (verify-full refuses an IP DB_HOST there). */
  const HOST = engine === 'postgres' ? '127.0.0.1' : 'localhost';
  const env = (port: number, extra: Record<string, string>): Record<string, string> => ({
    DB_DRIVER: 'proxy',
    DB_ENGINE: engine,
    DB_HOST: HOST,
    DB_PORT: String(port),
    DB_NAME: 'maf_tls',
    DB_SECRET_ARN: secret,
    PASSWORD_HASH: PLAIN,
    DB_CONNECT_TIMEOUT_MS: '2000',
    ...extra,
  });

  beforeAll(async () => {
    const schema = execFileSync('cat', [SCHEMA[engine].pathname]).toString();
    const rows = "INSERT INTO mqtt_user (username, password_hash, salt) VALUES ('tls-dev', 'open-sesame', ''); INSERT INTO mqtt_acl (username, permission, action, topic) VALUES ('tls-dev', 'allow', 'publish', 'devices/tls-dev/up')";
    for (const [key, names] of [
      ['good', ['DNS:localhost', 'IP:127.0.0.1']],
      ['otherName', ['DNS:db.example.test']],
    ] as const) {
      const certificate = ca.issue(names);
      if (engine === 'postgres') {
        // Plain TCP is refused for everyone; TLS logins are checked by SCRAM.
        const pg: PrivatePostgres = await startPrivatePostgres(['hostnossl all all 0.0.0.0/0 reject'], certificate);
        stops.push(() => pg.stop());
        pg.psql("CREATE ROLE maf_tls LOGIN PASSWORD 'tls-pw-4'");
        pg.psql('CREATE DATABASE maf_tls OWNER maf_tls');
        pg.psql(`${schema}; ${rows}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO maf_tls`, 'maf_tls');
        servers[key] = pg.port;
      } else {
        const my: PrivateMariadb = await startPrivateMariadb({ certificate, requireTls: true });
        stops.push(() => my.stop());
        my.sql(`CREATE DATABASE maf_tls; CREATE USER 'maf_tls'@'127.0.0.1' IDENTIFIED BY 'tls-pw-4'; GRANT SELECT ON maf_tls.* TO 'maf_tls'@'127.0.0.1'; USE maf_tls; ${schema}; ${rows}`);
        servers[key] = my.port;
      }
    }
    sm.put(secret, JSON.stringify({ username: 'maf_tls', password: 'tls-pw-4', engine }));
  }, 120_000);
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it('verify-full with DB_CA_FILE: connects over TLS, checks the certificate, and answers', async () => {
    const e = env(servers.good, { DB_TLS: 'verify-full', DB_CA_FILE: ca.caFile });
    const [row] = await (await storeFor(e)).query(tlsQuery, []);
    expect(row).toEqual({ encrypted: 'true', version: expect.stringMatching(/^TLSv1\.[23]$/) });
    expect(await answers(e)).toMatchObject({ auth: { result: 'allow', is_superuser: false }, acl: { result: 'allow' } });
  });

  it('verify-full is the default for the DB_* form: without DB_CA_FILE the test CA is not trusted, and the request is answered by the failure policy', async () => {
    const e = env(servers.good, {});
    const err = (await rejectionOf(async () => (await storeFor(e)).query(tlsQuery, []))) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    expect(err.code).toBe(tlsFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
    expect(causeText(err)).toBe('unable to verify the first certificate');
    const ignored = await answers(e);
    expect(ignored).toMatchObject({ auth: { result: 'ignore' }, acl: { result: 'deny' } });
    expect(ignored.logs).toContain(tlsFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
    expect(ignored.logs).not.toContain('tls-pw-4');
    expect((await answers({ ...e, AUTHN_BACKEND_FAILURE: 'deny', AUTHZ_BACKEND_FAILURE: 'ignore' })).auth).toEqual({ result: 'deny' });
    // A refused certificate is an outage, never a "no match": AUTHZ_NO_MATCH=allow does not let it through.
    expect((await answers({ ...e, AUTHZ_NO_MATCH: 'allow', AUTHZ_BACKEND_FAILURE: 'ignore' })).acl).toEqual({ result: 'ignore' });
    expect((await answers({ ...e, AUTHZ_NO_MATCH: 'allow' })).acl).toEqual({ result: 'deny' });
  });

  it('require: encrypts without checking the certificate, so it connects to both servers', async () => {
    for (const port of [servers.good, servers.otherName]) {
      const [row] = await (await storeFor(env(port, { DB_TLS: 'require' }))).query(tlsQuery, []);
      expect(row).toEqual({ encrypted: 'true', version: expect.stringMatching(/^TLSv1\.[23]$/) });
    }
    expect((await answers(env(servers.otherName, { DB_TLS: 'require' }))).auth).toEqual({ result: 'allow', is_superuser: false });
  });

  it('off: the server refuses the plain connection, and the request is answered by the failure policy', async () => {
    const e = env(servers.good, { DB_TLS: 'off' });
    const err = (await rejectionOf(async () => (await storeFor(e)).query(tlsQuery, []))) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    // MariaDB's require_secure_transport answers a plain login as it would a wrong password.
    expect(err.detail).toMatch(engine === 'postgres' ? /^pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "maf_tls", database "maf_tls", no encryption$/ : /^Access denied for user 'maf_tls'@'127\.0\.0\.1'/);
    expect(await answers(e)).toMatchObject({ auth: { result: 'ignore' }, acl: { result: 'deny' } });
  });

  it('verify-full refuses a certificate for another name when connecting by 127.0.0.1, even from the trusted CA', async () => {
    const e = env(servers.otherName, { DB_HOST: '127.0.0.1', DB_CA_FILE: ca.caFile });
    if (engine === 'mysql') {
      // mysql2 would check the name "localhost" for an IP address, so the settings refuse it.
      expect(thrownBy(() => loadSettings(e))).toMatchObject({ setting: 'DB_HOST', message: expect.stringMatching(/^DB_HOST: is an IP address, which DB_TLS=verify-full cannot check on MySQL/) });
      expect(loadSettings({ ...e, DB_TLS: 'require', DB_CA_FILE: '' }).database).toMatchObject({ host: '127.0.0.1', tls: { mode: 'require' } });
      return;
    }
    const err = (await rejectionOf(async () => (await storeFor(e)).query(tlsQuery, []))) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    expect(err.code).toBe(tlsFailure('ERR_TLS_CERT_ALTNAME_INVALID'));
    expect(causeText(err)).toContain("IP: 127.0.0.1 is not in the cert's list");
    expect(await answers(e)).toMatchObject({ auth: { result: 'ignore' }, acl: { result: 'deny' } });
  });

  it('verify-full by host name: localhost matches the certificate; a name it does not carry is refused', async () => {
    const [row] = await (await storeFor(env(servers.good, { DB_HOST: 'localhost', DB_CA_FILE: ca.caFile }))).query(tlsQuery, []);
    expect(row).toMatchObject({ encrypted: 'true' });
    const err = (await rejectionOf(async () => (await storeFor(env(servers.otherName, { DB_HOST: 'localhost', DB_CA_FILE: ca.caFile }))).query(tlsQuery, []))) as BackendError;
    expect(err.code).toBe(tlsFailure('ERR_TLS_CERT_ALTNAME_INVALID'));
    expect(causeText(err)).toContain("Host: localhost. is not in the cert's altnames: DNS:db.example.test");
  });

  it("the CLI's session (mqtt-auth user …) uses the same TLS settings", async () => {
    const session = await openSession(loadSettings(env(servers.good, { DB_CA_FILE: ca.caFile })));
    try {
      expect(await session.query(tlsQuery, [])).toEqual([{ encrypted: 'true', version: expect.stringMatching(/^TLSv1\.[23]$/) }]);
    } finally {
      await session.close();
    }
    const refused = await rejectionOf(async () => (await openSession(loadSettings(env(servers.good, {})))).query(tlsQuery, []));
    expect((refused as BackendError).code).toBe(tlsFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
  });

  it('the doctor checks TLS as DB_TLS asks and logs in with the same options', async () => {
    const verified = await doctor(env(servers.good, { DB_CA_FILE: ca.caFile }));
    expect(finding(verified, 'tls')).toMatchObject({ status: 'ok', message: expect.stringMatching(new RegExp(`^TLSv1\\.[23], certificate verified for ${HOST.replace(/\./g, '\\.')} \\(subject localhost, issuer mqtt-auth test CA, valid until `)) });
    expect(finding(verified, 'login').status).toBe('ok');
    const untrusted = await doctor(env(servers.good, {}));
    expect(finding(untrusted, 'tls')).toMatchObject({ status: 'fail', message: 'the server certificate is signed by a certificate authority this machine does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE)' });
    expect(finding(untrusted, 'tls').hint).toMatch(/^set DB_CA_FILE to the PEM file of the CA/);
    const plain = await doctor(env(servers.good, { DB_TLS: 'off' }));
    expect(finding(plain, 'tls')).toMatchObject({ status: 'skip', message: 'not requested (DB_TLS=off): traffic to the database is not encrypted' });
    expect(finding(plain, 'login').status).toBe('fail');
  });
});
