import type { AuthnOutcome } from '../authn.js';
import type { AuthzOutcome } from '../authz.js';
import type { AclRequest, AuthnRequest } from '../types.js';

/**
 * One source of users and rules in the chain set by `SOURCES` (built-in store, the operator's SQL,
 * the operator's HTTP service). A source answers as one EMQX authenticator/authorizer does:
 * `ignore` when it does not know the client or no rule matched, so the next source is asked; a
 * backend failure answers that source's failure policy (never allow).
 */
export interface Source {
  readonly name: 'builtin' | 'sql' | 'http';
  authenticate(req: AuthnRequest): Promise<AuthnOutcome>;
  /** `ignore` when no rule matched: the chain applies AUTHZ_NO_MATCH after its last source. */
  authorize(req: AclRequest): Promise<AuthzOutcome>;
}
