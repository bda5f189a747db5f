import { BlockList, isIP } from 'node:net';
import { renderTopic } from './template.js';
import { covers, isValidFilter, isValidName, matches, overlaps, stripShare } from './topic.js';
import type { AclRequest, AuthnRequest, Row } from './types.js';

/**
 * The one rule evaluator. Two row shapes: EMQX 5 rows (`permission, action, topic[, qos, retain]`),
 * judged in returned order, and EMQX 4 / Cloud v4 rows (`allow, ipaddr, username, clientid,
 * access, topic`), judged last row first as EMQX 4 does (or top-down by setting). First match wins.
 */

export type Permission = 'allow' | 'deny';
export interface Rule {
  readonly permission: Permission;
  readonly actions: ReadonlySet<'publish' | 'subscribe'>;
  /** `eq` rules compare the topic text exactly and are never rendered. */
  readonly topic: { readonly eq: true; readonly text: string } | { readonly eq: false; readonly template: string };
  /** Undefined: every QoS. */
  readonly qos?: ReadonlySet<number>;
  /** Undefined: any retain flag. Applies to publish only. */
  readonly retain?: boolean;
  /** EMQX 4 rows only: whom the row is for (EMQX 5 rows leave that to the query's WHERE). */
  readonly legacy?: { readonly who: Who };
}

/**
 * Whom an EMQX 4 row applies to: everyone (`username = '$all'`), nobody (every who-column NULL or
 * empty), or the clients matching every non-empty column (AND).
 */
export type Who =
  | { readonly kind: 'all' }
  | { readonly kind: 'nobody' }
  | { readonly kind: 'match'; readonly ipaddr?: BlockList; readonly username?: string; readonly clientid?: string };

/** `warning`: the row is valid but cannot do what it was likely written for (logged). */
export type ParsedRow = { readonly rule: Rule; readonly warning?: string } | { readonly invalid: string };

const ACTIONS: Record<string, ReadonlyArray<'publish' | 'subscribe'>> = {
  publish: ['publish'],
  pub: ['publish'],
  subscribe: ['subscribe'],
  sub: ['subscribe'],
  all: ['publish', 'subscribe'],
};

/** Reads one database row into a rule, or says why it is invalid. */
export function parseRow(row: Row): ParsedRow {
  const permission = text(row['permission']);
  if (permission !== 'allow' && permission !== 'deny') return { invalid: `permission must be allow or deny, got ${describe(row['permission'])}` };
  const action = text(row['action']);
  const actions = action === undefined ? undefined : ACTIONS[action];
  if (actions === undefined) return { invalid: `action must be publish, subscribe or all, got ${describe(row['action'])}` };
  const topic = parseRuleTopic(row['topic']);
  if ('invalid' in topic) return topic;
  const qos = parseQos(row['qos']);
  if (qos === 'invalid') return { invalid: `qos must be 0, 1, 2 or a list of them, got ${describe(row['qos'])}` };
  const retain = parseRetain(row['retain']);
  if (retain === 'invalid') return { invalid: `retain must be true, false, 1, 0 or all, got ${describe(row['retain'])}` };
  return {
    rule: {
      permission,
      actions: new Set(actions),
      topic,
      ...(qos === undefined ? {} : { qos }),
      ...(retain === undefined ? {} : { retain }),
    },
  };
}

/** The row shapes ACL_ROW_SHAPE names; `auto` reads each row's own columns. */
export type RowShape = 'auto' | 'emqx5' | 'legacy';
/** LEGACY_ROW_ORDER: EMQX 4 evaluates the returned rows last first; `top-down` reads them in order. */
export type LegacyOrder = 'last-first' | 'top-down';

/**
 * Which shape a row has: `permission`/`action` columns make an EMQX 5 row, `allow`/`access`
 * columns an EMQX 4 row. A row with both or neither cannot be told (under `auto`).
 */
export function shapeOf(row: Row, setting: RowShape): 'emqx5' | 'legacy' | { readonly invalid: string } {
  if (setting !== 'auto') return setting;
  const five = 'permission' in row || 'action' in row;
  const four = 'allow' in row || 'access' in row;
  if (five && !four) return 'emqx5';
  if (four && !five) return 'legacy';
  return { invalid: five ? 'the row has both permission/action and allow/access columns; set ACL_ROW_SHAPE' : 'the row has neither permission/action nor allow/access columns' };
}

/** Reads a row by its shape (see {@link shapeOf}). */
export function parseAnyRow(row: Row, setting: RowShape): ParsedRow & { readonly shape?: 'emqx5' | 'legacy' } {
  const shape = shapeOf(row, setting);
  if (typeof shape !== 'string') return shape;
  return { ...(shape === 'emqx5' ? parseRow(row) : parseLegacyRow(row)), shape };
}

