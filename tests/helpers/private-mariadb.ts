import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server.js';

/**
 * A private MariaDB server started from the machine's own binaries, with its state in a temporary
 * folder and TLS on a self-signed certificate (the machine's MariaDB has TLS off). Root logs in over
 * the private socket; `user` / `password` over TCP.
 */
export interface PrivateMariadb {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Runs SQL as root over the private socket. */
  sql(statement: string): void;
  stop(): Promise<void>;
}

/**
 * `certificate`: the server's certificate and key (PEM) instead of the self-signed one made here;
 * `requireTls`: the server refuses logins over plain TCP (require_secure_transport).
 */
export async function startPrivateMariadb(opts: { readonly certificate?: { readonly cert: string; readonly key: string }; readonly requireTls?: boolean } = {}): Promise<PrivateMariadb> {
  const state = mkdtempSync(join(tmpdir(), 'maf-doctor-mariadb-'));
  chmodSync(state, 0o755);
  const data = join(state, 'data');
  mkdirSync(data);
  const port = await freePort();
  const quiet = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };
  if (opts.certificate === undefined) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', join(state, 'server.key'), '-out', join(state, 'server.crt')], quiet);
  } else {
    writeFileSync(join(state, 'server.crt'), opts.certificate.cert);
    writeFileSync(join(state, 'server.key'), opts.certificate.key, { mode: 0o600 });
  }
  const cnf = join(state, 'my.cnf');
  writeFileSync(
    cnf,
    [
      '[mysqld]',
      `datadir=${data}`,
      `socket=${join(state, 'mysqld.sock')}`,
      `pid-file=${join(state, 'mysqld.pid')}`,
      `log-error=${join(state, 'error.log')}`,
      `port=${port}`,
      'bind-address=127.0.0.1',
      'skip-name-resolve',
      `ssl-cert=${join(state, 'server.crt')}`,
      `ssl-key=${join(state, 'server.key')}`,
      ...(opts.requireTls === true ? ['require-secure-transport=ON'] : []),
      '[client]',
      `socket=${join(state, 'mysqld.sock')}`,
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['-R', 'mysql:mysql', state]);
  execFileSync('mariadb-install-db', [`--defaults-file=${cnf}`, ...(asRoot ? ['--user=mysql'] : []), '--skip-test-db'], quiet);
  const server: ChildProcess = spawn('mariadbd', [`--defaults-file=${cnf}`, ...(asRoot ? ['--user=mysql'] : [])], { stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      execFileSync('mariadb-admin', [`--defaults-file=${cnf}`, '--silent', 'ping'], quiet);
      break;
    } catch {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`private MariaDB did not start (see ${join(state, 'error.log')})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const user = 'maf_doc';
  const password = 'right-pw-9';
  execFileSync('mariadb', [`--defaults-file=${cnf}`, '-uroot', '-e', `CREATE DATABASE maf_doc; CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'; GRANT ALL ON maf_doc.* TO '${user}'@'127.0.0.1'`], quiet);
  return {
    port,
    user,
    password,
    sql: (statement) => void execFileSync('mariadb', [`--defaults-file=${cnf}`, '-uroot', '-e', statement], quiet),
    stop: async () => {
      if (server.exitCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      }
      rmSync(state, { recursive: true, force: true });
    },
  };
}
