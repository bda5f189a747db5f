import { BackendError } from './errors.js';
import type { Logger } from './log.js';
import type { SqlStore } from './db/port.js';
import type { SqlTemplate } from './template.js';
import type { AuthnRequest, Row } from './types.js';

export interface LookupDeps {
  readonly store: SqlStore;
  readonly query: SqlTemplate;
  readonly onBackendFailure: string;
  readonly log: Logger;
}

/**
 * Runs the operator's query for one client. A backend failure is logged — with the server's own
 * text only when the statement binds no secret — and returned as a value, for the caller to
 * answer by its failure policy. Anything that is not a BackendError is a bug and propagates.
 */
export async function lookup(deps: LookupDeps, client: AuthnRequest, what: 'authentication' | 'authorization' | 'superuser check'): Promise<{ rows: Row[] } | { failed: string }> {
  try {
    return { rows: await deps.store.query(deps.query.text, deps.query.bind(client)) };
  } catch (err) {
    if (!(err instanceof BackendError)) throw err;
    const detail = deps.query.bindsSecret ? '(withheld: the statement binds a secret)' : err.detail;
    deps.log.warn({ clientid: client.clientid, problem: err.message, detail, policy: deps.onBackendFailure }, `${what} backend failure`);
    return { failed: `backend failure: ${err.message}` };
  }
}
