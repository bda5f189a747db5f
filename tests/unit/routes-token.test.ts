import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { OPEN_PATHS } from '../../shared/http/token.js';
import { ROUTES, type Route } from '../../shared/routes.js';
import type { Sent } from '../helpers/harness.js';

/**
 * Every route in the table but /health, through the `handler` its function module exports (the
 * one Lambda runs), refuses a request without the token with 401: a route added to the table
 * without the check fails here. The modules build the process-wide container from the environment
 * when first imported, so the token is set before anything that imports them (the harness too).
 */

type Handler = (event: APIGatewayProxyEventV2 | APIGatewayProxyEvent, context: Context) => Promise<{ statusCode: number; body: string }>;
const TOKEN = 'routes-table-token-51c8';
const REQUIRED = '{"error":"broker token required: send \\"Authorization: Bearer <token>\\" or prefix the path with /k/<token>"}';
const guarded = ROUTES.filter((r) => !OPEN_PATHS.has(r.path));
const saved = { ...process.env };
const handlers = new Map<string, Handler>();
let apiEvent: (path: string, sent?: Sent) => APIGatewayProxyEventV2 | APIGatewayProxyEvent;
const context = {} as Context;

beforeAll(async () => {
  // The requests below fail parsing when admitted, so no database is ever reached.
  Object.assign(process.env, { BROKER_TOKEN: TOKEN, DATABASE_URL: 'postgres://nobody@127.0.0.1:9/unreachable', LOG_LEVEL: 'silent' });
  ({ apiEvent } = await import('../helpers/harness.js'));
  for (const fn of new Set(ROUTES.map((r) => r.fn))) handlers.set(fn, ((await import(`../../functions/${fn}.js`)) as { handler: Handler }).handler);
});
afterAll(() => {
  process.env = saved;
});

/** An unreadable body: every dialect refuses it as bad input once the token has been accepted. */
const ask = (r: Route, path: string, format: 'v1' | 'v2', headers: Record<string, string> = {}) => {
  const handler = handlers.get(r.fn);
  if (!handler) throw new Error(`no handler for ${r.fn}`);
  return handler(apiEvent(path, { method: r.methods.includes('POST') ? 'POST' : (r.methods[0] ?? 'GET'), contentType: 'application/json', body: '{"username":', format, headers }), context);
};

describe.each(['v1', 'v2'] as const)('Function: every guarded route in the table (payload %s)', (format) => {
  it('has routes to guard, and /health is not among them', () => {
    expect(guarded.length).toBe(ROUTES.length - 1);
    expect(guarded.map((r) => r.path)).not.toContain('/health');
  });

  it.each(guarded.map((r) => [r.path, r] as const))('%s: 401 without a token or with a wrong one; admitted with the right one', async (path, r) => {
    expect(await ask(r, path, format)).toMatchObject({ statusCode: 401, body: REQUIRED });
    expect(await ask(r, path, format, { authorization: 'Bearer wrong' })).toMatchObject({ statusCode: 401, body: '{"error":"broker token is wrong"}' });
    expect(await ask(r, `/k/wrong${path}`, format)).toMatchObject({ statusCode: 401, body: '{"error":"broker token is wrong"}' });
    expect((await ask(r, path, format, { authorization: `Bearer ${TOKEN}` })).statusCode).not.toBe(401);
    expect((await ask(r, `/k/${TOKEN}${path}`, format)).statusCode).not.toBe(401);
  });

  it('/health answers without a token', async () => {
    const health = handlers.get('health');
    expect((await health?.(apiEvent('/health', { format }), context))?.statusCode).toBe(200);
  });
});
