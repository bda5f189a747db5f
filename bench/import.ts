import { createHash, randomInt } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runImport } from '../cli/commands/import.js';
import { migrate } from '../shared/builtin/schema.js';
import { createContainer } from '../shared/container.js';
import { openSession } from '../shared/db/session.js';
import { createLogger } from '../shared/log.js';
import { BuiltinSource } from '../shared/sources/builtin.js';
import { loadSettings } from '../shared/settings.js';
import { freshDatabase } from '../tests/helpers/databases.js';

/**
 * `npm run bench:import`: the "done when" for bulk import. Generates a CSV of sha256 users
 * with a salt (the default PASSWORD_HASH) to a temporary file, streaming; imports it into a fresh
 * PostgreSQL database through the same code as `mqtt-auth import users` (progress bar on a
 * terminal); reports rows/s, peak RSS and heap growth; then authenticates a random sample of the
 * imported users through BuiltinSource. `--rows N` (default 1,000,000), `--sample N` (default 1,000),
 * `--json` for one JSON line, `--database NAME` for the scratch database's name. Run with `node --expose-gc` to get the heap figures.
 */

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    sample: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
    database: { type: 'string', default: 'maf_bench_import' },
  },
});
const ROWS = Number(args.rows);
const SAMPLE = Math.min(Number(args.sample), ROWS);
if (!Number.isInteger(ROWS) || ROWS < 1 || !Number.isInteger(SAMPLE)) throw new Error('--rows and --sample must be whole numbers');

const saltOf = (i: number): string => createHash('md5').update(`salt-${i}`).digest('hex').slice(0, 16);
const passwordOf = (i: number): string => `pw-${i}-${(i * 7919) % 10007}`;
const hashOf = (i: number): string => createHash('sha256').update(saltOf(i) + passwordOf(i)).digest('hex');

async function generate(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('user_id,password_hash,salt,is_superuser\n');
  for (let i = 0; i < rows; i += 1) {
    if (!out.write(`user${i},${hashOf(i)},${saltOf(i)},${i % 1000 === 0 ? 'true' : 'false'}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

type Gc = () => void;
const gc: Gc | undefined = typeof globalThis.gc === 'function' ? (globalThis.gc as Gc) : undefined;
const heap = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed;
};

const dir = await mkdtemp(join(tmpdir(), 'maf-bench-import-'));
const file = join(dir, 'users.csv');
const db = await freshDatabase('postgres', args.database);
const settings = loadSettings({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
try {
  const genStart = Date.now();
  await generate(file, ROWS);
  const size = (await stat(file)).size;
  const genS = (Date.now() - genStart) / 1000;

  const session = await openSession(settings);
  await migrate(session);
  // Heap before and after (after a full GC, with --expose-gc): flat memory shows as a growth far
  // below what holding the rows would take.
  const heapStart = heap();
  const started = process.hrtime.bigint();
  const summary = await runImport(session, settings, 'users', file, { format: 'csv', batchSize: 1000, dryRun: false, json: true, print: false });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const heapEnd = heap();
  await session.close();

  const container = createContainer(settings, { log: createLogger('silent') });
  const source = new BuiltinSource(await container.store(), settings, container.log);
  let allowed = 0;
  let wrongDenied = 0;
  for (let k = 0; k < SAMPLE; k += 1) {
    const i = randomInt(ROWS);
    const ok = await source.authenticate({ username: `user${i}`, password: passwordOf(i), client_attrs: {} });
    if (ok.result === 'allow' && ok.is_superuser === (i % 1000 === 0)) allowed += 1;
    if (k < 50) {
      const bad = await source.authenticate({ username: `user${i}`, password: `${passwordOf(i)}x`, client_attrs: {} });
      if (bad.result === 'deny') wrongDenied += 1;
    }
  }
  await container.close();

  const result = {
    rows: ROWS,
    fileBytes: size,
    generateSeconds: Number(genS.toFixed(2)),
    inserted: summary.inserted,
    updated: summary.updated,
    rejected: summary.rejected,
    importSeconds: Number(seconds.toFixed(2)),
    rowsPerSecond: Math.round(ROWS / seconds),
    peakRssMiB: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    heapGrowthMiB: gc === undefined ? null : Number(((heapEnd - heapStart) / 1048576).toFixed(2)),
    sample: SAMPLE,
    sampleAuthenticated: allowed,
    wrongPasswordsDenied: wrongDenied,
    wrongPasswordsTried: Math.min(50, SAMPLE),
  };
  if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(
      [
        `generated ${ROWS.toLocaleString('en')} rows (${(size / 1048576).toFixed(1)} MiB) in ${result.generateSeconds} s`,
        `imported: ${result.inserted} inserted, ${result.updated} updated, ${result.rejected} rejected in ${result.importSeconds} s = ${result.rowsPerSecond.toLocaleString('en')} rows/s`,
        `peak RSS ${result.peakRssMiB} MiB; heap growth over the import ${result.heapGrowthMiB ?? 'n/a (run node with --expose-gc)'} MiB`,
        `random sample: ${allowed}/${SAMPLE} authenticated (right password, right superuser flag); ${wrongDenied}/${result.wrongPasswordsTried} wrong passwords denied`,
      ].join('\n') + '\n',
    );
  }
  if (allowed !== SAMPLE || summary.inserted !== ROWS) process.exitCode = 1;
} finally {
  await db.close();
  await rm(dir, { recursive: true, force: true });
}
