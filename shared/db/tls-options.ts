import { isIP } from 'node:net';
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import type { DbTls } from './tls.js';

/** The drivers' TLS options for the DB_* form, from the settings' {@link DbTls}. */

/** The trusted CAs for verify-full: Node's bundled store, plus DB_CA_FILE's (a `ca` option alone would replace the store). */
export function trusted(tls: DbTls): { ca?: string[] } {
  return tls.ca === undefined ? {} : { ca: [...rootCertificates, tls.ca] };
}

/**
 * postgres.js `ssl`: false, `'require'` (encrypted, certificate not checked), or Node TLS options
 * that check the certificate chain and the host name. A fresh object each call.
 */
export function postgresSsl(tls: DbTls, host: string): false | 'require' | ConnectionOptions {
  if (tls.mode === 'off') return false;
  if (tls.mode === 'require') return 'require';
  // SNI carries a name only; for an IP address Node checks the certificate's IP entries against `host`.
  return { rejectUnauthorized: true, host, ...(isIP(host) === 0 ? { servername: host } : {}), ...trusted(tls) };
}

/** mysql2's `ssl` options (it checks the host name only with `verifyIdentity`); undefined: no TLS. */
interface MysqlSsl {
  readonly rejectUnauthorized: boolean;
  readonly verifyIdentity: boolean;
  readonly ca?: string[];
}

/** mysql2 `ssl`, or undefined for none. A fresh object each call: mysql2 writes to the one it is given. */
export function mysqlSsl(tls: DbTls): MysqlSsl | undefined {
  if (tls.mode === 'off') return undefined;
  if (tls.mode === 'require') return { rejectUnauthorized: false, verifyIdentity: false };
  return { rejectUnauthorized: true, verifyIdentity: true, ...trusted(tls) };
}
