import type { MqttClient } from 'mqtt';
import { hashPassword, parseHashConfig } from '../../shared/hash.js';
import { freshDatabase, SCHEMA, type TestDatabase } from '../helpers/databases.js';
import { mqttConnect, startRabbit, type RunningRabbit } from '../helpers/rabbitmq.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/**
 * End to end with a real broker: a private RabbitMQ 3.10 with its MQTT plugin and HTTP auth backend
 * pointed at the local server on real PostgreSQL, and a real MQTT client (mqtt.js, MQTT 3.1.1 —
 * RabbitMQ 3.10 speaks no MQTT 5). Never skipped: if the broker cannot start, the suite fails.
 */

let db: TestDatabase;
let server: RunningServer;
let rabbit: RunningRabbit;
const clients: MqttClient[] = [];

beforeAll(async () => {
  db = await freshDatabase('postgres', 'maf_e2e_rabbitmq');
  await db.execFile(SCHEMA.postgres);
  const cfg = parseHashConfig({ name: 'bcrypt', salt_rounds: 4 });
  for (const [username, password, superuser] of [
    ['alice', 'alice-secret', false],
    ['watcher', 'watcher-secret', true],
  ] as const) {
    const stored = await hashPassword(cfg, password);
    await db.exec('INSERT INTO mqtt_user (username, password_hash, is_superuser) VALUES ($1, $2, $3)', [username, stored.hash, superuser]);
  }
  for (const [permission, action, topic] of [
    ['allow', 'all', 'alice/#'],
    ['allow', 'subscribe', 'devices/${clientid}/+'],
    ['deny', 'all', '#'],
  ]) {
    await db.exec("INSERT INTO mqtt_acl (username, permission, action, topic) VALUES ('alice', $1, $2, $3)", [permission, action, topic]);
  }
  server = await startServer({ DATABASE_URL: db.url, PASSWORD_HASH: '{"name":"bcrypt"}', LOG_LEVEL: 'debug' });
  rabbit = await startRabbit(server.url, 60_000);
}, 100_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await rabbit?.stop();
  await server?.stop();
  await db?.close();
}, 30_000);

const connect = (username: string, password: string, clientId: string): Promise<MqttClient> => mqttConnect(rabbit.mqttPort, clients, username, password, clientId);

/** Resolves with what happened first: the broker closed the connection, or the operation completed. */
async function closedOrDone(client: MqttClient, op: Promise<unknown>): Promise<'closed' | 'done'> {
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  return Promise.race([closed, op.then(() => 'done' as const, () => 'closed' as const)]);
}

function collect(client: MqttClient): Array<[string, string]> {
  const got: Array<[string, string]> = [];
  client.on('message', (topic, payload) => got.push([topic, payload.toString()]));
  return got;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RabbitMQ 3.10 with rabbitmq_auth_backend_http pointed at the local server', () => {
  it('connects with the right password', async () => {
    const client = await connect('alice', 'alice-secret', 'c-alice-1');
    expect(client.connected).toBe(true);
    client.end(true);
  });

  it('refuses a wrong password with CONNACK 4 (bad username or password)', async () => {
    await expect(connect('alice', 'wrong', 'c-alice-2')).rejects.toMatchObject({ code: 4 });
  });

  it('refuses an unknown user with CONNACK 4', async () => {
    await expect(connect('mallory', 'alice-secret', 'c-mallory')).rejects.toMatchObject({ code: 4 });
  });

  it('delivers an allowed publish to an allowed subscription (routing keys mapped back to topics)', async () => {
    const alice = await connect('alice', 'alice-secret', 'c-alice-3');
    const got = collect(alice);
    await alice.subscribeAsync('alice/#', { qos: 1 });
    await alice.subscribeAsync('devices/c-alice-3/+', { qos: 0 });
    await alice.publishAsync('alice/x/y', 'hello', { qos: 1 });
    // alice may not publish there; a superuser does, and alice's placeholder subscription receives it.
    const watcher = await connect('watcher', 'watcher-secret', 'c-watcher-3');
    await watcher.publishAsync('devices/c-alice-3/temp', '21', { qos: 1 });
    for (let i = 0; i < 40 && got.length < 2; i += 1) await settle(100);
    watcher.end(true);
    expect(got.sort()).toEqual([
      ['alice/x/y', 'hello'],
      ['devices/c-alice-3/temp', '21'],
    ]);
    alice.end(true);
  });

  it('refuses a denied subscription: RabbitMQ closes the connection (no SUBACK)', async () => {
    const alice = await connect('alice', 'alice-secret', 'c-alice-4');
    expect(await closedOrDone(alice, alice.subscribeAsync('bob/#', { qos: 1 }))).toBe('closed');
    // A placeholder only ever names the client's own id.
    const again = await connect('alice', 'alice-secret', 'c-alice-5');
    expect(await closedOrDone(again, again.subscribeAsync('devices/c-other/+', { qos: 0 }))).toBe('closed');
  });

  it('refuses a denied publish: the connection is closed and nothing is delivered', async () => {
    const watcher = await connect('watcher', 'watcher-secret', 'c-watcher');
    const seen = collect(watcher);
    await watcher.subscribeAsync('bob/#', { qos: 1 });
    const alice = await connect('alice', 'alice-secret', 'c-alice-6');
    expect(await closedOrDone(alice, alice.publishAsync('bob/x', 'sneaky', { qos: 1 }))).toBe('closed');
    // The superuser (tag administrator) may publish there, and that message does arrive.
    await watcher.publishAsync('bob/x', 'legit', { qos: 1 });
    for (let i = 0; i < 40 && seen.length < 1; i += 1) await settle(100);
    await settle(200);
    expect(seen).toEqual([['bob/x', 'legit']]);
    watcher.end(true);
  });

  it('was really asked through the /rabbitmq routes, and never logged a password', () => {
    const out = server.output();
    for (const route of ['rabbitmq/user', 'rabbitmq/vhost', 'rabbitmq/resource', 'rabbitmq/topic']) expect(out).toContain(`"route":"${route}"`);
    // Every queue and exchange check of an MQTT connection is one the resource endpoint grants.
    expect(out).not.toContain('"route":"rabbitmq/resource","answer":"deny"');
    expect(out).not.toContain('alice-secret');
    expect(out).not.toContain('watcher-secret');
  });
});
