import pLimit from 'p-limit';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { toBool } from '../superuser.js';
import { placeholderValue } from '../template.js';
import type { AclRequest, AuthnRequest } from '../types.js';
import type { HttpSourceSettings } from './http-settings.js';
import type { Source, SourceAuthn, SourceAuthz } from './port.js';

/**
 * The operator's own auth service as a chain source, spoken to as EMQX 5's HTTP authenticator and
 * authorizer speak to it (emqx.md §2–4): a flat body map of templates sent as JSON, form or query
 * string; 204 or 200 with `result` is a verdict. Anything else — another status, a timeout, a refused
 * connection, a body that cannot be read — is a backend failure answered by the source's policy,
 * never allow. URLs, headers and bodies are never logged (they carry passwords and tokens).
 */

export type { HttpSourceSettings } from './http-settings.js';

const CLIENT = ['username', 'clientid', 'peerhost', 'cert_common_name', 'cert_subject', 'zone'];
const PLACEHOLDERS = {
  authn: new Set([...CLIENT, 'password', 'cert_pem']),
  authz: new Set([...CLIENT, 'topic', 'action', 'access', 'qos', 'retain']),
};

type Piece = { readonly text: string } | { readonly name: string };
type Body = ReadonlyArray<readonly [string, readonly Piece[]]>;

/**
 * Compiles a body map: `${name}` takes a value (unset → ""), `${$}` is a literal `$`. A placeholder
 * this kind of request cannot fill fails start-up, naming the setting (EMQX would send it as text).
 */
export function compileBody(map: Readonly<Record<string, string>>, kind: 'authn' | 'authz', setting: string): Body {
  return Object.entries(map).map(([key, template]) => {
    const pieces: Piece[] = [];
    let rest = template;
    for (let at = rest.indexOf('${'); at >= 0; at = rest.indexOf('${')) {
      const close = rest.indexOf('}', at);
      if (close < 0) throw new ConfigError(setting, `"${key}": unterminated placeholder`);
      const name = rest.slice(at + 2, close);
      if (at > 0) pieces.push({ text: rest.slice(0, at) });
      if (name === '$') pieces.push({ text: '$' });
      else if (PLACEHOLDERS[kind].has(name) || /^client_attrs\.[A-Za-z0-9_]+$/.test(name)) pieces.push({ name });
      else throw new ConfigError(setting, `"${key}": placeholder \${${name}} is not available for ${kind === 'authn' ? 'authentication' : 'authorization'}`);
      rest = rest.slice(close + 1);
    }
    if (rest !== '') pieces.push({ text: rest });
    return [key, pieces] as const;
  });
}

function render(body: Body, value: (name: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, pieces] of body) out[key] = pieces.map((p) => ('text' in p ? p.text : (value(p.name) ?? ''))).join('');
  return out;
}

function aclValue(req: AclRequest, name: string): string | undefined {
  switch (name) {
    case 'topic':
      return req.topic;
    case 'action':
      return req.action;
    case 'access':
      return req.action === 'subscribe' ? '1' : '2';
    case 'qos':
      return req.qos === undefined ? undefined : String(req.qos);
    case 'retain':
      return req.action === 'subscribe' ? 'false' : String(req.retain ?? false);
    default:
      return placeholderValue(req, name);
  }
}

const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * How many of one call's authorization requests are in flight to the service at once. The
 * service decides per request, so a many-filter subscribe is asked per filter; the cap keeps one
 * webhook call from opening a connection per filter.
 */
export const HTTP_SOURCE_CONCURRENCY = 8;

type Answer = { readonly status: number; readonly type: string; readonly fields: Record<string, unknown> | undefined } | { readonly failed: string };

