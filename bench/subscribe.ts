import type { Context } from 'aws-lambda';
import { createVernemqHandler } from '../functions/vernemq.js';
import { createContainer } from '../shared/container.js';
import type { SqlStore } from '../shared/db/port.js';
import { createLogger } from '../shared/log.js';
import { loadSettings } from '../shared/settings.js';
import { freshDatabase, SCHEMA, type Engine } from '../tests/helpers/databases.js';
import { apiEvent } from '../tests/helpers/harness.js';
import { interleave, median, timed } from './interleave.js';

/**
 * `npm run bench:subscribe`: a VerneMQ `auth_on_subscribe` of 50 filters through the handler, on real
 * PostgreSQL and MariaDB, as a ratio to a one-filter subscribe measured in the same run; beside it,
 * 50 one-filter subscribes — what 50 filters cost when each ran its own ACL query.
 */

const FILTERS = 50;
const ROUNDS = 200;
const WARMUP = 20;

async function benchEngine(engine: Engine): Promise<void> {
  const db = await freshDatabase(engine, `maf_bench_sub_${engine}`);
  await db.execFile(SCHEMA[engine]);
  const m = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
  for (const r of [
    ['alice', 'allow', 'all', 'alice/#'],
    ['alice', 'allow', 'subscribe', 'devices/${clientid}/+'],
    ['alice', 'deny', 'all', '#'],
  ]) {
    await db.exec(`INSERT INTO mqtt_acl (username, permission, action, topic) VALUES (${m(1)}, ${m(2)}, ${m(3)}, ${m(4)})`, r);
  }
  const settings = loadSettings({ DATABASE_URL: db.url, DB_POOL_MAX: '4', SOURCES: 'sql' });
  const opened = createContainer(settings, { log: createLogger('silent') });
  const real = await opened.store();
  let queries = 0;
  const counting: SqlStore = { dialect: real.dialect, query: (text, params) => ((queries += 1), real.query(text, params)), close: async () => {} };
  const handler = createVernemqHandler(createContainer(settings, { store: counting, log: createLogger('silent') }));
  const ctx = {} as Context;
  const topics = Array.from({ length: FILTERS }, (_, i) => ({ topic: i % 2 === 0 ? `alice/${i}` : `bob/${i}`, qos: 1 }));
  const subscribe = async (filters: ReadonlyArray<{ topic: string; qos: number }>): Promise<string> => {
    const res = await handler(apiEvent('/vernemq', { contentType: 'application/json', body: JSON.stringify({ client_id: 'c-alice', mountpoint: '', username: 'alice', topics: filters }), headers: { 'vernemq-hook': 'auth_on_subscribe' } }), ctx);
    return res.body;
  };
  // Each variant must really be judged, or the comparison is meaningless.
  const want = JSON.stringify({ result: 'ok', topics: topics.map((t, i) => ({ topic: t.topic, qos: i % 2 === 0 ? 1 : 128 })) });
  if ((await subscribe(topics)) !== want || (await subscribe([topics[0]!])) !== '{"result":"ok"}') throw new Error(`${engine}: unexpected subscribe answer`);

  const variants: Array<[string, () => Promise<void>]> = [
    ['one-filter subscribe (baseline)', async () => void (await subscribe([topics[0]!]))],
    [`${FILTERS}-filter subscribe`, async () => void (await subscribe(topics))],
    [`${FILTERS} one-filter subscribes`, async () => {
      for (const t of topics) await subscribe([t]);
    }],
  ];
  // Interleaved in a rotating order so drift in the machine's load hits every variant alike.
  const perOp = new Map<string, number>();
  const samples = await interleave(variants, ROUNDS, async ([name, op]) => {
    const before = queries;
    const ms = await timed(op);
    perOp.set(name, queries - before);
    return ms;
  }, WARMUP);
  const medians = variants.map((_, i) => median(samples[i]!));
  const base = medians[0]!;
  console.log(`\n${engine}: median latency as a ratio to a one-filter subscribe, and ACL queries per operation:`);
  variants.forEach(([name], i) => console.log(`  ${name.padEnd(34)} ${(medians[i]! / base).toFixed(2)}×   ${perOp.get(name)} queries`));
  await opened.close();
  await db.close();
}

for (const engine of (process.argv[2] ? [process.argv[2] as Engine] : (['postgres', 'mysql'] as const))) await benchEngine(engine);
