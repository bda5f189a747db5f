import mqtt, { type MqttClient } from 'mqtt';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './server.js';

/**
 * A private RabbitMQ (the Debian package's 3.10) for end-to-end tests, started as in brokers.md
 * §2.5: its own node name, state in a temporary folder, every port (AMQP, MQTT, distribution,
 * epmd) chosen free, so the machine's own RabbitMQ on 5672 and Mosquitto on 1883 are untouched.
 * The HTTP auth backend points at `authUrl` (our local server). Fails loudly when it cannot start.
 */

const BIN = '/usr/lib/rabbitmq/bin';
const run = promisify(execFile);

export interface RunningRabbit {
  readonly mqttPort: number;
  /** The broker's own log files, for failure messages. */
  readonly logs: () => string;
  stop(): Promise<void>;
}

export async function startRabbit(authUrl: string, timeoutMs = 60_000): Promise<RunningRabbit> {
  if (!existsSync(`${BIN}/rabbitmq-server`)) throw new Error(`RabbitMQ is not installed (${BIN}/rabbitmq-server is missing): apt-get install -y rabbitmq-server`);
  // Four different ports (the kernel may hand a just-closed port out again).
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort());
  const [amqp, mqtt, dist, epmd] = [...ports] as [number, number, number, number];
  const state = mkdtempSync(join(tmpdir(), 'maf-rabbit-'));
  for (const dir of ['home', 'mnesia', 'log']) mkdirSync(join(state, dir));
  const node = `maf${process.pid}@localhost`;
  writeFileSync(
    join(state, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${amqp}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${mqtt}`,
      'mqtt.allow_anonymous = false',
      'mqtt.vhost = /',
      'mqtt.exchange = amq.topic',
      'loopback_users = none',
      'auth_backends.1 = http',
      'auth_http.http_method = post',
      ...['user', 'vhost', 'resource', 'topic'].map((p) => `auth_http.${p}_path = ${authUrl}/rabbitmq/${p}`),
      '',
    ].join('\n'),
  );
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(state, 'home'),
    RABBITMQ_CONFIG_FILE: join(state, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(state, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(state, 'mnesia'),
    RABBITMQ_LOG_BASE: join(state, 'log'),
    RABBITMQ_PID_FILE: join(state, 'rabbit.pid'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_DIST_PORT: String(dist),
    ERL_EPMD_PORT: String(epmd),
  };
  const logs = (): string => {
    const files = [join(state, 'server.out'), join(state, 'log', `${node}.log`)];
    return files.map((f) => (existsSync(f) ? `--- ${f}\n${readFileSync(f, 'utf8').slice(-4000)}` : '')).join('\n');
  };
  const cleanup = async (): Promise<void> => {
    await run(`${BIN}/rabbitmqctl`, ['-n', node, 'stop'], { env, timeout: 20_000 }).catch(() => undefined);
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    epmdDaemon.kill('SIGKILL');
    rmSync(state, { recursive: true, force: true });
  };

  // Our own epmd, in the foreground on our port, started before any Erlang tool runs: every
  // Erlang program here registers with it instead of starting a daemon, and we stop it by its pid
  // (`epmd -kill` refuses while a node is still registered).
  const epmdDaemon = spawn('epmd', ['-port', String(epmd), '-address', '127.0.0.1'], { env, stdio: 'ignore' });
  for (let i = 0; !(await listening(epmd)); i += 1) {
    if (epmdDaemon.exitCode !== null || i > 40) {
      epmdDaemon.kill('SIGKILL');
      rmSync(state, { recursive: true, force: true });
      throw new Error(`epmd did not start on port ${epmd}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    await run(`${BIN}/rabbitmq-plugins`, ['enable', '--offline', 'rabbitmq_mqtt', 'rabbitmq_auth_backend_http'], { env, timeout: 30_000 });
  } catch (err) {
    epmdDaemon.kill('SIGKILL');
    rmSync(state, { recursive: true, force: true });
    throw new Error(`could not enable the RabbitMQ plugins: ${err instanceof Error ? err.message : String(err)}`);
  }
  const out = openSync(join(state, 'server.out'), 'w');
  const child = spawn(`${BIN}/rabbitmq-server`, [], { env, detached: true, stdio: ['ignore', out, out] });
  const deadline = Date.now() + timeoutMs;
  while (!(await listening(mqtt))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const why = child.exitCode !== null ? `exited with ${child.exitCode}` : `did not open its MQTT port ${mqtt} within ${timeoutMs} ms`;
      const text = logs();
      await cleanup();
      throw new Error(`RabbitMQ ${why}:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { mqttPort: mqtt, logs, stop: cleanup };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * An MQTT 3.1.1 client of the private RabbitMQ, resolved at CONNACK; a refused or closed connection
 * rejects. Each client is added to `clients` so the suite can end them all.
 */
export function mqttConnect(port: number, clients: MqttClient[], username: string, password: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username, password, clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 15_000 });
    clients.push(client);
    client.once('connect', () => resolve(client));
    client.once('error', (err) => reject(err));
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}
