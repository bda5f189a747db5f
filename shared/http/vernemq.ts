import * as v from 'valibot';
import * as schema from '../schema.js';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuthnRequest, ClientInfo } from '../types.js';
import type { HttpRequest } from './event.js';
import { defined, lazy, identity, readFields, scalar, validate } from './input.js';
import { answerErrors, json, type HttpResult } from './middleware.js';

/**
 * VerneMQ webhooks (brokers.md §4) on one path, `/vernemq`: always POST with a JSON body, the hook
 * named by the `vernemq-hook` header; answered with 200 and a JSON `result`.
 */

export type VerneHook = 'auth_on_register' | 'auth_on_subscribe' | 'auth_on_publish';

export type VerneRequest =
  | { readonly hook: 'auth_on_register'; readonly v5: boolean; readonly client: AuthnRequest }
  | { readonly hook: 'auth_on_subscribe'; readonly v5: boolean; readonly client: ClientInfo; readonly topics: ReadonlyArray<{ readonly topic: string; readonly qos: 0 | 1 | 2 }> }
  | { readonly hook: 'auth_on_publish'; readonly v5: boolean; readonly client: ClientInfo; readonly topic: string; readonly qos?: 0 | 1 | 2; readonly retain?: boolean };

const HOOKS: ReadonlySet<string> = new Set(['auth_on_register', 'auth_on_subscribe', 'auth_on_publish']);

const qos = () => v.picklist([0, 1, 2], 'qos must be 0, 1 or 2');
const ClientSchema = () => ({ username: identity('username'), client_id: identity('client_id'), peer_addr: scalar('peer_addr') });
const RegisterSchema = lazy(() => schema.object({ ...ClientSchema(), password: scalar('password') }));
const SubscribeSchema = lazy(() => schema.object({
  ...ClientSchema(),
  topics: v.pipe(
    v.array(schema.objectOnly(schema.object({ topic: v.pipe(v.string('each topic must be a string'), v.minLength(1, 'a topic is empty')), qos: qos() })), 'topics must be a list of {topic, qos}'),
    v.minLength(1, 'topics is empty'),
  ),
}));
const PublishSchema = lazy(() => schema.object({
  ...ClientSchema(),
  topic: v.pipe(v.string('topic is required'), v.minLength(1, 'topic is required')),
  qos: v.optional(qos()),
  retain: v.optional(v.boolean('retain must be true or false')),
}));

export function parseVerne(req: HttpRequest): VerneRequest {
  if (req.method !== 'POST') throw new BadRequestError('VerneMQ webhooks are POST requests');
  const named = req.headers['vernemq-hook'] ?? '';
  const v5 = named.endsWith('_m5');
  const hook = v5 ? named.slice(0, -3) : named;
  if (!HOOKS.has(hook)) throw new BadRequestError(`vernemq-hook header ${JSON.stringify(named.slice(0, 40))} is not auth_on_register, auth_on_subscribe or auth_on_publish (or their _m5 forms)`);
  const fields = readFields(req);
  const client = (parsed: { username: string | undefined; client_id: string | undefined; peer_addr: string | undefined }): ClientInfo => ({
    ...defined({ username: parsed.username, clientid: parsed.client_id, peerhost: parsed.peer_addr }),
    client_attrs: {},
  });
  if (hook === 'auth_on_register') {
    const parsed = validate(RegisterSchema(), fields);
    return { hook, v5, client: { ...client(parsed), ...defined({ password: parsed.password }) } };
  }
  if (hook === 'auth_on_subscribe') {
    const parsed = validate(SubscribeSchema(), fields);
    return { hook, v5, client: client(parsed), topics: parsed.topics };
  }
  const parsed = validate(PublishSchema(), fields);
  return { hook: 'auth_on_publish', v5, client: client(parsed), topic: parsed.topic, ...(parsed.qos === undefined ? {} : { qos: parsed.qos }), ...(parsed.retain === undefined ? {} : { retain: parsed.retain }) };
}

/** `ok` (with the subscribe rewrite, if any), `next`, or an error that refuses. */
export type VerneAnswer = { readonly result: 'ok' | 'next' } | { readonly result: 'ok'; readonly topics: ReadonlyArray<{ topic: string; qos: number }>; readonly v5: boolean } | { readonly error: string };

export function verneAnswer(answer: VerneAnswer): HttpResult {
  if ('error' in answer) return json(200, { result: { error: answer.error } });
  if ('topics' in answer) return json(200, answer.v5 ? { result: 'ok', modifiers: { topics: answer.topics } } : { result: 'ok', topics: answer.topics });
  return json(200, { result: answer.result });
}

/** Every failure, bad input included, refuses with an error result (never `ok`, never `next`). */
export function verneErrors(opts: { log: Logger; route: string }) {
  return answerErrors({ ...opts, refuse: (f) => verneAnswer({ error: f.message }) });
}
