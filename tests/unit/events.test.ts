import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { createAclHandler } from '../../functions/acl.js';
import { createAuthHandler } from '../../functions/auth.js';
import { createHealthHandler } from '../../functions/health.js';
import { createMosquittoAclHandler } from '../../functions/mosquitto-acl.js';
import { createRabbitmqAuthHandler } from '../../functions/rabbitmq-auth.js';
import { createVernemqHandler } from '../../functions/vernemq.js';
import { hashPassword, parseHashConfig } from '../../shared/hash.js';
import { readEvent } from '../../shared/http/event.js';
import { containerFor, context, FakeStore } from '../helpers/harness.js';

/** Captured API Gateway events (payload 1.0 and 2.0) through the real handlers. */

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as APIGatewayProxyEventV2 & APIGatewayProxyEvent;

describe('Function: handlers on captured API Gateway events', () => {
  let demo: { hash: string; salt: string };
  beforeAll(async () => {
    demo = await hashPassword(parseHashConfig({ name: 'sha256', salt_position: 'prefix' }), 'public');
  });

  const userStore = () => new FakeStore((params) => (params[0] === 'demo' ? [{ password_hash: demo.hash, salt: demo.salt, is_superuser: 0 }] : []));
  const aclStore = () =>
    new FakeStore([
      { permission: 'allow', action: 'all', topic: 'demo/#', qos: null, retain: null },
      { permission: 'allow', action: 'subscribe', topic: 'devices/${clientid}/#', qos: null, retain: null },
    ]);

  it('HTTP API 2.0, POST JSON: allows the right password and binds the username', async () => {
    const store = userStore();
    const res = await createAuthHandler(containerFor({}, store))(fixture('http-api-v2-post-json'), context);
    expect(res).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"result":"allow","is_superuser":false}' });
    expect(store.calls).toEqual([{ text: 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = $1 LIMIT 1', params: ['demo'] }]);
  });

  it('HTTP API 2.0, POST form with a base64 body: decodes it and allows the publish', async () => {
    const res = await createAclHandler(containerFor({}, aclStore()))(fixture('http-api-v2-post-form-base64'), context);
    expect(JSON.parse(res.body)).toEqual({ result: 'allow' });
  });

  it('REST API 1.0, GET with a query string and legacy access=1: judges the subscription', async () => {
    const res = await createAclHandler(containerFor({ AUTHZ_NO_MATCH: 'deny' }, aclStore()))(fixture('rest-api-v1-get-query'), context);
    expect(JSON.parse(res.body)).toEqual({ result: 'deny' });
  });

  it('REST API 1.0, POST JSON with a base64 body and a charset: denies a wrong password', async () => {
    const res = await createAuthHandler(containerFor({}, userStore()))(fixture('rest-api-v1-post-json-base64'), context);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ result: 'deny' });
  });

  it('health answers 200 with the engine and nothing secret', async () => {
    const c = containerFor({ DATABASE_URL: 'postgres://admin:hunter2@db.internal:5432/mqtt' }, new FakeStore([]));
    const res = await createHealthHandler(c)(fixture('http-api-v2-post-json'), context);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok', database: 'postgres' });
    expect(res.body).not.toMatch(/hunter2|db\.internal/);
  });
});

