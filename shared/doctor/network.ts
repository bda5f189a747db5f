import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { errorCode } from '../db/retry.js';
import type { Finding } from './report.js';

/**
 * The network half of the doctor: name resolution, a TCP connection, and the engine's own TLS
 * negotiation on a raw socket (PostgreSQL's SSLRequest, MySQL's capability flags), so a failure
 * is named before any driver is involved.
 */

type TlsMode = 'off' | 'prefer' | 'require' | 'verify';

export interface TlsWish {
  readonly mode: TlsMode;
  /** Where the mode came from, for the report (`sslmode=require`). */
  readonly from: string;
  /** Trusted CAs (PEM) when the settings name some; else the system's. */
  readonly ca?: string | string[];
  /** The DB_* form: the hints name DB_TLS and DB_CA_FILE instead of the URL's parameters. */
  readonly dbForm?: boolean;
}

/** Resolves the host as the drivers do (the system resolver); an IP address needs no lookup. */
export async function checkDns(host: string, timeoutMs: number): Promise<{ finding: Finding; address?: string }> {
  if (isIP(host) !== 0) return { finding: { check: 'dns', status: 'ok', message: `${host} is an IP address; nothing to resolve` }, address: host };
  try {
    const found = await withTimeout(lookup(host, { all: true }), timeoutMs, 'ETIMEOUT');
    const addresses = found.map((a) => a.address);
    return { finding: { check: 'dns', status: 'ok', message: `${host} resolves to ${addresses.join(', ')}`, data: { addresses } }, address: addresses[0] ?? host };
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOTFOUND' || code === 'ENODATA') {
      return {
        finding: {
          check: 'dns',
          status: 'fail',
          message: `the host name ${host} does not resolve (no such host)`,
          hint: 'check the host in DATABASE_URL / DB_HOST for typos; a private RDS or Aurora endpoint resolves only inside its VPC (use the private address and VPC peering)',
        },
      };
    }
    return {
      finding: {
        check: 'dns',
        status: 'fail',
        message: `the DNS lookup of ${host} did not complete (${code ?? 'error'}): the resolver is unreachable or slow`,
        hint: 'check this machine\'s DNS resolver (/etc/resolv.conf, the VPC\'s DNS settings) and try again',
      },
    };
  }
}

/** A TCP connection to address:port within the timeout; refused, timed out and unreachable told apart. */
export async function checkTcp(address: string, port: number, timeoutMs: number): Promise<Finding> {
  const started = performance.now();
  try {
    const socket = await openSocket(address, port, timeoutMs);
    socket.destroy();
    return { check: 'tcp', status: 'ok', message: `connected to ${address}:${port} in ${(performance.now() - started).toFixed(1)} ms` };
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ECONNREFUSED') {
      return {
        check: 'tcp',
        status: 'fail',
        message: `connection refused by ${address}:${port}: nothing is listening on that port`,
        hint: 'check the port (PostgreSQL 5432, MySQL 3306) and that the server runs and listens on this address (listen_addresses, bind-address)',
      };
    }
    if (code === 'ETIMEDOUT') {
      return {
        check: 'tcp',
        status: 'fail',
        message: `no answer from ${address}:${port} within ${timeoutMs} ms: the connection is dropped on the way (firewall, security group) or the address is not reachable from here`,
        hint: "admit this machine's address (for a broker in the cloud, its outbound CIDR) in the database's security group or firewall, and check the VPC peering or routing",
      };
    }
    return {
      check: 'tcp',
      status: 'fail',
      message: `cannot reach ${address}:${port} (${code ?? 'error'}): no route to that network from here`,
      hint: 'check the address, the routing and VPC peering between this machine and the database',
    };
  }
}

/**
 * Negotiates TLS as the engine does on a fresh connection and reports the certificate, or names
 * what went wrong: the server offers no TLS, or the certificate fails verification (and why).
 */
