import { renderTopic } from './template.js';
import { covers, isValidFilter, isValidName, matches, overlaps, stripShare } from './topic.js';
import type { AclRequest, AuthnRequest, Row } from './types.js';

/**
 * The one rule evaluator: EMQX 5 ACL rows (`permission, action, topic[, qos, retain]`) in
 * returned order, first match wins.
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
}

export type ParsedRow = { readonly rule: Rule } | { readonly invalid: string };

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
  const topicText = text(row['topic']);
  if (topicText === undefined || topicText === '') return { invalid: 'topic is missing' };
  const topic = topicText.startsWith('eq ') ? ({ eq: true, text: topicText.slice(3) } as const) : ({ eq: false, template: topicText } as const);
  if (!topic.eq) {
    const probe = renderTopic(topic.template, { client_attrs: {} }, 'probe');
    if (probe === undefined || !isValidFilter(probe)) return { invalid: `topic ${describe(topicText)} is not a valid MQTT filter` };
  }
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
  if (rule.qos !== undefined && (req.qos === undefined ? !deny : !rule.qos.has(req.qos))) return false;
  if (req.action === 'publish' && rule.retain !== undefined && (req.retain === undefined ? !deny : rule.retain !== req.retain)) return false;
  if (rule.topic.eq) return rule.topic.text === topic;
  const filter = ruleFilter(rule.permission, rule.topic.template, req);
  if (filter === undefined) return false;
  // A deny rule that a client's value made malformed (client id '#') still denies.
  if (!isValidFilter(filter)) return deny;
  if (req.action === 'publish') return matches(topic, filter);
  return deny ? overlaps(filter, topic) : covers(filter, topic);
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
