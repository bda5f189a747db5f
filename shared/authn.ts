import { verifyPassword, type HashConfig } from './hash.js';
import type { Logger } from './log.js';
import { lookup } from './lookup.js';
import type { SqlStore } from './db/port.js';
import { checkSuperuser, toBool } from './superuser.js';
import type { SqlTemplate } from './template.js';
import type { AuthnRequest, AuthnResult, OutcomeDetail } from './types.js';

export interface AuthnDeps {
  readonly store: SqlStore;
  readonly query: SqlTemplate;
  readonly hash: HashConfig;
  readonly onBackendFailure: 'ignore' | 'deny';
  readonly log: Logger;
  /** SUPERUSER_QUERY: when set, it (not AUTHN_QUERY's `is_superuser`) says who is a superuser. */
  readonly superuserQuery?: SqlTemplate;
}

/**
 * A decision plus why, for the log line (the reason never contains a secret), and what decided it:
 * the user row and algorithm once the hasher ran, or that the failure policy answered.
 */
export type AuthnOutcome = AuthnResult & { readonly reason: string; readonly detail?: OutcomeDetail };

/**
 * EMQX 5's SQL authenticator: no row → ignore; first row's `password_hash` (else `password`),
 * `salt` (NULL → '') and `is_superuser`; wrong password → deny. A backend failure answers the
 * operator's policy; nothing but a verified password ever answers allow.
 */
export async function authenticate(deps: AuthnDeps, req: AuthnRequest): Promise<AuthnOutcome> {
  const found = await lookup(deps, req, 'authentication');
  if ('failed' in found) return { result: deps.onBackendFailure, reason: found.failed, detail: { failure: true } };
  const row = found.rows[0];
  if (row === undefined) return { result: 'ignore', reason: 'no such user' };
  const stored = 'password_hash' in row ? row['password_hash'] : row['password'];
  if (typeof stored !== 'string' && !Buffer.isBuffer(stored)) {
    deps.log.warn({ clientid: req.clientid }, 'authentication query returned no password_hash or password column: denied');
    return { result: 'deny', reason: 'query returned no password_hash (or password) text column' };
  }
  const salt = row['salt'];
  const saltText = typeof salt === 'string' ? salt : Buffer.isBuffer(salt) ? salt.toString('utf8') : '';
  const check = await verifyPassword(deps.hash, req.password ?? '', stored.toString(), saltText);
  const detail = { row: 0, algorithm: deps.hash.name };
  if ('malformed' in check) {
    deps.log.warn({ clientid: req.clientid, problem: check.malformed, algorithm: deps.hash.name }, 'malformed stored hash: denied');
    return { result: 'deny', reason: `malformed stored hash: ${check.malformed}`, detail };
  }
  if (!check.ok) return { result: 'deny', reason: 'wrong password', detail };
  if (deps.superuserQuery === undefined) return { result: 'allow', is_superuser: toBool(row['is_superuser']), reason: 'password verified', detail };
  // EMQX 4 runs super_query after a successful check; its failure only means "not a superuser".
  const superuser = await checkSuperuser(deps, req);
  return { result: 'allow', is_superuser: superuser.yes, reason: `password verified; ${superuser.reason}`, detail };
}
