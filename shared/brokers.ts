import { authenticate, type AuthnDeps } from './authn.js';
import { authorize, type AuthzDeps } from './authz.js';
import type { Acc } from './http/mosquitto.js';
import type { RabbitAclRequest, RabbitAnswer } from './http/rabbitmq.js';
import type { VerneAnswer } from './http/vernemq.js';
import { checkSuperuser } from './superuser.js';
import type { AclAction, AclRequest, AuthnRequest, ClientInfo } from './types.js';

/**
 * The other brokers' questions, answered by the one authenticator and the one authorizer: each
 * function only translates the question in and the EMQX-style verdict out. A verdict other than
 * allow (deny, ignore, a backend failure by its policy) never becomes an allow.
 */

export interface Verdict<A> {
  readonly answer: A;
  readonly reason: string;
}

// --- RabbitMQ -------------------------------------------------------------------------------

/** `/rabbitmq/user`: allow (superuser: `allow administrator`) or deny; RabbitMQ has no ignore. */
export async function rabbitUser(deps: AuthnDeps, client: AuthnRequest): Promise<Verdict<RabbitAnswer>> {
  const o = await authenticate(deps, client);
  if (o.result === 'allow') return { answer: o.is_superuser ? 'allow administrator' : 'allow', reason: o.reason };
  return { answer: 'deny', reason: `${o.result}: ${o.reason}` };
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

/** `/rabbitmq/topic`: the routing key, mapped back to MQTT, judged by the rules. */
export async function rabbitTopic(deps: AuthzDeps, req: RabbitAclRequest & { kind: 'topic' }): Promise<Verdict<RabbitAnswer>> {
  // The tag our user endpoint gave a superuser; superusers skip authorization as in EMQX.
  if (req.tags.includes('administrator')) return { answer: 'allow', reason: 'superuser (administrator tag)' };
  const o = await authorize(deps, req.acl);
  return { answer: o.result === 'allow' ? 'allow' : 'deny', reason: `${o.result}: ${o.reason}` };
}

// --- mosquitto-go-auth ----------------------------------------------------------------------

export async function mosquittoUser(deps: AuthnDeps, client: AuthnRequest): Promise<Verdict<boolean>> {
  const o = await authenticate(deps, client);
  return { answer: o.result === 'allow', reason: `${o.result}: ${o.reason}` };
}

/**
 * Is this user a superuser? SUPERUSER_QUERY when set; otherwise the authentication query with the
 * username only (no password is sent here) and its first row's `is_superuser`. No row, a query that
 * needs the password, or a backend failure all answer no ({@link checkSuperuser}).
 */
export async function superuserOf(deps: AuthnDeps, client: ClientInfo): Promise<Verdict<boolean>> {
  const o = await checkSuperuser(deps, client);
  return { answer: o.yes, reason: o.reason };
}

const ACC: Record<Acc, readonly AclAction[]> = { 1: ['subscribe'], 2: ['publish'], 3: ['subscribe', 'publish'], 4: ['subscribe'] };

/**
 * `/mosquitto/acl`. Read (1, a message about to be delivered) is judged as a subscription to that
 * topic, write (2) as a publish, subscribe (4) as a subscription; read-write (3) needs both.
 */
export async function mosquittoAcl(deps: AuthzDeps, client: ClientInfo, topic: string, acc: Acc): Promise<Verdict<boolean>> {
  for (const action of ACC[acc]) {
    const o = await authorize(deps, { ...client, topic, action });
    if (o.result !== 'allow') return { answer: false, reason: `${action} ${o.result}: ${o.reason}` };
  }
  return { answer: true, reason: 'allowed' };
}

// --- VerneMQ --------------------------------------------------------------------------------

const verne = (result: 'allow' | 'deny' | 'ignore', reason: string): Verdict<VerneAnswer> => ({
  answer: result === 'allow' ? { result: 'ok' } : result === 'ignore' ? { result: 'next' } : { error: 'not_allowed' },
  reason: `${result}: ${reason}`,
});

export async function verneRegister(deps: AuthnDeps, client: AuthnRequest): Promise<Verdict<VerneAnswer>> {
  const o = await authenticate(deps, client);
  return verne(o.result, o.reason);
}

export async function vernePublish(deps: AuthzDeps, req: AclRequest): Promise<Verdict<VerneAnswer>> {
  const o = await authorize(deps, req);
  return verne(o.result, o.reason);
}

/**
 * `auth_on_subscribe`: each filter judged on its own. All allowed → ok; all ignored → next;
 * otherwise ok with the list rewritten so each filter not allowed gets QoS 128 (MQTT 5: 135),
 * which rejects that filter alone — or an error when none is allowed.
 */
export async function verneSubscribe(deps: AuthzDeps, client: ClientInfo, topics: ReadonlyArray<{ topic: string; qos: 0 | 1 | 2 }>, v5: boolean): Promise<Verdict<VerneAnswer>> {
  const results: Array<'allow' | 'deny' | 'ignore'> = [];
  for (const t of topics) results.push((await authorize(deps, { ...client, topic: t.topic, action: 'subscribe', qos: t.qos })).result);
  const reason = results.join(',');
  if (results.every((r) => r === 'allow')) return { answer: { result: 'ok' }, reason };
  if (results.every((r) => r === 'ignore')) return { answer: { result: 'next' }, reason };
  if (!results.includes('allow')) return { answer: { error: 'not_allowed' }, reason };
  const rejected = v5 ? 135 : 128;
  return { answer: { result: 'ok', v5, topics: topics.map((t, i) => ({ topic: t.topic, qos: results[i] === 'allow' ? t.qos : rejected })) }, reason };
}
