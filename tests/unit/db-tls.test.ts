import { rootCertificates } from 'node:tls';
import { mysqlSsl, postgresSsl } from '../../shared/db/tls-options.js';
import type { DbTls } from '../../shared/db/tls.js';
import { loadSettings } from '../../shared/settings.js';
import { thrownBy } from '../helpers/errors.js';

/** The driver options DB_TLS becomes (tests/integration/db-tls.test.ts runs them against real TLS-only servers). */

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('postgres.js ssl', () => {
  it('off: no TLS; require: encrypted, unchecked', () => {
    expect(postgresSsl({ mode: 'off' }, 'proxy.example')).toBe(false);
    expect(postgresSsl({ mode: 'require' }, 'proxy.example')).toBe('require');
  });

  it('verify-full: the chain and the host name are checked, against Node\'s CAs plus DB_CA_FILE\'s', () => {
    expect(postgresSsl({ mode: 'verify-full' }, 'proxy.example')).toEqual({ rejectUnauthorized: true, host: 'proxy.example', servername: 'proxy.example' });
    expect(postgresSsl({ mode: 'verify-full', caFile: '/ca.pem', ca: PEM }, 'proxy.example')).toEqual({ rejectUnauthorized: true, host: 'proxy.example', servername: 'proxy.example', ca: [...rootCertificates, PEM] });
    // No SNI for an address (RFC 6066); `host` still has the certificate's IP entries checked.
    expect(postgresSsl({ mode: 'verify-full' }, '10.0.0.7')).toEqual({ rejectUnauthorized: true, host: '10.0.0.7' });
  });
});

describe('mysql2 ssl', () => {
  it('off: no ssl option; require: encrypted, neither chain nor name checked', () => {
    expect(mysqlSsl({ mode: 'off' })).toBeUndefined();
    expect(mysqlSsl({ mode: 'require' })).toEqual({ rejectUnauthorized: false, verifyIdentity: false });
  });

  it('verify-full: chain and host name (verifyIdentity) checked, DB_CA_FILE added to Node\'s CAs', () => {
    expect(mysqlSsl({ mode: 'verify-full' })).toEqual({ rejectUnauthorized: true, verifyIdentity: true });
    expect(mysqlSsl({ mode: 'verify-full', caFile: '/ca.pem', ca: PEM })).toEqual({ rejectUnauthorized: true, verifyIdentity: true, ca: [...rootCertificates, PEM] });
  });

  it('a fresh object each time (mysql2 writes to the one it is given)', () => {
    const tls: DbTls = Object.freeze({ mode: 'verify-full' });
    expect(mysqlSsl(tls)).not.toBe(mysqlSsl(tls));
    expect(Object.isFrozen(mysqlSsl(tls))).toBe(false);
  });
});

describe('DB_TLS=verify-full on MySQL needs a host name', () => {
  const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenant-db-AbCdEf';
  const env = { DB_ENGINE: 'mysql', DB_NAME: 'iot', DB_SECRET_ARN: SECRET };

  it('an IP DB_HOST is refused naming DB_HOST (mysql2 would check the name localhost instead)', () => {
    for (const host of ['10.0.0.7', '::1']) {
      expect(thrownBy(() => loadSettings({ ...env, DB_HOST: host }))).toMatchObject({
        setting: 'DB_HOST',
        message: "DB_HOST: is an IP address, which DB_TLS=verify-full cannot check on MySQL (the driver matches certificates against host names only): use the endpoint's DNS name, or DB_TLS=require",
      });
    }
  });

  it('a name, or another mode, or PostgreSQL is accepted', () => {
    expect(loadSettings({ ...env, DB_HOST: 'proxy.example' }).database).toMatchObject({ tls: { mode: 'verify-full' } });
    expect(loadSettings({ ...env, DB_HOST: '10.0.0.7', DB_TLS: 'require' }).database).toMatchObject({ tls: { mode: 'require' } });
    expect(loadSettings({ ...env, DB_ENGINE: 'postgres', DB_HOST: '10.0.0.7' }).database).toMatchObject({ tls: { mode: 'verify-full' } });
  });
});