const LEGACY_ACCESS: Record<number, ReadonlyArray<'publish' | 'subscribe'>> = { 1: ['subscribe'], 2: ['publish'], 3: ['subscribe', 'publish'] };

/**
 * Reads one EMQX 4 / Cloud v4 row (`allow, ipaddr, username, clientid, access, topic`, by name).
 * `allow` 1/0, `access` 1 subscribe, 2 publish, 3 both; `ipaddr` an address or CIDR. Only the exact
 * username `$all` is special. A row whose who-columns are all NULL or empty matches nobody (with a
 * warning) rather than failing the request, as EMQX 4 did.
 */
export function parseLegacyRow(row: Row): ParsedRow {
  const allow = legacyInt(row['allow']);
  if (allow !== 0 && allow !== 1) return { invalid: `allow must be 1 (allow) or 0 (deny), got ${describe(row['allow'])}` };
  const access = legacyInt(row['access']);
  const actions = access === undefined ? undefined : LEGACY_ACCESS[access];
  if (actions === undefined) return { invalid: `access must be 1 (subscribe), 2 (publish) or 3 (both), got ${describe(row['access'])}` };
  const topic = parseRuleTopic(row['topic']);
  if ('invalid' in topic) return topic;
  const who = legacyWho(row);
  if ('invalid' in who) return who;
  const rule: Rule = { permission: allow === 1 ? 'allow' : 'deny', actions: new Set(actions), topic, legacy: { who } };
  return who.kind === 'nobody' ? { rule, warning: 'ipaddr, username and clientid are all NULL: the row matches nobody (use username $all for everyone)' } : { rule };
}

function legacyWho(row: Row): Who | { readonly invalid: string } {
  const username = nonEmpty(text(row['username']));
  if (username === '$all') return { kind: 'all' };
  const clientid = nonEmpty(text(row['clientid']));
  const ip = nonEmpty(text(row['ipaddr']));
  const ipaddr = ip === undefined ? undefined : subnet(ip.trim());
  if (ipaddr === null) return { invalid: `ipaddr must be an IP address or CIDR, got ${describe(row['ipaddr'])}` };
  if (username === undefined && clientid === undefined && ipaddr === undefined) return { kind: 'nobody' };
  return { kind: 'match', ...(ipaddr === undefined ? {} : { ipaddr }), ...(username === undefined ? {} : { username }), ...(clientid === undefined ? {} : { clientid }) };
}

const subnets = new Map<string, BlockList | null>();

/** `10.59.1.100` (a /32), `192.168.1.0/24`, IPv6 likewise; null when malformed. Cached per text. */
function subnet(value: string): BlockList | null {
  const cached = subnets.get(value);
  if (cached !== undefined) return cached;
  const [address = '', prefix, extra] = value.split('/');
  const family = isIP(address);
  const bits = family === 4 ? 32 : 128;
  const length = prefix === undefined ? bits : /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  let list: BlockList | null = null;
  if (family !== 0 && extra === undefined && length >= 0 && length <= bits) {
    list = new BlockList();
    list.addSubnet(address, length, family === 4 ? 'ipv4' : 'ipv6');
  }
  if (subnets.size > 10_000) subnets.clear();
  subnets.set(value, list);
  return list;
}

/** Does the client fit an EMQX 4 row's who-columns? An IPv4-mapped IPv6 peer matches its IPv4 rule. */
export function whoMatches(who: Who, client: AuthnRequest): boolean {
  if (who.kind !== 'match') return who.kind === 'all';
  if (who.username !== undefined && client.username !== who.username) return false;
  if (who.clientid !== undefined && client.clientid !== who.clientid) return false;
  if (who.ipaddr !== undefined) {
    const peer = client.peerhost;
    const family = peer === undefined ? 0 : isIP(peer);
    if (peer === undefined || family === 0 || !who.ipaddr.check(peer, family === 4 ? 'ipv4' : 'ipv6')) return false;
  }
  return true;
}

/** An integer column as EMQX 4 reads it: an integer, or a string holding one; PostgreSQL booleans too. */
function legacyInt(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'bigint') return value >= -1n && value <= 3n ? Number(value) : undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  const s = text(value);
  return s !== undefined && /^[0-9]$/.test(s) ? Number(s) : undefined;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** A row's `topic` column, either form of row: `eq <topic>` exactly, else a filter template that must render valid. */
