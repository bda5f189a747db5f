import type { Context } from 'aws-lambda';
import type { MiddlewareObj } from '@middy/core';
import * as v from 'valibot';
import * as schema from '../schema.js';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AclRequest, AuthnRequest, ClientInfo } from '../types.js';
import type { ApiEvent, HttpRequest } from './event.js';
import { defined, lazy, endpoint, identity, must, readFields, requiredScalar, scalar, validate } from './input.js';
import { answerErrors, text, type HttpResult } from './middleware.js';

/**
 * EMQX 4.x / Cloud v4 `emqx_auth_http` (emqx.md §12): `/emqx4/auth`, `/emqx4/superuser`,
 * `/emqx4/acl`, parameters as a GET query, a POST form or a JSON object of strings. The status is
 * the verdict: 200 allow, 200 with exactly `ignore` ignore, 4xx deny; never 204.
 */

export type Emqx4AuthRequest = { readonly kind: 'auth'; readonly client: AuthnRequest } | { readonly kind: 'superuser'; readonly client: ClientInfo };

/** EMQX 4 renders a field the client lacks as the text `undefined`: on these routes that is unset. */
const unsetIfUndefined = (v: string | undefined): string | undefined => (v === 'undefined' ? undefined : v);
const who = (name: string) => v.pipe(identity(name), v.transform(unsetIfUndefined));
const info = (name: string) => v.pipe(scalar(name), v.transform(unsetIfUndefined));
const present = (v: string | undefined): boolean => v !== undefined;

/** The client as `%u %c %a %C %d` describe it (`username`, `clientid`, `ipaddr`, `cn`, `dn`). */
const clientShape = () => ({ username: who('username'), clientid: who('clientid'), ipaddr: info('ipaddr'), cn: info('cn'), dn: info('dn') });
const AuthSchema = lazy(() => schema.object({
  ...clientShape(),
  username: v.pipe(who('username'), must(present, 'username is required (username=%u)')),
  password: v.pipe(scalar('password'), must(present, 'password is required (password=%P); EMQX 4 never asks with an empty one')),
}));
const SuperuserSchema = lazy(() => schema.object({ ...clientShape(), username: v.pipe(who('username'), must(present, 'username is required (username=%u)')) }));
const AclSchema = lazy(() => schema.object({
  ...clientShape(),
  access: v.pipe(scalar('access'), must((value) => value === '1' || value === '2', 'access must be 1 (subscribe) or 2 (publish) (access=%A)')),
  topic: requiredScalar('topic', 'topic is required (topic=%t)'),
}));

type ClientFields = { username?: string | undefined; clientid?: string | undefined; ipaddr?: string | undefined; cn?: string | undefined; dn?: string | undefined };

function client(parsed: ClientFields): ClientInfo {
  return { ...defined({ username: parsed.username, clientid: parsed.clientid, peerhost: parsed.ipaddr, cert_common_name: parsed.cn, cert_subject: parsed.dn }), client_attrs: {} };
}

/** `/emqx4/auth` and `/emqx4/superuser`. */
export function parseEmqx4Auth(req: HttpRequest): Emqx4AuthRequest {
  const fields = readFields(req);
  const which = endpoint(req);
  if (which === 'auth') {
    const parsed = validate(AuthSchema(), fields);
    return { kind: 'auth', client: { ...client(parsed), ...defined({ password: parsed.password }) } };
  }
  if (which === 'superuser') return { kind: 'superuser', client: client(validate(SuperuserSchema(), fields)) };
  throw new BadRequestError(`unknown EMQX 4 authentication path ${req.path.slice(0, 60)}`);
}

/** `/emqx4/acl`: `access` 1 is a subscription, 2 a publish; the mountpoint plays no part. */
export function parseEmqx4Acl(req: HttpRequest): AclRequest {
  const parsed = validate(AclSchema(), readFields(req));
  return { ...client(parsed), topic: parsed.topic, action: parsed.access === '1' ? 'subscribe' : 'publish' };
}

export type Emqx4Check = 'auth' | 'superuser' | 'acl';

/**
 * A verdict as EMQX 4 reads it: allow 200 `ok`; ignore 200 `ignore` (exactly those 6 bytes);
 * deny 401 for authentication (bad username or password), 403 for the superuser and ACL checks.
 */
export function emqx4Answer(check: Emqx4Check, verdict: 'allow' | 'deny' | 'ignore'): HttpResult {
  if (verdict === 'allow') return text(200, 'ok');
  // A superuser check has no "ignore": anything but yes is no.
  if (verdict === 'ignore' && check !== 'superuser') return text(200, 'ignore');
  return text(check === 'auth' ? 401 : 403, 'deny');
}

/**
 * Bad input: 400 with the problem (EMQX 4 reads any 4xx as deny). Anything else answers the
 * failure policy (`ignore` → 200 `ignore`, `deny` → 4xx), and a superuser check always no; never
 * allow. The `auth` handler also serves `/emqx4/superuser` (under any stage prefix): a path ending
 * so is answered as that check.
 */
export function emqx4Errors(opts: { log: Logger; route: string; policy: 'deny' | 'ignore'; check: 'auth' | 'acl' }): MiddlewareObj<ApiEvent, HttpResult, Error, Context> {
  const byCheck = new Map<Emqx4Check, MiddlewareObj<ApiEvent, HttpResult, Error, Context>>();
  for (const check of ['auth', 'superuser', 'acl'] as const) {
    byCheck.set(check, answerErrors({ log: opts.log, route: opts.route, policy: opts.policy, refuse: (f) => (f.badInput ? text(400, f.message) : emqx4Answer(check, opts.policy)) }));
  }
  return {
    onError: (request) => {
      const event = request.event;
      const path = ('rawPath' in event ? event.rawPath : event.path) ?? '';
      const check: Emqx4Check = opts.check === 'auth' && path.endsWith('/superuser') ? 'superuser' : opts.check;
      return byCheck.get(check)?.onError?.(request);
    },
  };
}
