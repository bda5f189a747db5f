import { createHash, timingSafeEqual } from 'node:crypto';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { createAuthHandler } from '../functions/auth.js';
import { createContainer } from '../shared/container.js';
import { createLogger } from '../shared/log.js';
import { loadSettings } from '../shared/settings.js';
import type { Context } from 'aws-lambda';
import { freshDatabase, SCHEMA, TEST_MYSQL_URL, TEST_POSTGRES_URL, type Engine } from '../tests/helpers/databases.js';
import { apiEvent } from '../tests/helpers/harness.js';
import { interleave, median, timed } from './interleave.js';

/**
 * `npm run bench`: one authentication (default query, sha256 with a salt) per operation, on real
 * PostgreSQL and MariaDB. Every figure is a ratio to a baseline measured in the same run — these
 * machines are shared and noisy, so absolute numbers mean little.
 *
 *   pooled driver by hand     the baseline: the same SQL on a pooled driver, plus the digest check
 *   new connection by hand    what a hand-written function that connects per request pays
 *   handler                   the whole Lambda handler: event decoding, validation, Middy, domain
 */

const USERS = 10_000;
const QUERY = { postgres: 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = $1 LIMIT 1', mysql: 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ? LIMIT 1' };
const digest = (salt: string, password: string) => createHash('sha256').update(salt + password).digest('hex');
const check = (row: Record<string, unknown> | undefined, password: string): boolean => {
  if (!row) return false;
  const want = Buffer.from(String(row['password_hash']), 'hex');
  const got = Buffer.from(digest(String(row['salt'] ?? ''), password), 'hex');
  return want.length === got.length && timingSafeEqual(want, got);
};

async function seed(engine: Engine, exec: (sql: string, params?: unknown[]) => Promise<unknown>): Promise<void> {
  const batch = 1000;
  for (let start = 0; start < USERS; start += batch) {
    const values: unknown[] = [];
    const marks: string[] = [];
    for (let i = start; i < start + batch; i += 1) {
      const salt = `s${i}`;
      values.push(`user${i}`, digest(salt, `pw${i}`), salt);
      const n = values.length;
      marks.push(engine === 'postgres' ? `($${n - 2}, $${n - 1}, $${n})` : '(?, ?, ?)');
    }
    await exec(`INSERT INTO mqtt_user (username, password_hash, salt) VALUES ${marks.join(', ')}`, values);
  }
}

async function benchEngine(engine: Engine): Promise<void> {
  const db = await freshDatabase(engine, `maf_bench_${engine}`);
  await db.execFile(SCHEMA[engine]);
  await seed(engine, db.exec);
  const url = db.url;

  let i = 0;
  const next = () => {
    i = (i + 1) % USERS;
    return { username: `user${i}`, password: `pw${i}` };
  };

  const pooled =
    engine === 'postgres'
      ? (() => {
          const sql = postgres(url, { max: 4, prepare: false });
          return { run: async (u: string) => (await sql.unsafe(QUERY.postgres, [u]))[0], end: () => sql.end() };
        })()
      : (() => {
          const pool = mysql.createPool({ uri: url, connectionLimit: 4 });
          return { run: async (u: string) => ((await pool.execute(QUERY.mysql, [u]))[0] as Record<string, unknown>[])[0], end: () => pool.end() };
        })();

  const perRequest = async (u: string) => {
    if (engine === 'postgres') {
      const sql = postgres(url, { max: 1, prepare: false });
      try {
        return (await sql.unsafe(QUERY.postgres, [u]))[0];
      } finally {
        await sql.end();
      }
    }
    const conn = await mysql.createConnection({ uri: url });
    try {
      return ((await conn.execute(QUERY.mysql, [u]))[0] as Record<string, unknown>[])[0];
    } finally {
      await conn.end();
    }
  };

  const container = createContainer(loadSettings({ DATABASE_URL: url, DB_POOL_MAX: '4' }), { log: createLogger('silent') });
  const handler = createAuthHandler(container);
  const ctx = {} as Context;
  const viaHandler = async (u: string, p: string) => {
    const res = await handler(apiEvent('/mqtt/auth', { contentType: 'application/json', body: JSON.stringify({ username: u, password: p, clientid: 'bench' }) }), ctx);
    return res.body.includes('"allow"');
  };

  // Each variant must really authenticate, or the comparison is meaningless.
  const probe = next();
  if (!check(await pooled.run(probe.username), probe.password) || !check(await perRequest(probe.username), probe.password) || !(await viaHandler(probe.username, probe.password))) {
    throw new Error(`${engine}: a variant failed to authenticate the probe user`);
  }

  const fail = () => {
    throw new Error('authentication failed during the benchmark');
  };
  const variants: Array<[string, () => Promise<void>]> = [
    ['pooled driver by hand (baseline)', async () => {
      const c = next();
      if (!check(await pooled.run(c.username), c.password)) fail();
    }],
    ['handler', async () => {
      const c = next();
      if (!(await viaHandler(c.username, c.password))) fail();
    }],
    ['new connection by hand', async () => {
      const c = next();
      if (!check(await perRequest(c.username), c.password)) fail();
    }],
  ];
  // Interleaved: every round times one operation of each variant, in a rotating order, so drift in
  // the machine's load hits all of them alike. The first rounds only warm up.
  const ROUNDS = 1500;
  const WARMUP = 200;
  const samples = await interleave(variants, ROUNDS, ([, op]) => timed(op), WARMUP);
  const medians = variants.map((_, i) => median(samples[i]!));
  const base = medians[0]!;
  console.log(`\n${engine} (${engine === 'postgres' ? TEST_POSTGRES_URL : TEST_MYSQL_URL}), ${USERS} users, one caller, median latency as a ratio to the baseline:`);
  variants.forEach(([name], i) => console.log(`  ${name.padEnd(36)} ${(medians[i]! / base).toFixed(2)}×   (median ${(medians[i]! * 1000).toFixed(0)} µs here, now)`));

  // Throughput with 32 concurrent callers over the same pools.
  const concurrent = async (fn: () => Promise<unknown>, total = 4000, callers = 32): Promise<number> => {
    let left = total;
    const started = performance.now();
    await Promise.all(Array.from({ length: callers }, async () => {
      while (left-- > 0) await fn();
    }));
    return total / ((performance.now() - started) / 1000);
  };
  const baseRate = await concurrent(async () => {
    const c = next();
    if (!check(await pooled.run(c.username), c.password)) fail();
  });
  const handlerRate = await concurrent(async () => {
    const c = next();
    if (!(await viaHandler(c.username, c.password))) fail();
  });
  console.log(`  32 concurrent callers: handler throughput ${(handlerRate / baseRate).toFixed(2)}× the pooled baseline`);

  await pooled.end();
  await container.close();
  await db.close();
}

for (const engine of (process.argv[2] ? [process.argv[2] as Engine] : (["postgres", "mysql"] as const))) await benchEngine(engine);
