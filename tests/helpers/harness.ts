import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createAclHandler } from '../../functions/acl.js';
import { createAuthHandler } from '../../functions/auth.js';
import { createContainer, type Container } from '../../shared/container.js';
import type { SqlStore } from '../../shared/db/port.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { loadSettings } from '../../shared/settings.js';
import type { Dialect } from '../../shared/template.js';
import type { Row } from '../../shared/types.js';

/** A logger that records what would be written, so tests can assert on it (and on what it lacks). */
export function memoryLogger(): { log: Logger; lines: () => string[] } {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (s: string) => void lines.push(s) });
  return { log, lines: () => lines };
}

/** An in-memory store implementing the storage port: returns fixed rows, records what it was asked. */
export class FakeStore implements SqlStore {
  readonly calls: Array<{ text: string; params: readonly string[] }> = [];
  constructor(
    private readonly rows: Row[] | ((params: readonly string[]) => Row[]) | Error,
    readonly dialect: Dialect = 'postgres',
  ) {}
  async query(text: string, params: readonly string[]): Promise<Row[]> {
    this.calls.push({ text, params });
    if (this.rows instanceof Error) throw this.rows;
    return typeof this.rows === 'function' ? this.rows(params) : this.rows;
  }
  async close(): Promise<void> {}
}

/**
 * A container built from environment-style settings, optionally over a given store. SOURCES is
 * `sql` unless given, so the store sees only the operator's queries (no built-in table probe).
 */
export function containerFor(env: Record<string, string>, store?: SqlStore, log?: Logger): Container {
  const opts: { store?: SqlStore; log?: Logger } = {};
  if (store) opts.store = store;
  opts.log = log ?? createLogger('silent');
  return createContainer(loadSettings({ SOURCES: 'sql', ...env }), opts);
}

export interface Sent {
  method?: 'GET' | 'POST' | 'PUT';
  contentType?: string | null;
  body?: string;
  query?: string;
  base64?: boolean;
  format?: 'v1' | 'v2';
  /** Further request headers (lower-case names). */
  headers?: Record<string, string>;
}

/** Builds an API Gateway event (payload 2.0 by default, 1.0 on request). */
export function apiEvent(path: string, sent: Sent = {}): APIGatewayProxyEventV2 | APIGatewayProxyEvent {
  const method = sent.method ?? (sent.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = {};
  if (sent.contentType) headers['content-type'] = sent.contentType;
  Object.assign(headers, sent.headers);
  const body = sent.body === undefined ? undefined : sent.base64 ? Buffer.from(sent.body, 'utf8').toString('base64') : sent.body;
  if ((sent.format ?? 'v2') === 'v1') {
    const qs: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(sent.query ?? '')) qs[k] = v;
    return {
      resource: path,
      path,
      httpMethod: method,
      headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.replace(/(^|-)\w/g, (m) => m.toUpperCase()), v])),
      multiValueHeaders: {},
      queryStringParameters: sent.query ? qs : null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      requestContext: {} as APIGatewayProxyEvent['requestContext'],
      body: body ?? null,
      isBase64Encoded: sent.base64 === true,
    };
  }
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: sent.query ?? '',
    headers,
    requestContext: {
      accountId: 'test',
      apiId: 'test',
      domainName: 'test',
      domainPrefix: 'test',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'jest' },
      requestId: 'r',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: sent.base64 === true,
  };
}

export const context = {} as Context;

export interface Answer {
  status: number;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

/** Calls the authentication and ACL handlers the way API Gateway would; `always` headers go with every call. */
export function handlersFor(c: Container, always: Record<string, string> = {}) {
  const authHandler = createAuthHandler(c);
  const aclHandler = createAclHandler(c);
  const call = async (which: 'auth' | 'acl', path: string, sent: Sent): Promise<Answer> => {
    const event = apiEvent(path, { ...sent, headers: { ...always, ...sent.headers } });
    const res = which === 'auth' ? await authHandler(event, context) : await aclHandler(event, context);
    return { status: res.statusCode, contentType: res.headers?.['content-type'] as string | undefined, body: JSON.parse(res.body) as Record<string, unknown> };
  };
  return {
    auth: (fields: Record<string, unknown>, sent: Sent = {}) => call('auth', '/mqtt/auth', { contentType: 'application/json', body: JSON.stringify(fields), ...sent }),
    acl: (fields: Record<string, unknown>, sent: Sent = {}) => call('acl', '/mqtt/acl', { contentType: 'application/json', body: JSON.stringify(fields), ...sent }),
    rawAuth: (sent: Sent) => call('auth', '/mqtt/auth', sent),
    rawAcl: (sent: Sent) => call('acl', '/mqtt/acl', sent),
  };
}

/** An answer with its body as the raw text the broker reads. */
export interface RawAnswer {
  status: number;
  contentType: string | undefined;
  body: string;
}

type LambdaHandler = (event: APIGatewayProxyEventV2 | APIGatewayProxyEvent, context: Context) => Promise<{ statusCode: number; headers?: Record<string, unknown>; body: string }>;

/** Calls any route's handler the way API Gateway would, keeping the body as text. */
export async function callRaw(handler: LambdaHandler, path: string, sent: Sent): Promise<RawAnswer> {
  const res = await handler(apiEvent(path, sent), context);
  return { status: res.statusCode, contentType: res.headers?.['content-type'] as string | undefined, body: res.body };
}
