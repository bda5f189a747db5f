import { orderedRules, type AuthzDeps } from './authz.js';
import type { AuthnOutcome } from './authn.js';
import type { Logger } from './log.js';
import { lookup } from './lookup.js';
import { ruleFilter, whoMatches, type Rule, type Who } from './rules.js';
import { isValidFilter } from './topic.js';
import type { AuthnRequest } from './types.js';

/**
 * Connect-time ACL for EMQX 5.8+: the client's rules, rendered for it, travel in the
 * authentication answer (`acl` + `expire_at`), so EMQX rarely has to ask /mqtt/acl.
 */

/** One rule in EMQX's `acl` format (emqx_authz_rule_raw). */
export interface EmqxAclRule {
  readonly permission: 'allow' | 'deny';
  readonly action: 'publish' | 'subscribe' | 'all';
  readonly topic: string;
  readonly qos?: number[];
  readonly retain?: boolean;
}

export type ConnectAcl = { readonly acl: EmqxAclRule[]; readonly dropped: number } | { readonly failed: string };

/**
 * Reads and renders one client's rules, in the order /mqtt/acl would judge them: EMQX 5 rows as
 * returned, EMQX 4 rows last first (LEGACY_ROW_ORDER), keeping only the EMQX 4 rows whose
 * who-columns fit this client. An allow rule that cannot apply to this client (a value unset or
 * one that would widen it) is dropped: our evaluator would never match it either. A rule that
 * cannot be sent exactly (an invalid row, a deny rule a client value made malformed, text EMQX
 * would render again) fails the whole list: a partial list could allow more.
 */