export async function checkTls(engine: 'postgres' | 'mysql', host: string, address: string, port: number, wish: TlsWish, timeoutMs: number): Promise<Finding> {
  if (wish.mode === 'off') {
    return { check: 'tls', status: 'skip', message: `not requested (${wish.from}): traffic to the database is not encrypted` };
  }
  let socket: Socket;
  try {
    socket = await openSocket(address, port, timeoutMs);
  } catch (err) {
    return { check: 'tls', status: 'fail', message: `could not reconnect for the TLS check (${errorCode(err) ?? 'error'})` };
  }
  try {
    const offered = await withTimeout(engine === 'postgres' ? askPostgresTls(socket) : askMysqlTls(socket), timeoutMs, 'ETIMEDOUT');
    if (!offered) {
      socket.destroy();
      if (wish.mode === 'prefer') {
        return { check: 'tls', status: 'warn', message: `the server does not accept TLS; with ${wish.from} the driver falls back to an unencrypted connection`, hint: 'enable TLS on the server (ssl = on) or say sslmode=disable to make the choice explicit' };
      }
      return {
        check: 'tls',
        status: 'fail',
        message: `${wish.from} asks for TLS but the server does not accept TLS connections`,
        hint: wish.dbForm
          ? 'RDS Proxy always accepts TLS: check that DB_HOST and DB_PORT name the proxy endpoint; for a server of your own, turn its TLS on, or set DB_TLS=off'
          : engine === 'postgres' ? 'turn on ssl in postgresql.conf (with ssl_cert_file and ssl_key_file), or drop sslmode from DATABASE_URL' : 'configure ssl_cert and ssl_key on the server, or drop ssl from DATABASE_URL',
      };
    }
    const verify = wish.mode === 'verify';
    const secured = await handshake(socket, host, verify, wish.ca, timeoutMs);
    const cert = secured.getPeerCertificate();
    const protocol = secured.getProtocol() ?? 'TLS';
    secured.destroy();
    const about = describeCert(cert);
    if (verify) return { check: 'tls', status: 'ok', message: `${protocol}, certificate verified for ${host} (${about})` };
    return { check: 'tls', status: 'ok', message: `${protocol}, encrypted; the certificate is not checked with ${wish.from} (${about})` };
  } catch (err) {
    socket.destroy();
    // MySQL refuses some clients in its greeting (host not allowed, too many connections): the login check names it.
    if (errorCode(err) === 'MYSQL_REFUSED') return { check: 'tls', status: 'skip', message: 'the server refused this connection before TLS could start (see the login check)' };
    return { check: 'tls', status: 'fail', ...certProblem(err, host, wish) };
  }
}

function describeCert(cert: PeerCertificate): string {
  const subject = cert.subject?.CN ?? 'no CN';
  const issuer = cert.issuer?.CN ?? cert.issuer?.O ?? 'unknown issuer';
  return `subject ${subject}, issuer ${issuer}, valid until ${cert.valid_to}`;
}

