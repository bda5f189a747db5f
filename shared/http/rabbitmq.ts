import * as v from 'valibot';
import * as schema from '../schema.js';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AclRequest, AuthnRequest } from '../types.js';
import type { HttpRequest } from './event.js';
import { defined, lazy, endpoint, identity, readFields, required, requiredScalar, scalar, validate } from './input.js';
import { answerErrors, text, type HttpResult } from './middleware.js';

/**
 * RabbitMQ `rabbitmq_auth_backend_http` (brokers.md §2): four paths, GET query or POST form,
 * answered with status 200, `text/plain` and exactly `allow`, `allow <tags>` or `deny`.
 */

export type RabbitAuthRequest =
  | { readonly kind: 'user'; readonly client: AuthnRequest }
  | { readonly kind: 'vhost'; readonly username: string; readonly vhost: string };

export type RabbitAclRequest =
  | { readonly kind: 'resource'; readonly username: string; readonly clientid?: string; readonly resource: string; readonly name: string; readonly permission: string }
  | { readonly kind: 'topic'; readonly acl: AclRequest; readonly tags: readonly string[] };

const UserSchema = lazy(() => schema.object({ username: required('username'), password: scalar('password'), client_id: identity('client_id'), vhost: scalar('vhost') }));
const VhostSchema = lazy(() => schema.object({ username: required('username'), vhost: requiredScalar('vhost') }));
const ResourceSchema = lazy(() => schema.object({
  username: required('username'),
  client_id: identity('client_id'),
  resource: v.picklist(['queue', 'exchange'], 'resource must be queue or exchange'),
  name: requiredScalar('name'),
  permission: v.picklist(['configure', 'read', 'write'], 'permission must be configure, read or write'),
}));
const TopicSchema = lazy(() => schema.object({
  username: required('username'),
  'variable_map.client_id': identity('variable_map.client_id'),
  routing_key: requiredScalar('routing_key'),
  permission: v.picklist(['read', 'write'], 'permission must be read or write'),
  tags: scalar('tags'),
}));

/** `/rabbitmq/user` and `/rabbitmq/vhost`. */
export function parseRabbitAuth(req: HttpRequest): RabbitAuthRequest {
  const fields = readFields(req);
  const which = endpoint(req);
  if (which === 'user') {
    const parsed = validate(UserSchema(), fields);
    return { kind: 'user', client: { ...defined({ username: parsed.username, clientid: parsed.client_id, password: parsed.password }), client_attrs: {} } };
  }
  if (which === 'vhost') {
    const parsed = validate(VhostSchema(), fields);
    return { kind: 'vhost', username: parsed.username, vhost: parsed.vhost };
  }
  throw new BadRequestError(`unknown RabbitMQ authentication path ${req.path.slice(0, 60)}`);
}

/** `/rabbitmq/resource` and `/rabbitmq/topic`. */
export function parseRabbitAcl(req: HttpRequest): RabbitAclRequest {
  const fields = readFields(req);
  const which = endpoint(req);
  if (which === 'resource') {
    const parsed = validate(ResourceSchema(), fields);
    return { kind: 'resource', username: parsed.username, ...defined({ clientid: parsed.client_id }), resource: parsed.resource, name: parsed.name, permission: parsed.permission };
  }
  if (which === 'topic') {
    const parsed = validate(TopicSchema(), fields);
    const acl: AclRequest = {
      ...defined({ username: parsed.username, clientid: parsed['variable_map.client_id'] }),
      client_attrs: {},
      topic: topicOfRoutingKey(parsed.routing_key),
      action: parsed.permission === 'write' ? 'publish' : 'subscribe',
    };
    return { kind: 'topic', acl, tags: (parsed.tags ?? '').split(' ').filter((t) => t !== '') };
  }
  throw new BadRequestError(`unknown RabbitMQ authorization path ${req.path.slice(0, 60)}`);
}

/**
 * The MQTT topic (or filter) a routing key came from: the MQTT plugin turned `/` into `.` and `+`
 * into `*` (`#` stays). A `.` inside an MQTT level cannot be told apart and becomes a separator.
 */
export function topicOfRoutingKey(key: string): string {
  return key.replaceAll('.', '/').replaceAll('*', '+');
}

export type RabbitAnswer = 'allow' | 'deny' | `allow ${string}`;

export const rabbitAnswer = (answer: RabbitAnswer): HttpResult => text(200, answer);

/** Every failure, bad input included, is RabbitMQ's "no": 200 `deny` (it has no "ignore"). */
export function rabbitErrors(opts: { log: Logger; route: string }) {
  return answerErrors({ ...opts, refuse: () => rabbitAnswer('deny') });
}