export async function connectAcl(deps: AuthzDeps, client: AuthnRequest): Promise<ConnectAcl> {
  // /mqtt/acl binds the address EMQX sends there; without one here the query could miss a deny row.
  if (client.peerhost === undefined && deps.query.params.includes('peerhost')) return { failed: 'AUTHZ_QUERY binds the peer address and the authentication request has no peerhost' };
  const found = await lookup(deps, client, 'authorization');
  if ('failed' in found) return found;
  const read = orderedRules(deps, found.rows, () => 'stop');
  if ('stopped' in read) return { failed: `invalid ACL row ${read.stopped.index}: ${read.stopped.problem}` };
  const acl: EmqxAclRule[] = [];
  let dropped = 0;
  // Actions of the EMQX 4 deny rules already sent whose filter starts with a wildcard: ours reach
  // `$` topics (as EMQX 4), EMQX 5's do not, so a later allow rule for a `$` topic could win there.
  const dollarBlind = new Set<'publish' | 'subscribe'>();
  for (const [i, rule] of read.rules.entries()) {
    const index = read.rowOf[i]!;
    const fits = rule.legacy === undefined ? 'yes' : fitsWho(rule.legacy.who, client);
    if (fits === 'no') continue;
    if (fits === 'unknown') {
      if (rule.permission === 'deny') return { failed: `ACL row ${index}: a deny row names an ipaddr and the authentication request has no peerhost` };
      dropped += 1;
      continue;
    }
    const converted = toEmqx(rule, client);
    if (converted === 'drop') dropped += 1;
    else if (typeof converted === 'string') return { failed: `ACL row ${index}: ${converted}` };
    else if (converted.permission === 'allow' && converted.topic.replace(/^eq /, '').startsWith('$') && [...rule.actions].some((a) => dollarBlind.has(a))) dropped += 1;
    else {
      if (rule.legacy !== undefined && converted.permission === 'deny' && /^[+#]/.test(converted.topic)) for (const a of rule.actions) dollarBlind.add(a);
      acl.push(converted);
    }
  }
  return { acl, dropped };
}

/**
 * Does an EMQX 4 row fit this client? `unknown` when only its ipaddr could tell and the
 * authentication request carried no peer address (EMQX sends one only when configured to).
 */
function fitsWho(who: Who, client: AuthnRequest): 'yes' | 'no' | 'unknown' {
  if (whoMatches(who, client)) return 'yes';
  if (who.kind !== 'match' || who.ipaddr === undefined || client.peerhost !== undefined) return 'no';
  const rest: Who = { kind: 'match', ...(who.username === undefined ? {} : { username: who.username }), ...(who.clientid === undefined ? {} : { clientid: who.clientid }) };
  return whoMatches(rest, client) ? 'unknown' : 'no';
}

function toEmqx(rule: Rule, client: AuthnRequest): EmqxAclRule | 'drop' | string {
  let topic: string;
  if (rule.topic.eq) topic = `eq ${rule.topic.text}`;
  else {
    const filter = ruleFilter(rule.permission, rule.topic.template, client);
    // EMQX renders `${…}` in acl topics itself: text that still holds one cannot be sent as is.
    const exact = filter !== undefined && isValidFilter(filter) && !filter.includes('${');
    if (!exact) return rule.permission === 'allow' ? 'drop' : 'a deny rule rendered for this client is not a plain MQTT filter';
    topic = filter;
  }
  const action = rule.actions.size === 2 ? 'all' : rule.actions.has('publish') ? 'publish' : 'subscribe';
  return {
    permission: rule.permission,
    action,
    topic,
    ...(rule.qos === undefined ? {} : { qos: [...rule.qos].sort() }),
    // EMQX takes a retain condition on publish rules only; ours never applies to a subscription.
    ...(rule.retain === undefined || action === 'subscribe' ? {} : { retain: rule.retain }),
  };
}

/** An authentication outcome, with the client's rules when they travel with it. */
export type AuthnAnswer = AuthnOutcome & { readonly acl?: EmqxAclRule[]; readonly expire_at?: number };

/**
 * Adds the connect-time ACL to an allow for a non-superuser (superusers skip authorization in
 * EMQX). When the rules cannot be read or sent exactly, AUTHZ_BACKEND_FAILURE decides: `deny`
 * (default) answers the login as an authentication backend failure (AUTHN_BACKEND_FAILURE), so
 * nobody gets in without their rules; `ignore` allows without `acl`, leaving every check to
 * /mqtt/acl. Never an allow with rules wider than the table's.
 */
export async function withConnectAcl(
  deps: AuthzDeps,
  opts: { readonly ttlS: number; readonly authnFailure: 'ignore' | 'deny'; readonly nowMs?: number },
  client: AuthnRequest,
  outcome: AuthnOutcome,
): Promise<AuthnAnswer> {
  if (outcome.result !== 'allow' || outcome.is_superuser) return outcome;
  return attachConnectAcl(await connectAcl(deps, client), { ...opts, authzFailure: deps.onBackendFailure, log: deps.log }, client, outcome);
}

/**
 * The answer for an allow once the client's rules are known (or not): `authzFailure` decides what a
 * failure to read them does, as in {@link withConnectAcl}. Shared with the chain of sources.
 */
export function attachConnectAcl(
  rules: ConnectAcl,
  opts: { readonly ttlS: number; readonly authnFailure: 'ignore' | 'deny'; readonly authzFailure: 'deny' | 'ignore'; readonly log: Logger; readonly nowMs?: number },
  client: AuthnRequest,
  outcome: AuthnOutcome,
): AuthnAnswer {
  if ('failed' in rules) {
    opts.log.warn({ clientid: client.clientid, problem: rules.failed, policy: opts.authzFailure }, 'connect-time ACL unavailable');
    if (opts.authzFailure === 'ignore') return { ...outcome, reason: `${outcome.reason}; no connect-time ACL (${rules.failed})` };
    return { result: opts.authnFailure, reason: `connect-time ACL unavailable: ${rules.failed}` };
  }
  const expireAt = Math.floor((opts.nowMs ?? Date.now()) / 1000) + opts.ttlS;
  const dropped = rules.dropped === 0 ? '' : `; ${rules.dropped} allow rule(s) dropped`;
  return { ...outcome, acl: rules.acl, expire_at: expireAt, reason: `${outcome.reason}; ${rules.acl.length} ACL rule(s)${dropped}` };
}
