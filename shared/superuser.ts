import type { AuthnDeps } from './authn.js';
import { lookup } from './lookup.js';
import { placeholderValue } from './template.js';
import type { ClientInfo } from './types.js';

/**
 * EMQX 5's truthiness rule for `is_superuser` (`emqx_authn_utils:to_bool`): true, "true", an
 * integer ≥ 1 or a string holding one. Everything else is false. MySQL BIT(1) arrives here already
 * as a number (the mysql2 adapter converts it); PostgreSQL booleans as booleans.
 */
export function toBool(value: unknown): boolean {
  if (value === true) return true;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1;
  if (typeof value === 'bigint') return value >= 1n;
  if (typeof value === 'string') {
    if (value === 'true') return true;
    return /^[+-]?[0-9]+$/.test(value) && BigInt(value) >= 1n;
  }
  return false;
}

/**
 * EMQX 4's `super_query` reading: superuser only when the value is exactly the integer 1 (MySQL)
 * or the boolean true (PostgreSQL). `"1"`, 2, `"true"` and NULL are not.
 */
export function isLegacySuperuser(value: unknown): boolean {
  return value === true || value === 1 || value === 1n;
}

export interface SuperuserAnswer {
  readonly yes: boolean;
  /** Whether the query found the client at all (a chain asks its next source when not). */
  readonly known: boolean;
  readonly reason: string;
  /** True when the backend could not answer (the query failed). */
  readonly failure?: true;
}

/**
 * Is this client a superuser? With SUPERUSER_QUERY, EMQX 4's reading: exactly one row, whose
 * `is_superuser` column (else its first column) is 1 or true. Without it, AUTHN_QUERY runs with
 * the client's identity alone (no password) and the first row's `is_superuser` decides by EMQX 5's
 * rule. No row, a backend failure or a query that needs the password all answer no. A query that
 * binds the password, or a value this request lacks, cannot tell whether the client is this
 * source's user (the client may have logged in here with it): it answers a known no, so a chain
 * stops rather than let a later source make a superuser of the name.
 */
export async function checkSuperuser(deps: AuthnDeps, client: ClientInfo): Promise<SuperuserAnswer> {
  const query = deps.superuserQuery ?? deps.query;
  if (query.bindsSecret) return { yes: false, known: true, reason: 'the query binds a secret the check does not have: not a superuser' };
  const missing = query.params.find((name) => placeholderValue(client, name) === undefined);
  if (missing !== undefined) return { yes: false, known: true, reason: `no \${${missing}} to look up: not a superuser` };
  const found = await lookup({ ...deps, query, onBackendFailure: 'not a superuser' }, client, 'superuser check');
  if ('failed' in found) return { yes: false, known: false, reason: found.failed, failure: true };
  const row = found.rows[0];
  if (row === undefined) return { yes: false, known: false, reason: 'no such user' };
  let yes: boolean;
  if (deps.superuserQuery === undefined) yes = toBool(row['is_superuser']);
  else if (found.rows.length !== 1) return { yes: false, known: true, reason: `SUPERUSER_QUERY returned ${found.rows.length} rows, not one` };
  else yes = isLegacySuperuser('is_superuser' in row ? row['is_superuser'] : Object.values(row)[0]);
  return { yes, known: true, reason: yes ? 'is_superuser' : 'not a superuser' };
}
