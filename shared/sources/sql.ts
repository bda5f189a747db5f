import { authenticate, type AuthnDeps } from '../authn.js';
import { authorize, type AuthzDeps } from '../authz.js';
import { connectAcl } from '../connectacl.js';
import { lookup } from '../lookup.js';
import { toBool } from '../superuser.js';
import type { Source, SourceAuthn, SourceAuthz, SuperuserAnswer } from './port.js';

/** Reasons the SQL authenticator gives once it has read a user row and run the hasher. */
const HASHED = /^(password verified|wrong password|malformed stored hash)/;
const MATCHED = /^row (\d+) matched$/;
const FAILED = /^(backend failure: |invalid ACL row )/;

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
      const o = await authenticate(deps, req);
      if (FAILED.test(o.reason)) return { ...o, detail: { failure: true } };
      return HASHED.test(o.reason) ? { ...o, detail: { row: 0, algorithm: deps.hash.name } } : o;
    },
    async authorize(req): Promise<SourceAuthz> {
      const o = await authorize(await authz(), req);
      const row = MATCHED.exec(o.reason)?.[1];
      if (row !== undefined) return { ...o, detail: { row: Number(row) } };
      return FAILED.test(o.reason) ? { ...o, detail: { failure: true } } : o;
    },
    async superuser(client): Promise<SuperuserAnswer> {
      const found = await lookup(await authn(), client, 'authentication');
      if ('failed' in found) return { known: false, reason: found.failed };
      const row = found.rows[0];
      if (row === undefined) return { known: false, reason: 'no such user' };
      const yes = toBool(row['is_superuser']);
      return { known: true, is_superuser: yes, reason: yes ? 'is_superuser' : 'not a superuser' };
    },
    connectAcl: async (client) => connectAcl(await authz(), client),
  };
}
