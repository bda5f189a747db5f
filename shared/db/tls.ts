import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/**
 * TLS for the DB_* form (RDS Proxy or a direct endpoint, credentials from Secrets Manager), from
 * DB_TLS and DB_CA_FILE. `verify-full` checks the server certificate against Node's bundled CAs
 * (plus DB_CA_FILE's) and the host name against DB_HOST; `require` encrypts without checking;
 * `off` connects in plain text. The DATABASE_URL form keeps its own sslmode / ssl parameters.
 * The drivers' options are built in `tls-options.ts`, loaded with the driver: `node:tls` (about
 * 2 ms to load) is not needed to read the settings at a cold start.
 */
export type DbTlsMode = 'verify-full' | 'require' | 'off';

export interface DbTls {
  readonly mode: DbTlsMode;
  /** DB_CA_FILE, when given (verify-full only). */
  readonly caFile?: string;
  /** Its PEM text, read once when the settings are loaded. */
  readonly ca?: string;
}

/**
 * DB_TLS and DB_CA_FILE as the settings hold them; reads and checks the CA file (a ConfigError
 * naming DB_CA_FILE). mysql2 checks a certificate against a host *name* only: given an IP address
 * it would check the name `localhost` instead, so verify-full on MySQL refuses an IP DB_HOST.
 */
export function dbTls(mode: DbTlsMode, caFile: string | undefined, engine: 'postgres' | 'mysql', host: string): DbTls {
  if (mode === 'verify-full' && engine === 'mysql' && isIP(host) !== 0) {
    throw new ConfigError('DB_HOST', `is an IP address, which DB_TLS=verify-full cannot check on MySQL (the driver matches certificates against host names only): use the endpoint's DNS name, or DB_TLS=require`);
  }
  if (caFile === undefined) return { mode };
  if (mode !== 'verify-full') throw new ConfigError('DB_CA_FILE', `is only used with DB_TLS=verify-full (DB_TLS is ${mode}, which does not check the certificate)`);
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : 'error';
    throw new ConfigError('DB_CA_FILE', `cannot read ${caFile} (${code})`);
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError('DB_CA_FILE', `${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new ConfigError('DB_CA_FILE', `certificate ${i + 1} in ${caFile} does not parse`);
    }
  });
  return { mode, caFile, ca: pem };
}
