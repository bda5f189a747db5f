import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { mqttConnect, startRabbit, type RunningRabbit } from '../helpers/rabbitmq.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/**
 * A real RabbitMQ 3.10 whose HTTP auth backend URLs carry the broker token as a path prefix
 * (`…/k/<token>/rabbitmq/user`), against the local server with BROKER_TOKEN, on the embedded
 * PGlite demo data. Then the server is restarted on the same port with another token: RabbitMQ
 * reads our 401 as a refusal (CONNACK 4), never as an allow.
 */

const TOKEN = 'rabbit-path-token-4d1f';
let dataDir: string;
let server: RunningServer;
let rabbit: RunningRabbit;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'maf-e2e-rabbit-token-'));
  server = await startServer({ DATA_DIR: dataDir, BROKER_TOKEN: TOKEN, LOG_LEVEL: 'info' }, 60_000);
  rabbit = await startRabbit(`${server.url}/k/${TOKEN}`, 60_000);
}, 130_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await rabbit?.stop();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

const connect = (username: string, password: string, clientId: string): Promise<MqttClient> => mqttConnect(rabbit.mqttPort, clients, username, password, clientId);

describe('RabbitMQ 3.10 with the broker token in its auth_http paths', () => {
  it('connects, subscribes and receives through /k/<token>/rabbitmq/*', async () => {
    const client = await connect('demo', 'public', 'c-demo-1');
    const got: string[] = [];
    client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await client.subscribeAsync('demo/#', { qos: 1 });
    await client.publishAsync('demo/room', 'hello', { qos: 1 });
    for (let i = 0; i < 50 && got.length === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(['demo/room hello']);
    client.end(true);
    expect(server.output()).not.toContain('broker token refused');
  }, 30_000);

  it('still refuses a wrong password with CONNACK 4', async () => {
    await expect(connect('demo', 'wrong', 'c-demo-2')).rejects.toMatchObject({ code: 4 });
  });

  it('reads a 401 (the server now expects another token) as a refusal: CONNACK 4', async () => {
    const { port } = new URL(server.url);
    await server.stop();
    server = await startServer({ DATA_DIR: dataDir, BROKER_TOKEN: 'a-different-token-77', LOG_LEVEL: 'info', PORT: port }, 60_000);
    // RabbitMQ may first try a kept-alive connection to the stopped server (also a refusal), so it
    // is asked twice; the server's log line is awaited, not assumed to have arrived with the CONNACK.
    await expect(connect('demo', 'public', 'c-demo-3')).rejects.toMatchObject({ code: 4 });
    await expect(connect('demo', 'public', 'c-demo-4')).rejects.toMatchObject({ code: 4 });
    const refusals = () => server.output().split('\n').filter((l) => l.includes('"msg":"broker token refused"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (let i = 0; i < 50 && refusals().length === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
    const seen = refusals().map((l) => [l['route'], l['problem']]);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen).toEqual(seen.map(() => ['rabbitmq-auth', 'broker token is wrong']));
    expect(server.output()).not.toContain(TOKEN);
  }, 90_000);
});
