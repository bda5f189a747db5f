import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway certificate authority made with the machine's `openssl`, and server certificates it
 * signs for the names given (DNS names and IP addresses as subjectAltName entries).
 */
export interface TestCa {
  /** The CA certificate's PEM file (what DB_CA_FILE names). */
  readonly caFile: string;
  /** A server certificate and key (PEM text) for `names`, e.g. ['DNS:localhost', 'IP:127.0.0.1']. */
  issue(names: readonly string[]): { readonly cert: string; readonly key: string };
  remove(): void;
}

export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'maf-test-ca-'));
  const quiet = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=mqtt-auth test CA', '-days', '2', '-keyout', caKey, '-out', caFile, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    quiet,
  );
  let n = 0;
  return {
    caFile,
    issue(names) {
      n += 1;
      const base = join(dir, `server-${n}`);
      const first = names[0]?.replace(/^(DNS|IP):/, '') ?? 'server';
      execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${first}`, '-keyout', `${base}.key`, '-out', `${base}.csr`], quiet);
      writeFileSync(`${base}.ext`, `subjectAltName=${names.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
      execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.crt`], quiet);
      return { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
