import * as z from '../zod.js';
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

/** A scalar field: strings as they are, numbers and booleans as text; null and "" are unset. */
export const scalar = (name: string) =>
  z.pipe(
    z
      .optional(z.union([z.string(), z.number(), z.boolean(), z.null()], { error: `${name} must be a string` }))
      .check(z.refine((v) => typeof v !== 'string' || v.isWellFormed(), `${name} is not valid Unicode (a lone surrogate)`)),
    z.transform((v: string | number | boolean | null | undefined) => (v === null || v === undefined || v === '' ? undefined : String(v))),
  );

/** A check on a parsed field's value (unset is undefined), failing with `message`. */
export const must = (ok: (v: string | undefined) => boolean, message: string) => z.refine<string | undefined>(ok, message);

/**
 * A field that must pass `test`, its type narrowed to what `test` admits (`string` for a required
 * field): the check and the narrowing in one step, so no cast is needed downstream.
 */
export const admit = <T extends string | undefined>(field: z.ZodMiniType<string | undefined, unknown>, test: (v: string | undefined) => v is T, message: string) =>
  z.pipe(
    field,
    z.transform((v: string | undefined, ctx): T => {
      if (test(v)) return v;
      ctx.issues.push({ code: 'custom', message, input: v });
      return z.NEVER;
    }),
  );

const isSet = (v: string | undefined): v is string => v !== undefined;

export const identity = (name: string) => scalar(name).check(must((v) => v === undefined || !v.includes('\u0000'), `${name} must not contain a NUL character`));

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
  client_attrs: z.optional(z.record(z.string(), scalar('client_attrs value'), { error: 'client_attrs must be an object of strings' })),
});

const AuthnSchema = lazy(() => z.object({ ...clientShape(), password: scalar('password'), cert_pem: scalar('cert_pem') }));

const AclSchema = lazy(() =>
  z.object({
    ...clientShape(),
    topic: requiredScalar('topic'),
    action: admit(scalar('action'), (v): v is 'publish' | 'subscribe' | undefined => v === undefined || v === 'publish' || v === 'subscribe', 'action must be publish or subscribe'),
    access: scalar('access').check(must((v) => v === undefined || v === '1' || v === '2', 'access must be 1 (subscribe) or 2 (publish)')),
    qos: scalar('qos').check(must((v) => v === undefined || /^[0-2]$/.test(v), 'qos must be 0, 1 or 2')),
    retain: scalar('retain').check(must((v) => v === undefined || ['true', 'false', '1', '0'].includes(v), 'retain must be true or false')),
  }),
);

export function validate<S extends z.ZodMiniType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new BadRequestError(issue?.message ?? 'invalid request');
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

const clientSchema = () => z.object(clientShape());
type ClientFields = z.output<ReturnType<typeof clientSchema>>;

function client(fields: Fields, v: ClientFields): ClientInfo {
  return {
    ...defined({ username: v.username, clientid: v.clientid, peerhost: v.peerhost, cert_common_name: v.cert_common_name, cert_subject: v.cert_subject, zone: v.zone }),
    client_attrs: clientAttrs(fields, v.client_attrs),
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
  const v = validate(AuthnSchema(), fields);
  return { ...client(fields, v), ...defined({ password: v.password, cert_pem: v.cert_pem }) };
}

export function parseAclRequest(req: HttpRequest): AclRequest {
  const fields = readFields(req);
  const v = validate(AclSchema(), fields);
  const action = v.action ?? (v.access === '1' ? 'subscribe' : v.access === '2' ? 'publish' : undefined);
  if (action === undefined) throw new BadRequestError('action is required (publish or subscribe; or access 1 or 2)');
  return {
    ...client(fields, v),
    topic: v.topic,
    action,
    ...(v.qos === undefined ? {} : { qos: Number(v.qos) as 0 | 1 | 2 }),
    ...(v.retain === undefined ? {} : { retain: v.retain === 'true' || v.retain === '1' }),
  };
}
