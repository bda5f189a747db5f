import type { Acc } from './http/mosquitto.js';
import type { RabbitAclRequest, RabbitAnswer } from './http/rabbitmq.js';
import type { VerneAnswer } from './http/vernemq.js';
import type { Chain, Trace } from './sources/chain.js';
import type { AclAction, AclRequest, AuthnRequest, ClientInfo } from './types.js';

/**
 * The other brokers' questions, answered by the one authenticator and the one authorizer: each
 * function only translates the question in and the EMQX-style verdict out. A verdict other than
 * allow (deny, ignore, a backend failure by its policy) never becomes an allow.
 */

export interface Verdict<A> {
  readonly answer: A;
  readonly reason: string;
  /** How the chain decided (absent when no source was asked), for x-auth-explain. */
  readonly traces?: readonly Trace[];
}

// --- RabbitMQ -------------------------------------------------------------------------------

/** `/rabbitmq/user`: allow (superuser: `allow administrator`) or deny; RabbitMQ has no ignore. */
export async function rabbitUser(chain: Chain, client: AuthnRequest): Promise<Verdict<RabbitAnswer>> {
  const { outcome: o, trace } = await chain.authenticate(client);
  if (o.result === 'allow') return { answer: o.is_superuser ? 'allow administrator' : 'allow', reason: o.reason, traces: [trace] };
  return { answer: 'deny', reason: `${o.result}: ${o.reason}`, traces: [trace] };
}

/** The exchange RabbitMQ's MQTT plugin publishes to (its `mqtt.exchange` default). */
export const MQTT_EXCHANGE = 'amq.topic';

/**
 * `/rabbitmq/resource`: what an MQTT connection needs and nothing more — read and write on the
 * MQTT exchange, and the client's own subscription and will queues. Everything else is denied.
 */
export function rabbitResource(req: RabbitAclRequest & { kind: 'resource' }): Verdict<RabbitAnswer> {
  if (req.resource === 'exchange') {
    const ok = req.name === MQTT_EXCHANGE && req.permission !== 'configure';
    return { answer: ok ? 'allow' : 'deny', reason: ok ? 'the MQTT exchange' : `exchange ${req.name} ${req.permission} is not an MQTT operation` };
  }
  const id = req.clientid;
  const own = id !== undefined && (/^mqtt-subscription-(.*)qos[012]$/.exec(req.name)?.[1] === id || req.name === `mqtt-will-${id}`);
  return { answer: own ? 'allow' : 'deny', reason: own ? "the client's own MQTT queue" : `queue ${req.name} is not this client's MQTT queue` };
}

/**
 * `/rabbitmq/topic`: the routing key, mapped back to MQTT, judged by the rules. Superusers skip
 * the rules as in EMQX, but the `administrator` tag alone does not make one: RabbitMQ sends the
 * tags of whichever backend authenticated the user (its internal `guest` is an administrator), so
 * the tag only prompts the chain's own superuser check.
 */
export async function rabbitTopic(chain: Chain, req: RabbitAclRequest & { kind: 'topic' }): Promise<Verdict<RabbitAnswer>> {
  const traces: Trace[] = [];
  if (req.tags.includes('administrator')) {
    const { topic: _topic, action: _action, qos: _qos, retain: _retain, ...client } = req.acl;
    const { outcome: su, trace } = await chain.superuser(client);
    traces.push(trace);
    if (su.is_superuser) return { answer: 'allow', reason: `superuser (administrator tag): ${su.reason}`, traces };
  }
  const { outcome: o, trace } = await chain.authorize(req.acl);
  traces.push(trace);
  return { answer: o.result === 'allow' ? 'allow' : 'deny', reason: `${o.result}: ${o.reason}`, traces };
}

// --- mosquitto-go-auth ----------------------------------------------------------------------

export async function mosquittoUser(chain: Chain, client: AuthnRequest): Promise<Verdict<boolean>> {
  const { outcome: o, trace } = await chain.authenticate(client);
  return { answer: o.result === 'allow', reason: `${o.result}: ${o.reason}`, traces: [trace] };
}

