import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { createAclHandler } from '../../functions/acl.js';
import { createAuthHandler } from '../../functions/auth.js';
import { createHealthHandler } from '../../functions/health.js';
import { hashPassword, parseHashConfig } from '../../shared/hash.js';
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