function parseRuleTopic(value: unknown): Rule['topic'] | { readonly invalid: string } {
  const topicText = text(value);
  if (topicText === undefined || topicText === '') return { invalid: 'topic is missing' };
  if (topicText.startsWith('eq ')) return { eq: true, text: topicText.slice(3) };
  const probe = renderTopic(topicText, { client_attrs: {} }, 'probe');
  if (probe === undefined || !isValidFilter(probe)) return { invalid: `topic ${describe(topicText)} is not a valid MQTT filter` };
  return { eq: false, template: topicText };
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  const s = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function parseQos(value: unknown): ReadonlySet<number> | undefined | 'invalid' {
  if (value === null || value === undefined) return undefined;
  let items: unknown[];
  if (Array.isArray(value)) items = value;
  else if (typeof value === 'number' || typeof value === 'bigint') items = [value];
  else if (typeof value === 'string') items = value.split(',').map((s) => s.trim());
  else return 'invalid';
  const set = new Set<number>();
  for (const item of items) {
    const n = typeof item === 'string' && /^[0-2]$/.test(item) ? Number(item) : typeof item === 'number' || typeof item === 'bigint' ? Number(item) : NaN;
    if (n !== 0 && n !== 1 && n !== 2) return 'invalid';
    set.add(n);
  }
  return set.size === 0 ? 'invalid' : set;
}

function parseRetain(value: unknown): boolean | undefined | 'invalid' {
  if (value === null || value === undefined || value === 'all') return undefined;
  if (value === true || value === 1 || value === '1' || value === 'true') return true;
  if (value === false || value === 0 || value === '0' || value === 'false') return false;
  if (typeof value === 'bigint') return value === 1n ? true : value === 0n ? false : 'invalid';
  return 'invalid';
}

/** The topic or filter the request is judged on, or undefined when it can never be allowed. */
export function effectiveTopic(req: AclRequest): string | undefined {
  if (req.action === 'publish') return isValidName(req.topic) ? req.topic : undefined;
  const filter = stripShare(req.topic);
  return filter !== undefined && isValidFilter(filter) ? filter : undefined;
}

/**
 * Does one rule decide this request? `topic` is the effective topic from {@link effectiveTopic}.
 * Where the request leaves a condition unknown (no qos or retain sent) or a placeholder cannot be
 * used, an allow rule does not apply and a deny rule does: doubt never opens a topic.
 */
export function ruleMatches(rule: Rule, req: AclRequest, topic: string): boolean {
  const deny = rule.permission === 'deny';
  if (!rule.actions.has(req.action)) return false;
  if (rule.legacy !== undefined && !whoMatches(rule.legacy.who, req)) return false;
  if (rule.qos !== undefined && (req.qos === undefined ? !deny : !rule.qos.has(req.qos))) return false;
  if (req.action === 'publish' && rule.retain !== undefined && (req.retain === undefined ? !deny : rule.retain !== req.retain)) return false;
  if (rule.topic.eq) return rule.topic.text === topic;
  const filter = ruleFilter(rule.permission, rule.topic.template, req);
  if (filter === undefined) return false;
  // A deny rule that a client's value made malformed (client id '#') still denies.
  if (!isValidFilter(filter)) return deny;
  // EMQX 4 lets a `#` or `+/…` rule reach `$` topics; a legacy deny rule keeps doing so, an allow never does.
  const judged = deny && rule.legacy !== undefined ? dollarBlind(filter, topic) : topic;
  if (req.action === 'publish') return matches(judged, filter);
  return deny ? overlaps(filter, judged) : covers(filter, judged);
}

/** The topic with a leading `$` level made ordinary, when the filter starts with a wildcard. */
function dollarBlind(filter: string, topic: string): string {
  return (filter.startsWith('+') || filter.startsWith('#')) && topic.startsWith('$') ? topic.replace(/^[^/]*/, 'x') : topic;
}

/**
 * The filter a non-`eq` rule stands for, for one client: allow rules render strictly (undefined when
 * a value is unset or could widen the rule), deny rules literally. The result of a deny rule may be
 * malformed (a client id '#'); such a rule denies everything it names.
 */
export function ruleFilter(permission: Permission, template: string, client: AuthnRequest): string | undefined {
  return renderTopic(template, client, permission === 'deny' ? 'literal' : 'strict');
}

export type Evaluation = { readonly decision: Permission; readonly index: number } | { readonly decision: 'nomatch' };

/** First matching rule wins. `topic` is the effective topic from {@link effectiveTopic}. */
export function evaluate(rules: readonly Rule[], req: AclRequest, topic: string): Evaluation {
  for (let i = 0; i < rules.length; i += 1) {
    const rule = rules[i]!;
    if (ruleMatches(rule, req, topic)) return { decision: rule.permission, index: i };
  }
  return { decision: 'nomatch' };
}
