import { errorCode } from '../db/retry.js';

/**
 * The server's error codes in plain words. Login failures name the check they belong to (TLS,
 * login, database); query failures name the setting whose query failed.
 */

export interface Problem {
  readonly check: 'tls' | 'login' | 'database' | 'secret';
  readonly message: string;
  readonly hint: string;
}

const serverText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Why the driver could not open a session as `user` on `database`. */
export function loginProblem(err: unknown, engine: 'postgres' | 'mysql', user: string, database: string): Problem {
  const code = errorCode(err);
  const text = serverText(err);
  const errno = err && typeof err === 'object' && 'errno' in err ? err.errno : undefined;
  if (engine === 'postgres') {
    switch (code) {
      case '28P01':
        return {
          check: 'login',
          message: `the server refused the password for user "${user}" (wrong password, or no such user: PostgreSQL does not say which)`,
          hint: 'check the user and password in DATABASE_URL (percent-encode special characters) or in the DB_SECRET_ARN secret; ALTER ROLE … PASSWORD sets it anew',
        };
      case '28000':
        if (/pg_hba\.conf/.test(text)) {
          return {
            check: 'login',
            message: `the server's pg_hba.conf admits no connection for user "${user}" to database "${database}" from this address`,
            hint: "add a host line for this machine's address (for a broker in the cloud, its outbound CIDR) to pg_hba.conf, or on RDS check the security group and rds.force_ssl",
          };
        }
        return { check: 'login', message: `the server refused user "${user}": ${text}`, hint: `create the role (CREATE ROLE "${user}" LOGIN PASSWORD '…') or fix the user name` };
      case '3D000':
        return { check: 'database', message: `database "${database}" does not exist on the server`, hint: `create it (CREATE DATABASE "${database}") or fix the database name in DATABASE_URL's path / DB_NAME` };
      case '42501':
        return { check: 'database', message: `user "${user}" may not connect to database "${database}"`, hint: `GRANT CONNECT ON DATABASE "${database}" TO "${user}"` };
      case '53300':
        return { check: 'login', message: 'the server has no connection slot left (too many connections)', hint: 'use a connection pooler (RDS Proxy, PgBouncer), lower DB_POOL_MAX, or raise max_connections' };
      case 'SSL_NOT_SUPPORTED':
        return { check: 'tls', message: 'the URL asks for TLS but the server does not accept TLS connections', hint: 'turn on ssl on the server, or drop sslmode from DATABASE_URL' };
      case 'CONNECT_TIMEOUT':
        return { check: 'login', message: 'the port answered TCP but no PostgreSQL reply arrived in time: is this port the PostgreSQL server\'s?', hint: 'check the port in DATABASE_URL / DB_PORT (PostgreSQL listens on 5432)' };
      case 'PROTOCOL_ERROR':
        return { check: 'login', message: `the port answered, but not in PostgreSQL's protocol (${text}): another kind of server or a proxy is listening there`, hint: 'check the host and port in DATABASE_URL / DB_HOST / DB_PORT (PostgreSQL listens on 5432)' };
      case 'SASL_SIGNATURE_MISMATCH':
        return { check: 'login', message: 'the SCRAM exchange failed: the server could not prove it knows the password', hint: 'check that the URL points at the intended server and not at a proxy with other credentials' };
      default:
        break;
    }
  } else {
    switch (code) {
      case 'ER_ACCESS_DENIED_ERROR':
        return {
          check: 'login',
          message: `access denied for user "${user}" (${text.replace(/^Access denied for user /, '')}): the password is wrong, the user does not exist, or it has no account for this machine's address (MySQL does not say which)`,
          hint: "check the user and password in DATABASE_URL (percent-encode special characters) or in the DB_SECRET_ARN secret; the account's host part must match this address, e.g. CREATE USER 'u'@'10.11.%' or GRANT … TO 'u'@'%'",
        };
      case 'ER_HOST_NOT_PRIVILEGED':
        return { check: 'login', message: `the server lets no account connect from this machine's address (${text})`, hint: "create the user for this address (CREATE USER 'u'@'10.11.%' …) or for '%'" };
      case 'ER_BAD_DB_ERROR':
        return { check: 'database', message: `database "${database}" does not exist on the server`, hint: `create it (CREATE DATABASE \`${database}\`) or fix the database name in DATABASE_URL's path / DB_NAME` };
      case 'ER_DBACCESS_DENIED_ERROR':
        return { check: 'database', message: `user "${user}" has no privileges on database "${database}"`, hint: `GRANT SELECT ON \`${database}\`.* TO '${user}'@'…'` };
      case 'ER_NOT_SUPPORTED_AUTH_MODE':
      case 'AUTH_SWITCH_PLUGIN_ERROR':
        return { check: 'login', message: `the server asks for an authentication method the driver cannot speak (${text})`, hint: "switch the user to caching_sha2_password or mysql_native_password (ALTER USER 'u'@'h' IDENTIFIED WITH …)" };
      case 'ER_CON_COUNT_ERROR':
        return { check: 'login', message: 'the server has no connection slot left (too many connections)', hint: 'use RDS Proxy, lower DB_POOL_MAX, or raise max_connections' };
      case 'HANDSHAKE_NO_SSL_SUPPORT':
        return { check: 'tls', message: 'the URL asks for TLS but the server does not accept TLS connections', hint: 'configure ssl_cert and ssl_key on the server, or drop ssl from DATABASE_URL' };
      case 'ETIMEDOUT':
        return { check: 'login', message: 'the port answered TCP but no MySQL greeting arrived: is this port the MySQL server\'s?', hint: 'check the port in DATABASE_URL / DB_PORT (MySQL listens on 3306)' };
      default:
        break;
    }
  }
  if (code === 'ECONNRESET' || code === 'CONNECTION_CLOSED' || code === 'PROTOCOL_CONNECTION_LOST') {
    return { check: 'login', message: `the server closed the connection during the login (${code}): is this port a ${engine === 'postgres' ? 'PostgreSQL' : 'MySQL'} server?`, hint: 'check the port, and whether the server or a proxy requires TLS' };
  }
  const what = code ?? (typeof errno === 'number' ? `errno ${errno}` : 'error');
  return { check: 'login', message: `could not log in as "${user}" (${what}): ${text}`, hint: 'check the user, the password and the server in the settings' };
}

