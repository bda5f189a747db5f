import * as v from 'valibot';
import * as schema from '../schema.js';
import { BadRequestError } from '../errors.js';
import type { AclRequest, AuthnRequest, ClientInfo } from '../types.js';
import { parseForm, type HttpRequest } from './event.js';

/**
 * Turns an HTTP request into the typed request of the domain. Content-Type decides the parser;
 * when it is missing or contradicts the body, the body's shape decides (`{` → JSON, else form).
 * Every value may arrive as a string; a value is unset when absent, null or "".
 */

type Fields = Record<string, unknown>;

export function readFields(req: HttpRequest): Fields {
  if (req.method !== 'GET' && req.method !== 'POST') throw new BadRequestError(`method ${req.method} is not supported; use GET or POST`);
  const fromQuery = Object.fromEntries(req.query);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const json = type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type);
  if (req.method === 'GET') return fromQuery;
  if (req.body.trim() === '') {
    if (json) throw new BadRequestError('body is empty; expected a JSON object');
    return fromQuery;
  }
  if (type !== '' && !json && type !== 'application/x-www-form-urlencoded') {
    throw new BadRequestError(`unsupported content type "${type.slice(0, 60)}"; send application/json or application/x-www-form-urlencoded`);
  }
  const looksJson = req.body.trimStart().startsWith('{');
  if (!looksJson) {
    // Declared JSON that is JSON but not an object (an array, a string, null) is an error, not a form.
    if (json && isJson(req.body)) throw new BadRequestError('JSON body must be an object');
    return Object.fromEntries(parseForm(req.body.trim(), 'body'));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body);
  } catch {
    throw new BadRequestError('body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadRequestError('JSON body must be an object');
  return parsed as Fields;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A scalar field: strings as they are, finite numbers and booleans as text; null and "" are unset
 * (a JSON number too large for a double, such as 1e999, is refused, not read as "Infinity"). A
 * missing key runs the field too, as `undefined` (the default, a function, makes valibot read an
 * absent key), so the checks piped after it judge a missing field as they judge an unset one.
 */
export const scalar = (name: string) =>
  v.pipe(
    v.optional(v.union([v.string(), schema.number(), v.boolean(), v.null()], `${name} must be a string`), () => undefined),
    v.check((value) => typeof value !== 'string' || value.isWellFormed(), `${name} is not valid Unicode (a lone surrogate)`),
    v.transform((value: string | number | boolean | null | undefined) => (value === null || value === undefined || value === '' ? undefined : String(value))),
  );

/** A check on a parsed field's value (unset is undefined), failing with `message`. */
export const must = (ok: (value: string | undefined) => boolean, message: string) => v.check<string | undefined, string>(ok, message);

/**
 * A field that must pass `test`, its type narrowed to what `test` admits (`string` for a required
 * field): the check and the narrowing in one step, so no cast is needed downstream.
 */
export const admit = <T extends string | undefined>(field: v.GenericSchema<unknown, string | undefined>, test: (value: string | undefined) => value is T, message: string) =>
  v.pipe(
    field,
    v.rawTransform(({ dataset, addIssue, NEVER }): T => {
      if (test(dataset.value)) return dataset.value;
      addIssue({ message });
      return NEVER;
    }),
  );

const isSet = (v: string | undefined): v is string => v !== undefined;

export const identity = (name: string) => v.pipe(scalar(name), must((value) => value === undefined || !value.includes('\u0000'), `${name} must not contain a NUL character`));

/** An identity that must be set. */
export const required = (name: string) => admit(identity(name), isSet, `${name} is required`);

/** A scalar that must be set. */
export const requiredScalar = (name: string, message = `${name} is required`) => admit(scalar(name), isSet, message);

/** Built on first use, then kept: building schemas costs start-up time, and a route uses one or two. */
export function lazy<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

/** The last path segment names the check, whatever prefix (an API Gateway stage) comes before it. */
export const endpoint = (req: HttpRequest): string => req.path.slice(req.path.lastIndexOf('/') + 1);

const clientShape = () => ({
  username: identity('username'),
  clientid: identity('clientid'),
  peerhost: scalar('peerhost'),
  cert_common_name: scalar('cert_common_name'),
  cert_subject: scalar('cert_subject'),
  zone: scalar('zone'),
  client_attrs: v.optional(schema.record(scalar('client_attrs value'), 'client_attrs must be an object of strings')),
});

const AuthnSchema = lazy(() => schema.object({ ...clientShape(), password: scalar('password'), cert_pem: scalar('cert_pem') }));

const AclSchema = lazy(() =>
  schema.object({
    ...clientShape(),
    topic: requiredScalar('topic'),
    action: admit(scalar('action'), (v): v is 'publish' | 'subscribe' | undefined => v === undefined || v === 'publish' || v === 'subscribe', 'action must be publish or subscribe'),
    access: v.pipe(scalar('access'), must((value) => value === undefined || value === '1' || value === '2', 'access must be 1 (subscribe) or 2 (publish)')),
    qos: v.pipe(scalar('qos'), must((value) => value === undefined || /^[0-2]$/.test(value), 'qos must be 0, 1 or 2')),
    retain: v.pipe(scalar('retain'), must((value) => value === undefined || ['true', 'false', '1', '0'].includes(value), 'retain must be true or false')),
  }),
);

/** The parsed value, or a BadRequestError with the first problem found. */
export function validate<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const parsed = v.safeParse(schema, input);
  if (parsed.success) return parsed.output;
  throw new BadRequestError(parsed.issues[0].message);
}

/** `client_attrs.NAME` keys and a nested `client_attrs` object, merged (nested wins). */
function clientAttrs(fields: Fields, nested: Record<string, string | undefined> | undefined): Record<string, string> {
  const prefix = 'client_attrs.';
  const attrs: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (!key.startsWith(prefix) || key.length === prefix.length) continue;
    const parsed = validate(scalar(key), value);
    if (parsed !== undefined) attrs[key.slice(prefix.length)] = parsed;
  }
  for (const [key, value] of Object.entries(nested ?? {})) if (value !== undefined) attrs[key] = value;
  return attrs;
}

