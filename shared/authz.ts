import type { Logger } from './log.js';
import { lookup } from './lookup.js';
import type { SqlStore } from './db/port.js';
import { effectiveTopic, evaluate, parseRow, type Rule } from './rules.js';
import type { SqlTemplate } from './template.js';
import type { AclRequest, AclResult } from './types.js';

export interface AuthzDeps {
  readonly store: SqlStore;
  readonly query: SqlTemplate;
  readonly noMatch: 'allow' | 'deny' | 'ignore';
  readonly onBackendFailure: 'deny' | 'ignore';
  readonly log: Logger;
}

export type AuthzOutcome = AclResult & { readonly reason: string };

/**
 * EMQX 5's SQL authorizer with this project's stricter subscription rule. A query failure or an
 * invalid row answers the failure policy (deny by default); no match answers AUTHZ_NO_MATCH.
 */
export async function authorize(deps: AuthzDeps, req: AclRequest): Promise<AuthzOutcome> {
  const topic = effectiveTopic(req);
  if (topic === undefined) return { result: 'deny', reason: `invalid ${req.action === 'publish' ? 'topic name' : 'topic filter'}` };
  const found = await lookup(deps, req, 'authorization');
  if ('failed' in found) return { result: deps.onBackendFailure, reason: found.failed };
  const rules: Rule[] = [];
  const rowOf: number[] = [];
  for (const [index, row] of found.rows.entries()) {
    const parsed = parseRow(row);
    if ('rule' in parsed) {
      rules.push(parsed.rule);
      rowOf.push(index);
      continue;
    }
    deps.log.warn({ row: index, problem: parsed.invalid, policy: deps.onBackendFailure }, 'invalid ACL row');
    if (deps.onBackendFailure === 'deny') return { result: 'deny', reason: `invalid ACL row ${index}: ${parsed.invalid}` };
  }
  const outcome = evaluate(rules, req, topic);
  if (outcome.decision === 'nomatch') return { result: deps.noMatch, reason: 'no rule matched' };
  return { result: outcome.decision, reason: `row ${rowOf[outcome.index]} matched` };
}
