import type { Logger } from './log.js';
import { lookup } from './lookup.js';
import type { SqlStore } from './db/port.js';
import { effectiveTopic, evaluate, parseAnyRow, type LegacyOrder, type Rule, type RowShape } from './rules.js';
import type { SqlTemplate } from './template.js';
import type { AclRequest, AclResult } from './types.js';

export interface AuthzDeps {
  readonly store: SqlStore;
  readonly query: SqlTemplate;
  readonly noMatch: 'allow' | 'deny' | 'ignore';
  readonly onBackendFailure: 'deny' | 'ignore';
  readonly log: Logger;
  /** ACL_ROW_SHAPE; `auto` when absent. */
  readonly rowShape?: RowShape;
  /** LEGACY_ROW_ORDER; `last-first` when absent. */
  readonly legacyOrder?: LegacyOrder;
}

export type AuthzOutcome = AclResult & { readonly reason: string };

/**
 * EMQX's SQL authorizer with this project's stricter subscription rule. The rows' shape decides
 * their reading: EMQX 5 rows in returned order, EMQX 4 rows last first (or top-down by setting).
 * A query failure or an invalid row answers the failure policy (deny by default); under `ignore`
 * invalid rows are skipped, and if then no row matches the answer is still that ignore. No match
 * answers AUTHZ_NO_MATCH.
 */
export async function authorize(deps: AuthzDeps, req: AclRequest): Promise<AuthzOutcome> {
  const topic = effectiveTopic(req);
  if (topic === undefined) return { result: 'deny', reason: `invalid ${req.action === 'publish' ? 'topic name' : 'topic filter'}` };
  const found = await lookup(deps, req, 'authorization');
  if ('failed' in found) return { result: deps.onBackendFailure, reason: found.failed };
  const rules: Rule[] = [];
  const rowOf: number[] = [];
  let legacy = false;
  let skipped: number | undefined;
  for (const [index, row] of found.rows.entries()) {
    const parsed = parseAnyRow(row, deps.rowShape ?? 'auto');
    if ('rule' in parsed) {
      if (parsed.warning !== undefined) deps.log.warn({ row: index, problem: parsed.warning }, 'ACL row matches nobody');
      legacy ||= parsed.shape === 'legacy';
      rules.push(parsed.rule);
      rowOf.push(index);
      continue;
    }
    deps.log.warn({ row: index, problem: parsed.invalid, policy: deps.onBackendFailure }, 'invalid ACL row');
    if (deps.onBackendFailure === 'deny') return { result: 'deny', reason: `invalid ACL row ${index}: ${parsed.invalid}` };
    skipped ??= index;
  }
  // One query's rows share their columns, hence their shape.
  if (legacy && (deps.legacyOrder ?? 'last-first') === 'last-first') {
    rules.reverse();
    rowOf.reverse();
  }
  const outcome = evaluate(rules, req, topic);
  if (outcome.decision === 'nomatch') {
    // A skipped row may have been the deny meant for this request: no match is then the failure
    // policy's ignore, never AUTHZ_NO_MATCH (which may be allow), as for a failed query.
    if (skipped !== undefined) return { result: deps.onBackendFailure, reason: `invalid ACL row ${skipped} skipped and no other row matched` };
    return { result: deps.noMatch, reason: 'no rule matched' };
  }
  return { result: outcome.decision, reason: `row ${rowOf[outcome.index]} matched` };
}
