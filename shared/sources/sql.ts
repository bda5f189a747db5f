import { authenticate, type AuthnDeps, type AuthnOutcome } from '../authn.js';
import { authorize, authorizeMany, type AuthzDeps, type AuthzOutcome } from '../authz.js';
import { connectAcl } from '../connectacl.js';
import { checkSuperuser, type SuperuserAnswer as SuperuserCheck } from '../superuser.js';
import type { Source, SourceAuthn, SourceAuthz, SuperuserAnswer } from './port.js';

/** Reasons the SQL authenticator and authorizer give (optionally after a source's prefix). */
const HASHED = /^([a-z-]+: )?(password verified|wrong password|malformed stored hash)/;
const MATCHED = /^([a-z-]+: )?row (\d+) matched$/;
const FAILED = /^([a-z-]+: )?(backend failure: |invalid ACL row )/;

/**
 * What explain needs, read from the outcome of the one SQL authenticator/authorizer: the user row
 * and algorithm once the hasher ran, the matching ACL row, or that the failure policy answered.
 */
export function authnDetail(o: AuthnOutcome, algorithm: string): SourceAuthn {
  if (FAILED.test(o.reason)) return { ...o, detail: { failure: true } };
  return HASHED.test(o.reason) ? { ...o, detail: { row: 0, algorithm } } : o;
}

export function authzDetail(o: AuthzOutcome): SourceAuthz {
  const row = MATCHED.exec(o.reason)?.[2];
  if (row !== undefined) return { ...o, detail: { row: Number(row) } };
  return FAILED.test(o.reason) ? { ...o, detail: { failure: true } } : o;
}

/**
 * A source's superuser answer from {@link checkSuperuser}. A backend failure under the source's
 * authentication policy `deny` stops the chain with "not a superuser", as that policy stops a
 * login: a later source must not make a superuser of someone this one could not look up. Under
 * `ignore` the next source answers.
 */
export function superuserAnswer(o: SuperuserCheck, policy: 'ignore' | 'deny', prefix = ''): SuperuserAnswer {
  if (o.known) return { known: true, is_superuser: o.yes, reason: `${prefix}${o.reason}` };
  if (policy === 'deny' && FAILED.test(o.reason)) return { known: true, is_superuser: false, reason: `${prefix}${o.reason}` };
  return { known: false, reason: `${prefix}${o.reason}` };
}

/**
 * The operator's own SQL templates (AUTHN_QUERY, AUTHZ_QUERY) as a chain source: EMQX 5's SQL
 * authenticator and authorizer, unchanged. Its failure policies are those in `deps`; its `ignore`
 * for authorization means "no row matched" (the chain applies AUTHZ_NO_MATCH at its end).
 */
export function sqlSource(authn: () => Promise<AuthnDeps>, authz: () => Promise<AuthzDeps>): Source {
  return {
    name: 'sql',
    async authenticate(req): Promise<SourceAuthn> {
      const deps = await authn();
      return authnDetail(await authenticate(deps, req), deps.hash.name);
    },
    async authorize(req): Promise<SourceAuthz> {
      return authzDetail(await authorize(await authz(), req));
    },
    async authorizeMany(reqs): Promise<SourceAuthz[]> {
      return (await authorizeMany(await authz(), reqs)).map((j) => authzDetail(j.outcome));
    },
    async superuser(client): Promise<SuperuserAnswer> {
      const deps = await authn();
      return superuserAnswer(await checkSuperuser(deps, client), deps.onBackendFailure);
    },
    connectAcl: async (client) => connectAcl(await authz(), client),
  };
}