function certProblem(err: unknown, host: string, wish: TlsWish): { message: string; hint: string } {
  const code = errorCode(err);
  const trust = wish.dbForm
    ? wish.ca === undefined
      ? 'set DB_CA_FILE to the PEM file of the CA that signed the server certificate (e.g. the RDS global bundle for a direct RDS endpoint)'
      : 'check that DB_CA_FILE holds the CA that signed the server certificate'
    : wish.ca === undefined ? 'give the CA certificate (PostgreSQL: sslrootcert=/path/ca.pem in the URL; MySQL: ssl={"ca":"..."}), e.g. the RDS global bundle' : 'check that the CA file named in the URL is the one that signed the server certificate';
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return { message: 'the server certificate is self-signed, so it cannot be verified', hint: `${trust}, or use ${wish.dbForm ? 'DB_TLS' : 'sslmode'}=require to encrypt without verifying` };
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return { message: `the server certificate is signed by a certificate authority this machine does not trust (${code})`, hint: trust };
    case 'CERT_HAS_EXPIRED':
      return { message: 'the server certificate has expired', hint: 'renew the server certificate (RDS: rotate the CA in the console)' };
    case 'CERT_NOT_YET_VALID':
      return { message: 'the server certificate is not valid yet (check the clocks)', hint: 'check the time on this machine and on the server' };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { message: `the server certificate does not name the host ${host}`, hint: 'connect by the name the certificate carries (the RDS endpoint name, not an IP or a CNAME)' };
    case 'ETIMEDOUT':
      return { message: 'the TLS negotiation got no answer in time', hint: 'check that the port is the database server itself, not a proxy that drops TLS' };
    default:
      return { message: `the TLS handshake failed (${code ?? (err instanceof Error ? err.message : 'error')})`, hint: `check the server's TLS configuration and ${wish.dbForm ? 'DB_TLS / DB_CA_FILE' : "the URL's TLS options"}` };
  }
}

function openSocket(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
    socket.connect(port, address, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // A reset after the check has its answer is no finding (and must not crash the process).
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

function readBytes(socket: Socket, count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= count) {
        cleanup();
        socket.pause();
        resolve(got);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(Object.assign(new Error('closed by the server'), { code: 'ECONNRESET' }));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
    socket.resume();
  });
}

/** PostgreSQL: SSLRequest (length 8, code 80877103); the server answers one byte, S or N. */
async function askPostgresTls(socket: Socket): Promise<boolean> {
  const request = Buffer.alloc(8);
  request.writeInt32BE(8, 0);
  request.writeInt32BE(80877103, 4);
  socket.write(request);
  const answer = await readBytes(socket, 1);
  return answer[0] === 0x53;
}

const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SSL = 0x800;
const CLIENT_SECURE_CONNECTION = 0x8000;

/**
 * MySQL: the server's greeting carries its capability flags; when CLIENT_SSL is among them, the
 * client sends the short SSL request packet and the TLS handshake follows on the same socket.
 */
async function askMysqlTls(socket: Socket): Promise<boolean> {
  const header = await readBytes(socket, 4);
  const length = header.readUIntLE(0, 3);
  const packet = header.length >= 4 + length ? header.subarray(4, 4 + length) : Buffer.concat([header.subarray(4), await readBytes(socket, 4 + length - header.length)]);
  if (packet[0] === 0xff) throw Object.assign(new Error(`server refused the connection: ${packet.subarray(3).toString('utf8')}`), { code: 'MYSQL_REFUSED' });
  const versionEnd = packet.indexOf(0, 1);
  // protocol version, server version\0, thread id (4), auth data (8), filler (1), capability flags (2)
  const flags = packet.readUInt16LE(versionEnd + 1 + 4 + 8 + 1);
  if ((flags & CLIENT_SSL) === 0) return false;
  const request = Buffer.alloc(4 + 32);
  request.writeUIntLE(32, 0, 3);
  request[3] = 1;
  request.writeUInt32LE(CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION, 4);
  request.writeUInt32LE(16 * 1024 * 1024, 8);
  request[12] = 45; // utf8mb4
  socket.write(request);
  return true;
}

function handshake(socket: Socket, host: string, verify: boolean, ca: string | string[] | undefined, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const servername = isIP(host) === 0 ? host : undefined;
    const secured = tlsConnect({ socket, rejectUnauthorized: verify, ...(servername === undefined ? {} : { servername }), ...(ca === undefined ? {} : { ca }) });
    const timer = setTimeout(() => {
      secured.destroy();
      reject(Object.assign(new Error('TLS handshake timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    secured.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(secured);
    });
    secured.once('error', (err) => {
      clearTimeout(timer);
      secured.destroy();
      reject(err);
    });
  });
}

function withTimeout<T>(work: Promise<T>, ms: number, code: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code })), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