const clientSchema = () => schema.object(clientShape());
type ClientFields = v.InferOutput<ReturnType<typeof clientSchema>>;

function client(fields: Fields, parsed: ClientFields): ClientInfo {
  return {
    ...defined({ username: parsed.username, clientid: parsed.clientid, peerhost: parsed.peerhost, cert_common_name: parsed.cert_common_name, cert_subject: parsed.cert_subject, zone: parsed.zone }),
    client_attrs: clientAttrs(fields, parsed.client_attrs),
  };
}

/** Drops unset keys so optional properties are absent, never `undefined`. */
export function defined<T extends Record<string, string | undefined>>(o: T): { [K in keyof T]?: string } {
  const out: Partial<Record<keyof T, string>> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k as keyof T] = v;
  return out;
}

export function parseAuthnRequest(req: HttpRequest): AuthnRequest {
  const fields = readFields(req);
  const parsed = validate(AuthnSchema(), fields);
  return { ...client(fields, parsed), ...defined({ password: parsed.password, cert_pem: parsed.cert_pem }) };
}

export function parseAclRequest(req: HttpRequest): AclRequest {
  const fields = readFields(req);
  const parsed = validate(AclSchema(), fields);
  const action = parsed.action ?? (parsed.access === '1' ? 'subscribe' : parsed.access === '2' ? 'publish' : undefined);
  if (action === undefined) throw new BadRequestError('action is required (publish or subscribe; or access 1 or 2)');
  return {
    ...client(fields, parsed),
    topic: parsed.topic,
    action,
    ...(parsed.qos === undefined ? {} : { qos: Number(parsed.qos) as 0 | 1 | 2 }),
    ...(parsed.retain === undefined ? {} : { retain: parsed.retain === 'true' || parsed.retain === '1' }),
  };
}
