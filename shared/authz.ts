import type { Logger } from './log.js';
import { lookup } from './lookup.js';
import type { SqlStore } from './db/port.js';
import { effectiveTopic, evaluate, parseAnyRow, type LegacyOrder, type Rule, type RowShape } from './rules.js';
import type { SqlTemplate } from './template.js';
import type { AclRequest, AclResult, OutcomeDetail, Row } from './types.js';

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

/** A decision plus why, and what decided it: the matching row, or that the failure policy answered. */
export type AuthzOutcome = AclResult & { readonly reason: string; readonly detail?: OutcomeDetail };

/**
 * EMQX's SQL authorizer with this project's stricter subscription rule. The rows' shape decides
 * their reading: EMQX 5 rows in returned order, EMQX 4 rows last first (or top-down by setting).
 * A query failure or an invalid row answers the failure policy (deny by default); under `ignore`
 * invalid rows are skipped, and if then no row matches the answer is still that ignore. No match
 * answers AUTHZ_NO_MATCH.
 */
export async function authorize(deps: AuthzDeps, req: AclRequest): Promise<AuthzOutcome> {
  const [judged] = await authorizeMany(deps, [req]);
  return judged!.outcome;
}

/** One request's outcome and the rows it was judged over (none when no query ran for it). */
export interface Judged {
  readonly outcome: AuthzOutcome;
  readonly rows: readonly Row[];
}

/**
 * {@link authorize} for several requests at once (a VerneMQ subscribe's filters, go-auth's
 * read-write): requests whose statement binds the same values share one query, and each is judged
 * over those rows by the one evaluator, answering exactly as {@link authorize} would alone. The
 * AUTHZ_QUERY context admits only client placeholders, so one client's requests share a query; a
 * template binding a per-request value would simply get a query per distinct binding.
 */
export async function authorizeMany(deps: AuthzDeps, reqs: readonly AclRequest[]): Promise<Judged[]> {
  const out: Judged[] = new Array<Judged>(reqs.length);
  const groups = new Map<string, Array<{ index: number; req: AclRequest; topic: string }>>();
  for (const [index, req] of reqs.entries()) {
    const topic = effectiveTopic(req);
    if (topic === undefined) {
      out[index] = { outcome: { result: 'deny', reason: `invalid ${req.action === 'publish' ? 'topic name' : 'topic filter'}` }, rows: [] };
      continue;
    }
    const key = JSON.stringify(deps.query.bind(req));
    const group = groups.get(key) ?? [];
    group.push({ index, req, topic });
    groups.set(key, group);
  }
  for (const group of groups.values()) {
    const found = await lookup(deps, group[0]!.req, 'authorization');
    if ('failed' in found) {
      for (const { index } of group) out[index] = { outcome: { result: deps.onBackendFailure, reason: found.failed, detail: { failure: true } }, rows: [] };
      continue;
    }
    const read = readRules(deps, found.rows);
    for (const { index, req, topic } of group) out[index] = { outcome: 'denied' in read ? read.denied : judge(deps, read, req, topic), rows: found.rows };
  }
  return out;
}

interface ReadRules {
  readonly rules: readonly Rule[];
  /** The row each rule came from. */
  readonly rowOf: readonly number[];
  /** The first invalid row skipped under the failure policy ignore. */
  readonly skipped: number | undefined;
}

/** One query's rows as rules in judging order, or the failure policy's deny for an invalid row. */
function readRules(deps: AuthzDeps, rows: readonly Row[]): ReadRules | { readonly denied: AuthzOutcome } {
  let skipped: number | undefined;
  const ordered = orderedRules(deps, rows, (index, problem) => {
    deps.log.warn({ row: index, problem, policy: deps.onBackendFailure }, 'invalid ACL row');
    if (deps.onBackendFailure === 'deny') return 'stop';
    skipped ??= index;
    return 'skip';
  });
  if ('stopped' in ordered) return { denied: { result: 'deny', reason: `invalid ACL row ${ordered.stopped.index}: ${ordered.stopped.problem}`, detail: { failure: true } } };
  return { ...ordered, skipped };
}

/** One query's rules in judging order, each with the row it came from, or the invalid row that stopped the reading. */
export type OrderedRules =
  | { readonly rules: readonly Rule[]; readonly rowOf: readonly number[] }
  | { readonly stopped: { readonly index: number; readonly problem: string } };

/**
 * Parses one query's rows (ACL_ROW_SHAPE) into rules in judging order: EMQX 5 rows as returned,
 * EMQX 4 rows last first unless LEGACY_ROW_ORDER says top-down. A row that matches nobody is
 * logged; an invalid row goes to `onInvalid`, which skips it or stops the reading there. Shared
 * by {@link authorize} and the connect-time ACL, so both read the rows alike.
 */
export function orderedRules(
  deps: Pick<AuthzDeps, 'log' | 'rowShape' | 'legacyOrder'>,
  rows: readonly Row[],
  onInvalid: (index: number, problem: string) => 'stop' | 'skip',
): OrderedRules {
  const rules: Rule[] = [];
  const rowOf: number[] = [];
  let legacy = false;
  for (const [index, row] of rows.entries()) {
    const parsed = parseAnyRow(row, deps.rowShape ?? 'auto');
    if ('rule' in parsed) {
      if (parsed.warning !== undefined) deps.log.warn({ row: index, problem: parsed.warning }, 'ACL row matches nobody');
      legacy ||= parsed.shape === 'legacy';
      rules.push(parsed.rule);
      rowOf.push(index);
      continue;
    }
    if (onInvalid(index, parsed.invalid) === 'stop') return { stopped: { index, problem: parsed.invalid } };
  }
  // One query's rows share their columns, hence their shape.
  if (legacy && (deps.legacyOrder ?? 'last-first') === 'last-first') {
    rules.reverse();
    rowOf.reverse();
  }
  return { rules, rowOf };
}

function judge(deps: AuthzDeps, read: ReadRules, req: AclRequest, topic: string): AuthzOutcome {
  const outcome = evaluate(read.rules, req, topic);
  if (outcome.decision === 'nomatch') {
    // A skipped row may have been the deny meant for this request: no match is then the failure
    // policy's ignore, never AUTHZ_NO_MATCH (which may be allow), as for a failed query.
    if (read.skipped !== undefined) return { result: deps.onBackendFailure, reason: `invalid ACL row ${read.skipped} skipped and no other row matched`, detail: { failure: true } };
    return { result: deps.noMatch, reason: 'no rule matched' };
  }
  const row = read.rowOf[outcome.index]!;
  return { result: outcome.decision, reason: `row ${row} matched`, detail: { row } };
}