/** Why running a template's statement failed, in the words of the setting that holds it. */
export function queryProblem(err: unknown, setting: string): { message: string; hint: string } {
  const code = errorCode(err);
  const text = serverText(err);
  const name = (re: RegExp): string => re.exec(text)?.[1] ?? '?';
  switch (code) {
    case '42P01':
    case 'ER_NO_SUCH_TABLE': {
      const table = code === '42P01' ? name(/relation "([^"]+)"/) : name(/Table '(?:[^.']+\.)?([^']+)'/);
      return {
        message: `${setting} reads table ${table}, which does not exist in this database`,
        hint: `create it (infra/schema/${code === '42P01' ? 'postgresql' : 'mysql'}.sql has the reference tables) or change ${setting} to read your own table`,
      };
    }
    case '42703':
    case 'ER_BAD_FIELD_ERROR': {
      const column = code === '42703' ? name(/column "?([^" ]+)"? does not exist/) : name(/Unknown column '([^']+)'/);
      return { message: `${setting} names column ${column}, which the table does not have`, hint: `add the column, or change ${setting} to select your column under that name (… AS ${column})` };
    }
    case '42601':
    case 'ER_PARSE_ERROR':
      return { message: `${setting} is not valid SQL for this server: ${text}`, hint: `fix the syntax of ${setting}` };
    case '42501':
    case 'ER_TABLEACCESS_DENIED_ERROR':
    case 'ER_COLUMNACCESS_DENIED_ERROR':
      return { message: `the database user may not read what ${setting} selects: ${text}`, hint: 'GRANT SELECT on the table to the user the service connects as' };
    case '42883':
    case 'ER_SP_DOES_NOT_EXIST':
      return { message: `${setting} calls a function the server does not have: ${text}`, hint: `check the function name or the server version for ${setting}` };
    default:
      return { message: `${setting} failed on the server (${code ?? 'error'}): ${text}`, hint: `run ${setting} by hand with a sample username to see the problem` };
  }
}
