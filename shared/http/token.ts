import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The broker authenticates itself to the endpoint with a shared token: `Authorization: Bearer
 * <token>`, or, for brokers that cannot send a header, a first path segment pair `/k/<token>/` in
 * front of the usual route. Pure functions only; the middleware that applies them is
 * `brokerAuth` in `middleware.ts`. No message produced here ever contains a token.
 */

/** Routes served without a token (the health check: it answers no question about a client). */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/health']);

/** What a token may contain: visible ASCII without spaces, so it fits a header as it is. */
export const TOKEN_PATTERN = /^[\x21-\x7e]+$/;
export const TOKEN_SHAPE = 'must be visible ASCII without spaces (e.g. the output of `openssl rand -hex 32`)';

/**
 * How many tokens the configuration may hold at once: the current one and, while brokers move to it
 * during a rotation, the previous one.
 */
export const MAX_TOKENS = 2;

/** Separates the configured tokens: ASCII whitespace only, so any other character stays in a token (and is refused there). */
const SEPARATOR = /[ \t\r\n]+/;

/** The tokens a configured value (BROKER_TOKEN, or the secret's token) holds, in order; `[]` for a blank value. */
export function splitTokens(value: string): string[] {
  return value.split(SEPARATOR).filter((t) => t !== '');
}

/** Why a list of configured tokens cannot be used, or undefined when it can; never quotes a token. */
export function tokensProblem(tokens: readonly string[]): string | undefined {
  if (tokens.length === 0) return 'holds no token';
  if (tokens.length > MAX_TOKENS) return `holds ${tokens.length} tokens; at most ${MAX_TOKENS} are accepted (the current and the previous, separated by whitespace)`;
  if (tokens.some((t) => !TOKEN_PATTERN.test(t))) return `${tokens.length === 1 ? 'the token' : 'each token'} ${TOKEN_SHAPE}; separate the current and the previous token with whitespace`;
  return undefined;
}

/** Why a configured value cannot be used, or undefined when it can (settings check BROKER_TOKEN with it). */
export function tokenProblem(value: string): string | undefined {
  return tokensProblem(splitTokens(value));
}

/** A path split at its `/k/<token>` segments. */
export interface PathToken {
  /** The token segment as it arrived (percent-encoded, if it was). */
  readonly segment: string;
  /** The path without the two segments: the route the request is for. */
  readonly rest: string;
}

/**
 * Finds `/k/<token>` in a path. It must be the first two segments, unless `afterPrefix` says API
 * Gateway matched a route with a `{token}` parameter: then a stage or base-path segment may come
 * first (`/prod/k/<token>/mqtt/auth`) and is kept in `rest`.
 */
export function splitPathToken(path: string, afterPrefix = false): PathToken | undefined {
  const parts = path.split('/');
  const at = parts[1] === 'k' ? 1 : afterPrefix ? parts.indexOf('k', 2) : -1;
  const segment = at < 0 ? undefined : parts[at + 1];
  if (segment === undefined) return undefined;
  const rest = [...parts.slice(0, at), ...parts.slice(at + 2)].join('/');
  return { segment, rest: rest === '' ? '/' : rest };
}

/** The path as it may be logged or shown: the segment after the first `k` replaced, wherever it is. */
export function redactPath(path: string): string {
  const parts = path.split('/');
  const at = parts.indexOf('k', 1);
  if (at < 0 || at + 1 >= parts.length) return path;
  parts[at + 1] = '[redacted]';
  return parts.join('/');
}

/** The outcome of a check; `problem` is safe to log and to answer with. */
export type TokenCheck = { readonly ok: true } | { readonly ok: false; readonly problem: string };

export interface Presented {
  /** The Authorization header's value, if there was one. */
  readonly authorization: string | undefined;
  /** The `/k/<token>` segment, still percent-encoded, if the path had one. */
  readonly pathSegment: string | undefined;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Compares in constant time: both sides are hashed to 32 bytes first, so neither the content nor
 * the length of the expected token shows in the time taken.
 */
export function sameToken(expected: string, presented: string): boolean {
  return timingSafeEqual(digest(expected), digest(presented));
}

/**
 * The credential in an Authorization header: scheme `Bearer` in any case, then the token. Only
 * HTTP's own whitespace (space, tab) around it is dropped: a token followed by any other character
 * (a no-break space, a BOM) is not the token.
 */
function bearerOf(value: string): { token: string } | { problem: string } {
  const m = /^(\S+)(?:[ \t]+(\S+))?$/.exec(value.replace(/^[ \t]+|[ \t]+$/g, ''));
  if (!m) return { problem: 'Authorization header is malformed; expected "Bearer <token>"' };
  if (m[1]?.toLowerCase() !== 'bearer') return { problem: 'Authorization header must use the Bearer scheme' };
  if (m[2] === undefined) return { problem: 'Authorization header has an empty Bearer token' };
  return { token: m[2] };
}

function pathTokenOf(segment: string): { token: string } | { problem: string } {
  let token: string;
  try {
    token = decodeURIComponent(segment);
  } catch {
    return { problem: 'path token is not valid percent-encoding' };
  }
  return token === '' ? { problem: 'path token is empty' } : { token };
}

/**
 * Checks what a request presented against the accepted tokens (one, or the current and the previous
 * during a rotation). At least one credential must be presented, and every one presented must match
 * one of them: a right path token does not excuse a wrong header. Each presented token is compared
 * with every accepted one, without stopping at a match, so the time taken does not tell which (or
 * whether any) matched.
 */
export function checkToken(accepted: string | readonly string[], presented: Presented): TokenCheck {
  const expected = typeof accepted === 'string' ? [accepted] : accepted;
  const found: Array<{ token: string } | { problem: string }> = [];
  if (presented.authorization !== undefined) found.push(bearerOf(presented.authorization));
  if (presented.pathSegment !== undefined) found.push(pathTokenOf(presented.pathSegment));
  if (found.length === 0) return { ok: false, problem: 'broker token required: send "Authorization: Bearer <token>" or prefix the path with /k/<token>' };
  for (const f of found) {
    if ('problem' in f) return { ok: false, problem: f.problem };
    if (!anyToken(expected, f.token)) return { ok: false, problem: 'broker token is wrong' };
  }
  return { ok: true };
}

/** True when `presented` is one of `expected`; every comparison runs, whichever matches. */
export function anyToken(expected: readonly string[], presented: string): boolean {
  let matched = false;
  for (const e of expected) matched = sameToken(e, presented) || matched;
  return matched;
}