export function httpSource(cfg: HttpSourceSettings, policy: { readonly authn: 'ignore' | 'deny'; readonly authz: 'deny' | 'ignore' }, log: Logger): Source {
  const authnBody = compileBody(cfg.authnBody, 'authn', 'HTTP_SOURCE_AUTHN_BODY');
  const authzBody = compileBody(cfg.authzBody, 'authz', 'HTTP_SOURCE_AUTHZ_BODY');
  const form = cfg.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded') === true;

  async function ask(url: string, body: Record<string, string>): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json', 'cache-control': 'no-cache', ...cfg.headers };
    let target = url;
    let payload: string | undefined;
    if (cfg.method === 'get') {
      const u = new URL(url);
      for (const [k, v] of Object.entries(body)) u.searchParams.append(k, v);
      target = u.toString();
      delete headers['content-type'];
    } else {
      headers['content-type'] ??= 'application/json';
      payload = form ? new URLSearchParams(body).toString() : JSON.stringify(body);
    }
    try {
      const res = await fetch(target, { method: cfg.method.toUpperCase(), headers, body: payload ?? null, redirect: 'manual', signal: AbortSignal.timeout(cfg.timeoutMs) });
      const text = await readCapped(res, MAX_ANSWER_BYTES);
      if (text === undefined) return { failed: `answer larger than ${MAX_ANSWER_BYTES / 1024} KiB` };
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      return { status: res.status, type, fields: parseFields(type, text) };
    } catch (err) {
      // Read by shape, not instanceof: fetch's errors may come from another realm.
      const name = field(err, 'name');
      if (name === 'TimeoutError' || name === 'AbortError') return { failed: `no answer within ${cfg.timeoutMs} ms` };
      const code = field(field(err, 'cause'), 'code');
      return { failed: `request failed${typeof code === 'string' ? ` (${code})` : ''}` };
    }
  }

  const failed = <R extends string>(kind: 'authn' | 'authz', result: R, problem: string) => {
    log.warn({ source: 'http', kind, problem, policy: result }, 'http source failure');
    return { result, reason: `backend failure: ${problem}`, detail: { failure: true } } as const;
  };

  async function authorize(req: AclRequest): Promise<SourceAuthz> {
    if (cfg.aclUrl === undefined) return { result: 'ignore', reason: 'HTTP_SOURCE_ACL_URL is not set' };
    const a = await ask(cfg.aclUrl, render(authzBody, (n) => aclValue(req, n)));
    if ('failed' in a) return failed('authz', policy.authz, a.failed);
    if (a.status === 204) return { result: 'allow', reason: 'service answered 204' };
    if (a.status !== 200) return failed('authz', policy.authz, `status ${a.status}`);
    // Authorization reads a missing content type as JSON (emqx.md §4.2).
    if (a.type !== '' && a.type !== 'application/json' && a.type !== 'application/x-www-form-urlencoded') return failed('authz', policy.authz, `content type "${a.type.slice(0, 60)}"`);
    if (a.fields === undefined) return failed('authz', policy.authz, 'answer body cannot be read');
    const result = a.fields['result'];
    if (result === 'allow' || result === 'deny') return { result, reason: `service ${result === 'allow' ? 'allowed' : 'denied'}` };
    if (result === 'ignore' || result === undefined) return { result: 'ignore', reason: 'service did not match' };
    return failed('authz', policy.authz, 'answer has an unknown result');
  }

  return {
    name: 'http',
    authorize,
    async authorizeMany(reqs: readonly AclRequest[]): Promise<SourceAuthz[]> {
      const limit = pLimit(HTTP_SOURCE_CONCURRENCY);
      return Promise.all(reqs.map((req) => limit(() => authorize(req))));
    },
    async authenticate(req: AuthnRequest): Promise<SourceAuthn> {
      const a = await ask(cfg.url, render(authnBody, (n) => placeholderValue(req, n)));
      if ('failed' in a) return failed('authn', policy.authn, a.failed);
      if (a.status === 204) return { result: 'allow', is_superuser: false, reason: 'service answered 204' };
      if (a.status !== 200) return failed('authn', policy.authn, `status ${a.status}`);
      // Authentication needs a declared JSON or form answer (emqx.md §3.1).
      if (a.type !== 'application/json' && a.type !== 'application/x-www-form-urlencoded') return failed('authn', policy.authn, `content type "${a.type.slice(0, 60)}"`);
      if (a.fields === undefined) return failed('authn', policy.authn, 'answer body cannot be read');
      const result = a.fields['result'];
      if (result === 'allow') return { result: 'allow', is_superuser: toBool(a.fields['is_superuser']), reason: 'service allowed' };
      if (result === 'deny') return { result: 'deny', reason: 'service denied' };
      if (result === 'ignore' || result === undefined) return { result: 'ignore', reason: 'service ignored' };
      return failed('authn', policy.authn, 'answer has an unknown result');
    },
  };
}

/**
 * The answer's body as text, or undefined as soon as it passes `max` bytes: a service that streams
 * an endless or huge body is cut off there, never buffered whole (it would exhaust the function's
 * memory before the size could be checked).
 */
async function readCapped(res: Response, max: number): Promise<string | undefined> {
  if (Number(res.headers.get('content-length') ?? 0) > max) {
    await res.body?.cancel();
    return undefined;
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseFields(type: string, text: string): Record<string, unknown> | undefined {
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? { ...parsed } : undefined;
  } catch {
    return undefined;
  }
}

const field = (value: unknown, key: string): unknown => (typeof value === 'object' && value !== null ? Reflect.get(value, key) : undefined);
