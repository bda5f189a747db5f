import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DbCredentials } from '../aws/secrets.js';
import { checkDns, checkTcp, checkTls } from './network.js';
import { loginProblem, type Problem } from './problems.js';
import type { CheckName, Finding } from './report.js';
import { openDataApi, openMysql, openPglite, openPostgres, type DoctorSession } from './session.js';
import type { NetworkTarget, Target } from './target.js';

/**
 * The connection half of the doctor: the secret, DNS, TCP, TLS, the login and the database, each a
 * finding; later steps are skipped with the reason when one fails.
 */

/** The network and login checks; a session on success, undefined (with the rest skipped) on failure. */
export async function connect(target: Target, timeoutMs: number, add: (f: Finding) => void): Promise<DoctorSession | undefined> {
  if (target.kind === 'pglite') {
    const why = `embedded PGlite in ${target.dataDir}: no network connection to check`;
    for (const check of ['secret', 'dns', 'tcp', 'tls', 'login'] as const) add({ check, status: 'skip', message: why });
    if (!existsSync(join(target.dataDir, 'PG_VERSION'))) {
      add({ check: 'database', status: 'warn', message: `${target.dataDir} holds no PGlite database yet`, hint: '`npm start` creates it with the reference schema and a demo user; or set DATABASE_URL' });
      return undefined;
    }
    try {
      const session = await openPglite(target.dataDir);
      add({ check: 'database', status: 'ok', message: `opened the PGlite database in ${target.dataDir} (stop \`npm start\` first: one process at a time)` });
      return session;
    } catch (err) {
      add({
        check: 'database',
        status: 'fail',
        message: `cannot open the PGlite database in ${target.dataDir}: ${err instanceof Error ? err.message : String(err)}`,
        hint: 'stop any other process using the folder (npm start); if it is damaged, move it aside and let npm start create a new one',
      });
      return undefined;
    }
  }
  if (target.kind === 'data-api') {
    add({ check: 'secret', status: 'skip', message: 'the Data API reads DB_SECRET_ARN itself' });
    const why = 'the RDS Data API is an HTTPS call through the AWS SDK: no database connection to check';
    for (const check of ['dns', 'tcp', 'tls'] as const) add({ check, status: 'skip', message: why });
    try {
      const session = await openDataApi({ engine: target.engine, resourceArn: target.resourceArn, secretArn: target.secretArn, database: target.database, timeoutMs: timeoutMs * 3 });
      add({ check: 'login', status: 'ok', message: `the Data API ran a statement as "${session.user}" on ${session.server}` });
      add({ check: 'database', status: 'ok', message: target.database === undefined ? 'no DB_NAME: the cluster\'s default database' : `database "${target.database}" answers` });
      return session;
    } catch (err) {
      const p = dataApiProblem(err, target.database);
      if (p.check === 'database') add({ check: 'login', status: 'ok', message: 'the Data API accepted the call and the credentials' });
      add({ check: p.check, status: 'fail', message: p.message, hint: p.hint });
      return skipAfter(add, 'the Data API call failed', ['login', 'database']);
    }
  }

  let creds: DbCredentials | undefined;
  if (target.secretArn !== undefined) {
    try {
      const { cachedSecret, parseDbCredentials } = await import('../aws/secrets.js');
      creds = parseDbCredentials(await cachedSecret(target.secretArn, { timeoutMs: timeoutMs * 2 }).get(), target.secretArn);
      add({ check: 'secret', status: 'ok', message: `read the database credentials (user "${creds.username}") from ${target.secretArn}` });
    } catch (err) {
      add({
        check: 'secret',
        status: 'fail',
        message: err instanceof Error ? err.message : String(err),
        hint: 'the role running this needs secretsmanager:GetSecretValue on that ARN (and kms:Decrypt for a customer key); the secret must be JSON {"username": …, "password": …}',
      });
      return skipAfter(add, 'the credentials could not be read', ['dns', 'tcp', 'tls', 'login', 'database']);
    }
  } else add({ check: 'secret', status: 'skip', message: 'the credentials are in DATABASE_URL' });

  const dns = await checkDns(target.host, timeoutMs);
  add(dns.finding);
  if (dns.address === undefined) return skipAfter(add, 'the host name does not resolve', ['tcp', 'tls', 'login', 'database']);
  const tcp = await checkTcp(dns.address, target.port, timeoutMs);
  add(tcp);
  if (tcp.status === 'fail') return skipAfter(add, 'the port cannot be reached', ['tls', 'login', 'database']);
  const tls = await checkTls(target.engine, target.host, dns.address, target.port, target.tls, timeoutMs);
  add(tls);
  if (tls.status === 'fail') return skipAfter(add, 'TLS failed', ['login', 'database']);

  const user = creds?.username ?? userOf(target);
  try {
    const session = await (target.engine === 'postgres' ? openPostgres : openMysql)(target, creds, timeoutMs);
    add({ check: 'login', status: 'ok', message: `logged in as "${session.user}" on ${session.server}` });
    add({ check: 'database', status: 'ok', message: `database "${target.database}" exists and the user may use it` });
    return session;
  } catch (err) {
    const p = loginProblem(err, target.engine, user, target.database);
    if (p.check === 'database') {
      add({ check: 'login', status: 'ok', message: `the server accepted the credentials of "${user}"` });
      add({ check: 'database', status: 'fail', message: p.message, hint: p.hint });
      return undefined;
    }
    add({ check: p.check, status: 'fail', message: p.message, hint: p.hint });
    return skipAfter(add, 'the login failed', ['login', 'database']);
  }
}

/** Marks the checks not yet decided as skipped for `reason`. */
function skipAfter(add: (f: Finding) => void, reason: string, checks: readonly CheckName[]): undefined {
  for (const check of checks) add({ check, status: 'skip', message: reason });
  return undefined;
}

function userOf(target: NetworkTarget): string {
  if (target.url === undefined) return '?';
  const u = new URL(target.url);
  return decodeURIComponent(u.username) || (target.engine === 'postgres' ? 'the OS user' : '');
}

/** RDS Data API failures: the SDK error name, and the SQLState when the database itself refused. */
function dataApiProblem(err: unknown, database: string | undefined): Problem {
  const name = err instanceof Error ? err.name : 'error';
  const text = err instanceof Error ? err.message : String(err);
  if (name === 'AccessDeniedException' || name === 'ForbiddenException' || name === 'UnrecognizedClientException') {
    return { check: 'login', message: `AWS refused the call (${name})`, hint: 'the role needs rds-data:ExecuteStatement on DB_RESOURCE_ARN and secretsmanager:GetSecretValue on DB_SECRET_ARN' };
  }
  if (/database .* does not exist|Unknown database/i.test(text) || /SQLState: (3D000|42000)/.test(text)) {
    return { check: 'database', message: `database "${database ?? '(default)'}" does not exist on the cluster`, hint: 'create it or fix DB_NAME' };
  }
  if (/SQLState: 28/.test(text)) return { check: 'login', message: 'the database refused the credentials in DB_SECRET_ARN', hint: 'update the secret (username and password) or the database user' };
  return { check: 'login', message: `the Data API call failed (${name}): ${text.slice(0, 200)}`, hint: 'check DB_RESOURCE_ARN (an Aurora cluster with the Data API enabled), DB_SECRET_ARN and the region' };
}

