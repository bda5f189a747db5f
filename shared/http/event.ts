import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { BadRequestError } from '../errors.js';
import { splitPathToken, type PathToken } from './token.js';

/** API Gateway REST (payload 1.0) or HTTP API (payload 2.0) event. */
export type ApiEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Query parameters, decoded with form rules (`+` is a space). */
  readonly query: ReadonlyMap<string, string>;
  /** The body as text (base64 already decoded), or '' when there is none. */
  readonly body: string;
}

export const MAX_BODY_BYTES = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const isV2 = (event: ApiEvent): event is APIGatewayProxyEventV2 => 'requestContext' in event && event.requestContext !== null && 'http' in event.requestContext;

/**
 * The request headers with lower-cased names (payload 1.0 keeps the sender's case). A header sent
 * more than once is its values joined by commas, as payload 2.0 carries it (payload 1.0 keeps only
 * the last one in `headers`): two Authorization headers read as one malformed header, never as
 * whichever of them happened to be kept.
 */
export function headersOf(event: ApiEvent): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) if (typeof value === 'string') headers[name.toLowerCase()] = value;
  const multi = 'multiValueHeaders' in event ? event.multiValueHeaders : undefined;
  for (const [name, values] of Object.entries(multi ?? {})) {
    if (Array.isArray(values) && values.length > 1) headers[name.toLowerCase()] = values.join(', ');
  }
  return headers;
}

/**
 * The `/k/<token>` segments of the request path, if any. The path itself is the source (it is the
 * same whether or not the API declares a `{token}` parameter); a `token` path parameter only says
 * that a stage or base-path segment may come before them.
 */
export function pathTokenOf(event: ApiEvent): PathToken | undefined {
  const raw = isV2(event) ? event.rawPath : event.path;
  return splitPathToken(raw ?? '', typeof event.pathParameters?.['token'] === 'string');
}

/**
 * Reads either payload format into one shape; rejects oversized or non-UTF-8 bodies. The path
 * comes without its `/k/<token>` segments, so no token travels further (checked by `brokerAuth`).
 */
export function readEvent(event: ApiEvent): HttpRequest {
  const headers = headersOf(event);

  let method: string;
  let query: Map<string, string>;
  const path = pathTokenOf(event)?.rest ?? (isV2(event) ? event.rawPath : event.path);
  if (isV2(event)) {
    method = event.requestContext.http.method;
    query = parseForm(event.rawQueryString ?? '', 'query string');
  } else {
    method = event.httpMethod;
    // Payload 1.0 has no raw query string; API Gateway has already decoded the values, keeping
    // only the last of a repeated name in queryStringParameters.
    for (const [k, v] of Object.entries(event.multiValueQueryStringParameters ?? {})) if (Array.isArray(v) && v.length > 1) throw new BadRequestError(repeated('query string', k));
    query = new Map();
    for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (typeof v === 'string') query.set(k, v);
  }

  let body = '';
  if (typeof event.body === 'string' && event.body !== '') {
    if (event.isBase64Encoded) {
      const bytes = Buffer.from(event.body, 'base64');
      if (bytes.length > MAX_BODY_BYTES) throw new BadRequestError(`body is larger than ${MAX_BODY_BYTES / 1024} KiB`);
      try {
        body = utf8.decode(bytes);
      } catch {
        throw new BadRequestError('body is not valid UTF-8');
      }
    } else {
      if (Buffer.byteLength(event.body, 'utf8') > MAX_BODY_BYTES) throw new BadRequestError(`body is larger than ${MAX_BODY_BYTES / 1024} KiB`);
      if (!event.body.isWellFormed()) throw new BadRequestError('body is not valid UTF-8');
      body = event.body;
    }
  }
  return { method: method.toUpperCase(), path, headers, query, body };
}

const repeated = (what: string, key: string): string => `${what} has "${key.slice(0, 40)}" more than once`;

/**
 * Strict `application/x-www-form-urlencoded` decoding: `+` is a space, and a malformed
 * percent-escape or one that is not UTF-8 is a 400 rather than a silent U+FFFD. So is a name given
 * twice (`username=a&username=b`): which one counts would differ between this service and any
 * proxy or log in front of it.
 */
export function parseForm(text: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  if (text === '') return out;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    let key: string;
    let value: string;
    try {
      key = decode(rawKey);
      value = decode(rawValue);
    } catch {
      throw new BadRequestError(`${what} is not valid form encoding (bad percent-escape or invalid UTF-8 near "${rawKey.slice(0, 40)}")`);
    }
    if (out.has(key)) throw new BadRequestError(repeated(what, key));
    out.set(key, value);
  }
  return out;
}

const decode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
