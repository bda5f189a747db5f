import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server.js';

/**
 * A private PostgreSQL cluster started from the machine's own binaries, with its state in a
 * temporary folder: TCP logins checked by SCRAM-SHA-256 (the machine's server trusts 127.0.0.1, so
 * a wrong password cannot be told there) and TLS with a self-signed certificate. The unix socket
 * stays trust for the admin. Never touches the machine's own cluster or its pg_hba.conf.
 */
export interface PrivatePostgres {
  readonly port: number;
  /** Runs SQL as the superuser over the private unix socket, in `database` (default postgres). */
  psql(sql: string, database?: string): string;
  stop(): void;
}

const BIN = (() => {
  const dir = execFileSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1']).toString().trim();
  if (dir === '') throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  return dir;
})();

/** postgres refuses to run as root: the cluster runs as the postgres user when the tests run as root. */
const asPostgres = (cmd: string, args: string[]): string => {
  const isRoot = process.getuid?.() === 0;
  const line = [cmd, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const quiet = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };
  return (isRoot ? execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', line], quiet) : execFileSync(cmd, args, quiet)).toString();
};

/**
 * `hbaFirst`: lines put first in the cluster's own pg_hba.conf before it starts. `certificate`: the
 * server's certificate and key (PEM) instead of the self-signed one made here.
 */
export async function startPrivatePostgres(hbaFirst: readonly string[] = [], certificate?: { readonly cert: string; readonly key: string }): Promise<PrivatePostgres> {
  const state = mkdtempSync(join(tmpdir(), 'maf-doctor-pg-'));
  chmodSync(state, 0o755);
  const owner = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : undefined;
  if (owner) chownSync(state, owner.uid, owner.gid);
  const data = join(state, 'data');
  const port = await freePort();
  asPostgres(join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync']);
  if (certificate === undefined) {
    // A self-signed certificate for localhost: TLS works, verification must fail.
    asPostgres('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', join(data, 'server.key'), '-out', join(data, 'server.crt')]);
  } else {
    for (const [file, pem] of [['server.crt', certificate.cert], ['server.key', certificate.key]] as const) {
      writeFileSync(join(data, file), pem, { mode: 0o600 });
      if (owner) chownSync(join(data, file), owner.uid, owner.gid);
    }
  }
  asPostgres('chmod', ['600', join(data, 'server.key')]);
  const hba = join(data, 'pg_hba.conf');
  writeFileSync(hba, [...hbaFirst, readFileSync(hba, 'utf8')].join('\n'));
  const options = `-p ${port} -k ${state} -c listen_addresses=127.0.0.1 -c ssl=on -c fsync=off`;
  asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-l', join(state, 'server.log'), '-o', options, '-w', 'start']);
  const psql = (sql: string, database = 'postgres'): string => execFileSync('psql', ['-h', state, '-p', String(port), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql]).toString();
  return {
    port,
    psql,
    stop: () => {
      try {
        asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(state, { recursive: true, force: true });
      }
    },
  };
}
