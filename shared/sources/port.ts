import type { AuthnOutcome } from '../authn.js';
import type { AuthzOutcome } from '../authz.js';
import type { ConnectAcl } from '../connectacl.js';
import type { AclRequest, AuthnRequest, ClientInfo, OutcomeDetail } from '../types.js';

export type SourceName = 'builtin' | 'sql' | 'http';

/** What a source may tell `explain` and the decision log beyond its outcome. */
export type SourceDetail = OutcomeDetail;

export type SourceAuthn = AuthnOutcome;
export type SourceAuthz = AuthzOutcome;

/** go-auth's superuser question: `unknown` lets the next source answer. */
export type SuperuserAnswer = { readonly known: false; readonly reason: string } | { readonly known: true; readonly is_superuser: boolean; readonly reason: string };

/**
 * One source of users and rules in the chain set by `SOURCES` (built-in store, the operator's SQL,
 * the operator's HTTP service). A source answers as one EMQX authenticator/authorizer does:
 * `ignore` when it does not know the client or no rule matched, so the next source is asked; a
 * backend failure answers that source's failure policy (never allow).
 */
export interface Source {
  readonly name: SourceName;
  authenticate(req: AuthnRequest): Promise<SourceAuthn>;
  /** `ignore` when no rule matched: the chain applies AUTHZ_NO_MATCH after its last source. */
  authorize(req: AclRequest): Promise<SourceAuthz>;
  /**
   * Several of one client's requests in one call (a VerneMQ subscribe's filters, go-auth's
   * read-write), answered in order exactly as `authorize` answers each, with fewer backend calls.
   * Absent: the chain asks `authorize` once per request.
   */
  authorizeMany?(reqs: readonly AclRequest[]): Promise<SourceAuthz[]>;
  /** Is this user a superuser, without a password (mosquitto-go-auth)? Absent: the source is skipped. */
  superuser?(client: ClientInfo): Promise<SuperuserAnswer>;
  /**
   * The client's rules in EMQX's `acl` form, in this source's order, for connect-time ACL. Absent:
   * the source's rules cannot travel with the login, so /mqtt/acl asks it.
   */
  connectAcl?(client: AuthnRequest): Promise<ConnectAcl>;
}
