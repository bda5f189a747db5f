import { authenticate, type AuthnDeps } from '../authn.js';
import { authorize, authorizeMany, type AuthzDeps } from '../authz.js';
import { connectAcl } from '../connectacl.js';
import { checkSuperuser, type SuperuserAnswer as SuperuserCheck } from '../superuser.js';
import type { Source, SourceAuthn, SourceAuthz, SuperuserAnswer } from './port.js';

/**
 * A source's superuser answer from {@link checkSuperuser}. A backend failure under the source's
 * authentication policy `deny` stops the chain with "not a superuser", as that policy stops a
 * login: a later source must not make a superuser of someone this one could not look up. Under
 * `ignore` the next source answers.
 */
export function superuserAnswer(o: SuperuserCheck, policy: 'ignore' | 'deny', prefix = ''): SuperuserAnswer {
  if (o.known) return { known: true, is_superuser: o.yes, reason: `${prefix}${o.reason}` };
  if (policy === 'deny' && o.failure === true) return { known: true, is_superuser: false, reason: `${prefix}${o.reason}` };
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
      return authenticate(await authn(), req);
    },
    async authorize(req): Promise<SourceAuthz> {
      return authorize(await authz(), req);
    },
    async authorizeMany(reqs): Promise<SourceAuthz[]> {
      return (await authorizeMany(await authz(), reqs)).map((j) => j.outcome);
    },
    async superuser(client): Promise<SuperuserAnswer> {
      const deps = await authn();
      return superuserAnswer(await checkSuperuser(deps, client), deps.onBackendFailure);
    },
    connectAcl: async (client) => connectAcl(await authz(), client),
  };
}