/**
 * Is this user a superuser? Asked without a password: the first source that knows the user
 * answers (for SQL, the authentication query's first row's `is_superuser`); no such user, a query
 * that needs the password, or a backend failure all answer no.
 */
export async function superuserOf(chain: Chain, client: ClientInfo): Promise<Verdict<boolean>> {
  const { outcome, trace } = await chain.superuser(client);
  return { answer: outcome.is_superuser, reason: outcome.reason, traces: [trace] };
}

const ACC: Record<Acc, readonly AclAction[]> = { 1: ['subscribe'], 2: ['publish'], 3: ['subscribe', 'publish'], 4: ['subscribe'] };

/**
 * `/mosquitto/acl`. Read (1, a message about to be delivered) is judged as a subscription to that
 * topic, write (2) as a publish, subscribe (4) as a subscription; read-write (3) needs both, judged
 * over one read of the rules. The reason and the traces stop at the first action not allowed.
 */
export async function mosquittoAcl(chain: Chain, client: ClientInfo, topic: string, acc: Acc): Promise<Verdict<boolean>> {
  const decided = await chain.authorizeMany(ACC[acc].map((action) => ({ ...client, topic, action })));
  const traces: Trace[] = [];
  for (const [i, action] of ACC[acc].entries()) {
    const { outcome: o, trace } = decided[i]!;
    traces.push(trace);
    if (o.result !== 'allow') return { answer: false, reason: `${action} ${o.result}: ${o.reason}`, traces };
  }
  return { answer: true, reason: 'allowed', traces };
}

// --- VerneMQ --------------------------------------------------------------------------------

const verne = (result: 'allow' | 'deny' | 'ignore', reason: string, trace: Trace): Verdict<VerneAnswer> => ({
  answer: result === 'allow' ? { result: 'ok' } : result === 'ignore' ? { result: 'next' } : { error: 'not_allowed' },
  reason: `${result}: ${reason}`,
  traces: [trace],
});

export async function verneRegister(chain: Chain, client: AuthnRequest): Promise<Verdict<VerneAnswer>> {
  const { outcome: o, trace } = await chain.authenticate(client);
  return verne(o.result, o.reason, trace);
}

export async function vernePublish(chain: Chain, req: AclRequest): Promise<Verdict<VerneAnswer>> {
  const { outcome: o, trace } = await chain.authorize(req);
  return verne(o.result, o.reason, trace);
}

/**
 * `auth_on_subscribe`: each filter judged on its own, all over one read of the client's rules (per
 * source that can; the HTTP source is asked per filter). All allowed → ok; all ignored → next;
 * otherwise ok with the list rewritten so each filter not allowed gets QoS 128 (MQTT 5: 135),
 * which rejects that filter alone — or an error when none is allowed.
 */
export async function verneSubscribe(chain: Chain, client: ClientInfo, topics: ReadonlyArray<{ topic: string; qos: 0 | 1 | 2 }>, v5: boolean): Promise<Verdict<VerneAnswer>> {
  const decided = await chain.authorizeMany(topics.map((t) => ({ ...client, topic: t.topic, action: 'subscribe' as const, qos: t.qos })));
  const results = decided.map((d) => d.outcome.result);
  const traces = decided.map((d) => d.trace);
  const reason = results.join(',');
  if (results.every((r) => r === 'allow')) return { answer: { result: 'ok' }, reason, traces };
  if (results.every((r) => r === 'ignore')) return { answer: { result: 'next' }, reason, traces };
  if (!results.includes('allow')) return { answer: { error: 'not_allowed' }, reason, traces };
  const rejected = v5 ? 135 : 128;
  return { answer: { result: 'ok', v5, topics: topics.map((t, i) => ({ topic: t.topic, qos: results[i] === 'allow' ? t.qos : rejected })) }, reason, traces };
}
