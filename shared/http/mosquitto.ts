import * as v from 'valibot';
import * as schema from '../schema.js';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuthnRequest, ClientInfo } from '../types.js';
import type { HttpRequest } from './event.js';
import { defined, lazy, endpoint, identity, must, readFields, required, requiredScalar, scalar, validate } from './input.js';
import { answerErrors, json, text, type HttpResult } from './middleware.js';

/**
 * mosquitto-go-auth's HTTP backend (brokers.md §3): `/mosquitto/user`, `/mosquitto/superuser`,
 * `/mosquitto/acl`, JSON or form parameters, answered in the plugin's response mode.
 */

/** go-auth `acc`: 1 read (delivery to a subscriber), 2 write (publish), 3 read and write, 4 subscribe. */
export type Acc = 1 | 2 | 3 | 4;

export type MosquittoAuthRequest = { readonly kind: 'user'; readonly client: AuthnRequest } | { readonly kind: 'superuser'; readonly client: ClientInfo };
export interface MosquittoAclRequest {
  readonly client: ClientInfo;
  readonly topic: string;
  readonly acc: Acc;
}


const UserSchema = lazy(() => schema.object({ username: required('username'), password: scalar('password'), clientid: identity('clientid') }));
const SuperuserSchema = lazy(() => schema.object({ username: required('username') }));
const AclSchema = lazy(() => schema.object({
  username: required('username'),
  clientid: identity('clientid'),
  topic: requiredScalar('topic'),
  acc: v.pipe(scalar('acc'), must((value) => value !== undefined && /^[1-4]$/.test(value), 'acc must be 1 (read), 2 (write), 3 (read-write) or 4 (subscribe)')),
}));

/** go-auth sends its parameters in the body with whatever method it is set to use: GET and PUT too. */
const fieldsOf = (req: HttpRequest) => readFields(req.method === 'PUT' || (req.method === 'GET' && req.body.trim() !== '') ? { ...req, method: 'POST' } : req);

/** `/mosquitto/user` and `/mosquitto/superuser`. */
export function parseMosquittoAuth(req: HttpRequest): MosquittoAuthRequest {
  const fields = fieldsOf(req);
  const which = endpoint(req);
  if (which === 'user') {
    const parsed = validate(UserSchema(), fields);
    return { kind: 'user', client: { ...defined({ username: parsed.username, clientid: parsed.clientid, password: parsed.password }), client_attrs: {} } };
  }
  if (which === 'superuser') {
    const parsed = validate(SuperuserSchema(), fields);
    return { kind: 'superuser', client: { username: parsed.username, client_attrs: {} } };
  }
  throw new BadRequestError(`unknown mosquitto-go-auth path ${req.path.slice(0, 60)}`);
}

/** `/mosquitto/acl`. */
export function parseMosquittoAcl(req: HttpRequest): MosquittoAclRequest {
  const parsed = validate(AclSchema(), fieldsOf(req));
  return { client: { ...defined({ username: parsed.username, clientid: parsed.clientid }), client_attrs: {} }, topic: parsed.topic, acc: Number(parsed.acc) as Acc };
}

export type ResponseMode = 'status' | 'json' | 'text';

/**
 * An answer as go-auth reads it in `mode`: granted is 200 with `ok` (status, text) or
 * `{"Ok":true,"Error":""}` (json). A refusal is 403 in every mode, with the reason as the mode
 * writes it: go-auth refuses any non-2xx before it reads a body, and in its default status mode
 * grants any 2xx, so a refusal must never be a 200 in case auth_opt_http_response_mode differs
 * from MOSQUITTO_RESPONSE_MODE. `status` overrides the code (400 bad input, 500 a failure).
 */
export function mosquittoAnswer(mode: ResponseMode, granted: boolean, reason: string, status?: number): HttpResult {
  const code = status ?? (granted ? 200 : 403);
  if (mode === 'json') return json(code, { Ok: granted, Error: granted ? '' : reason });
  return text(code, granted ? 'ok' : reason);
}

/** Bad input: 400; anything else: 500 (go-auth logs it as a backend error). Never granted. */
export function mosquittoErrors(opts: { log: Logger; route: string; mode: ResponseMode }) {
  return answerErrors({
    log: opts.log,
    route: opts.route,
    refuse: (f) => mosquittoAnswer(opts.mode, false, f.message, f.badInput ? 400 : 500),
  });
}
