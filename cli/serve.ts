import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { DataDirInUse } from '../shared/db/pglite-lock.js';
import { ConfigError } from '../shared/errors.js';
import { MAX_BODY_BYTES } from '../shared/http/event.js';
import type { HttpResult } from '../shared/http/middleware.js';
import { OPEN_PATHS, redactPath, splitPathToken } from '../shared/http/token.js';
import { ROUTES, routeFor } from '../shared/routes.js';

/**
 * `npm start`: the Lambda handlers served over plain HTTP. Each request becomes an API Gateway
 * HTTP API (payload 2.0) event, so the local server runs exactly the code that runs on Lambda.
 */

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

async function main(): Promise<void> {
  let routes: Record<string, Handler>;
  let container;
  try {
    container = (await import('../shared/container.js')).defaultContainer();
    const fns = [...new Set(ROUTES.map((r) => r.fn))];
    const modules = await Promise.all(fns.map(async (fn) => [fn, ((await import(`../functions/${fn}.js`)) as { handler: Handler }).handler] as const));
    const byFn = new Map(modules);
    routes = Object.fromEntries(ROUTES.map((r) => [r.path, byFn.get(r.fn) as Handler]));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const { log, settings } = container;
  const started = Date.now();
  // Open the database before accepting requests (PGlite is created and seeded on its first run).
  try {
    await (await container.store()).query('SELECT 1', []);
  } catch (err) {
    if (err instanceof DataDirInUse) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(1);
    }
    if (settings.database.engine === 'pglite') throw err;
    log.warn({ problem: err instanceof Error ? err.message : String(err) }, 'database not reachable yet; answering by the failure policies until it is');
  }

  // Read the token once now, so a bad secret stops start-up and an open server says so.
  try {
    if ((await container.brokerToken()) === undefined) {
      log.warn('no broker token configured (BROKER_TOKEN or BROKER_TOKEN_SECRET_ARN): every route answers anyone who can reach this server');
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(1);
    }
    log.warn({ problem: err instanceof Error ? err.message : String(err) }, 'broker token not readable yet; answering 503 until it is');
  }

  const server = createServer((req, res) => {
    void serve(routes, req, res).catch((err: unknown) => {
      log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'local server error');
      if (!res.headersSent) send(res, { statusCode: 500, headers: { 'content-type': 'application/json' }, body: '{"error":"internal error"}' });
    });
  });
  server.on('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`configuration error: cannot listen on HOST=${settings.host} PORT=${settings.port}: ${err.code ?? err.message}\n`);
    process.exit(1);
  });
  server.listen(settings.port, settings.host, () => {
    const where = settings.database.engine === 'pglite' ? `embedded PGlite in ${settings.database.dataDir}` : settings.database.engine;
    log.info({ port: settings.port, database: settings.database.engine, ms: Date.now() - started }, `listening on http://${settings.host}:${settings.port} (${where})`);
  });

  const stop = (): void => {
    server.close();
    void container.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function serve(routes: Record<string, Handler>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return send(res, { statusCode: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'malformed request target' }) });
  }
  // `/k/<token>/<route>` is `<route>` with the token in the path; the handler checks the token.
  const tokenPath = splitPathToken(url.pathname);
  const path = tokenPath?.rest ?? url.pathname;
  const handler = tokenPath && OPEN_PATHS.has(path) ? undefined : routes[path];
  if (!handler) return send(res, { statusCode: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: `no route ${redactPath(url.pathname)}` }) });
  const method = req.method ?? 'GET';
  const allowed: readonly string[] = routeFor(path)?.methods ?? [];
  if (!allowed.includes(method)) {
    return send(res, { statusCode: 405, headers: { 'content-type': 'application/json', allow: allowed.join(', ') }, body: JSON.stringify({ error: `method ${method} not allowed` }) });
  }
  const body = await readBody(req);
  if (body === undefined) return send(res, { statusCode: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: `body is larger than ${MAX_BODY_BYTES / 1024} KiB` }) });

  // Every value of a repeated header, joined as API Gateway joins them: `req.headers` keeps only the
  // first Authorization, so a second one (right or wrong) would go unseen.
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headersDistinct)) if (v !== undefined) headers[k] = v.join(', ');
  const now = Date.now();
  // As API Gateway sends it for a route declared as /k/{token}/<route>.
  const routeKey = `${method} ${tokenPath ? `/k/{token}${path}` : path}`;
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path: url.pathname, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    ...(tokenPath ? { pathParameters: { token: tokenPath.segment } } : {}),
    ...(body.length > 0 ? { body: body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0,
  };
  send(res, await handler(event, localContext()));
}

/** The request body, or undefined when it is over the size limit. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, result: HttpResult): void {
  res.writeHead(result.statusCode, Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k, String(v)])));
  res.end(result.body);
}

function localContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:local',
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 5000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

void main();