describe('Function: the broker token on captured API Gateway events', () => {
  /** The token the fixtures carry, in the path (`/k/<token>/…`) or as `Authorization: Bearer`. */
  const TOKEN = 'fx-9d2b7e41c0a35f68';
  let demo: { hash: string; salt: string };
  beforeAll(async () => {
    demo = await hashPassword(parseHashConfig({ name: 'sha256', salt_position: 'prefix' }), 'public');
  });
  const userStore = () => new FakeStore((params) => (params[0] === 'demo' ? [{ password_hash: demo.hash, salt: demo.salt, is_superuser: 0 }] : []));
  const aclStore = () => new FakeStore([{ permission: 'allow', action: 'all', topic: 'demo/#', qos: null, retain: null }]);
  const withHeaders = (event: APIGatewayProxyEventV2 & APIGatewayProxyEvent, headers: Record<string, string | undefined>) => ({ ...event, headers });
  const unauthorized = (problem: string) => ({ statusCode: 401, headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }, body: JSON.stringify({ error: problem }) });
  const REQUIRED = 'broker token required: send "Authorization: Bearer <token>" or prefix the path with /k/<token>';

  it('HTTP API 2.0, EMQX with Authorization: Bearer: allowed with the right token, 401 otherwise', async () => {
    const event = fixture('http-api-v2-post-json-bearer');
    expect(await createAuthHandler(containerFor({ BROKER_TOKEN: TOKEN }, userStore()))(event, context)).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"result":"allow","is_superuser":false}' });
    const store = userStore();
    expect(await createAuthHandler(containerFor({ BROKER_TOKEN: 'another-token' }, store))(event, context)).toEqual(unauthorized('broker token is wrong'));
    const { authorization: _, ...rest } = event.headers;
    expect(await createAuthHandler(containerFor({ BROKER_TOKEN: TOKEN }, store))(withHeaders(event, rest), context)).toEqual(unauthorized(REQUIRED));
    expect(store.calls).toEqual([]);
  });

  it('HTTP API 2.0, RabbitMQ on /k/{token}/rabbitmq/user: allow with the right token, 401 with another', async () => {
    const event = fixture('http-api-v2-token-path-rabbitmq-user');
    expect(await createRabbitmqAuthHandler(containerFor({ BROKER_TOKEN: TOKEN }, userStore()))(event, context)).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'allow' });
    const store = userStore();
    expect(await createRabbitmqAuthHandler(containerFor({ BROKER_TOKEN: 'another-token' }, store))(event, context)).toEqual(unauthorized('broker token is wrong'));
    expect(store.calls).toEqual([]);
  });

  it('HTTP API 2.0 on a named stage, VerneMQ on /prod/k/{token}/vernemq: the stage is tolerated, the token checked', async () => {
    const event = fixture('http-api-v2-stage-token-path-vernemq');
    expect(await createVernemqHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(event, context)).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"result":"ok"}' });
    expect(await createVernemqHandler(containerFor({ BROKER_TOKEN: 'another-token' }, aclStore()))(event, context)).toEqual(unauthorized('broker token is wrong'));
  });

  it('REST API 1.0, go-auth on /k/{token}/mosquitto/acl: granted with the right token, 401 with another', async () => {
    const event = fixture('rest-api-v1-token-path-mosquitto-acl');
    expect(await createMosquittoAclHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(event, context)).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' });
    expect(await createMosquittoAclHandler(containerFor({ BROKER_TOKEN: 'another-token' }, aclStore()))(event, context)).toEqual(unauthorized('broker token is wrong'));
  });

  it('REST API 1.0, EMQX GET with an Authorization header in its own case: allowed', async () => {
    const event = fixture('rest-api-v1-get-bearer');
    expect(JSON.parse((await createAclHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(event, context)).body)).toEqual({ result: 'allow' });
    expect(await createAclHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(withHeaders(event, { ...event.headers, Authorization: `bearer ${TOKEN}` }), context)).toMatchObject({ statusCode: 200 });
    expect(await createAclHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(withHeaders(event, { ...event.headers, Authorization: `Basic ${TOKEN}` }), context)).toEqual(unauthorized('Authorization header must use the Bearer scheme'));
  });

  it('REST API 1.0 with two Authorization headers: 401 whichever of them is right (headers keeps only the last)', async () => {
    const event = fixture('rest-api-v1-get-bearer');
    const twice = (first: string, second: string) => ({ ...event, headers: { ...event.headers, Authorization: second }, multiValueHeaders: { ...event.multiValueHeaders, Authorization: [first, second] } });
    const malformed = unauthorized('Authorization header is malformed; expected "Bearer <token>"');
    expect(await createAclHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(twice('Bearer wrong', `Bearer ${TOKEN}`), context)).toEqual(malformed);
    expect(await createAclHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(twice(`Bearer ${TOKEN}`, 'Bearer wrong'), context)).toEqual(malformed);
    expect(await createAclHandler(containerFor({ BROKER_TOKEN: TOKEN }, aclStore()))(twice(`Bearer ${TOKEN}`, `Bearer ${TOKEN}`), context)).toEqual(malformed);
  });

  it('the parsers see the route without the token segments', () => {
    expect(readEvent(fixture('http-api-v2-token-path-rabbitmq-user')).path).toBe('/rabbitmq/user');
    expect(readEvent(fixture('http-api-v2-stage-token-path-vernemq')).path).toBe('/prod/vernemq');
    expect(readEvent(fixture('rest-api-v1-token-path-mosquitto-acl')).path).toBe('/mosquitto/acl');
  });

  it('no token configured locally: the /k/ prefix is accepted and stripped; on Lambda every request is 401', async () => {
    expect((await createRabbitmqAuthHandler(containerFor({}, userStore()))(fixture('http-api-v2-token-path-rabbitmq-user'), context)).body).toBe('allow');
    expect((await createAuthHandler(containerFor({}, userStore()))(fixture('http-api-v2-post-json-bearer'), context)).statusCode).toBe(200);
    const lambda = { AWS_LAMBDA_FUNCTION_NAME: 'mqtt-auth-prod-rabbitmq-auth' };
    expect(await createRabbitmqAuthHandler(containerFor(lambda, userStore()))(fixture('http-api-v2-token-path-rabbitmq-user'), context)).toEqual(unauthorized('the endpoint has no broker token configured'));
    expect(await createAuthHandler(containerFor(lambda, userStore()))(fixture('http-api-v2-post-json-bearer'), context)).toEqual(unauthorized('the endpoint has no broker token configured'));
  });

  it('health needs no token, even on Lambda with one configured', async () => {
    const res = await createHealthHandler(containerFor({ BROKER_TOKEN: TOKEN, AWS_LAMBDA_FUNCTION_NAME: 'f' }, new FakeStore([])))(fixture('http-api-v2-post-json'), context);
    expect(res.statusCode).toBe(200);
  });
});
