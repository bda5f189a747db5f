import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { ROUTES } from '../shared/routes.js';
import { interleave, median } from './interleave.js';

/**
 * Part of `npm run bench` (alone: `npm run bench:bundles`): the Lambda bundles of every example
 * stage, built with the options and driver plugin packaging uses. For each bundle: its minified
 * size (uncompressed JavaScript) and, for the authentication and ACL functions, its module
 * initialisation time — `require()` of the bundle in a fresh Node process with the stage's
 * environment, which includes building the container (settings, SQL templates, logger) — as a ratio
 * to a bare postgres.js bundle measured in the same run, interleaved round by round.
 * Targets (issue 4): at most 1.5× the bare postgres.js init time and 250 KB for the PostgreSQL path.
 */

interface Tenant {
  readonly database: { readonly engine: 'postgres' | 'mysql'; readonly driver: 'proxy' | 'data-api' };
  readonly environment: Record<string, string>;
}
const require = createRequire(import.meta.url);
const { readStage } = require('../infra/tenant.cjs') as { readStage(stage: string): Tenant };
/** The module itself is what serverless-esbuild calls: the plugins of the stage whose environment it is given. */
const bundle = require('../infra/bundle.cjs') as {
  (serverless: { service: { provider: { environment: Record<string, string> } } }): Plugin[];
  stagePlugins(t: Tenant['database'] & { passwordHash?: string }): Plugin[];
  esbuildOptions(node: number): Record<string, unknown>;
};
/** The plugins packaging uses for a stage with this Lambda environment. */
const pluginsFor = (environment: Record<string, string>): Plugin[] => bundle({ service: { provider: { environment } } });

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = `${ROOT}.tmp/bench-bundles`;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
// 31 rounds: the medians of auth and acl (nearly the same code) then agree within about 0.05x here.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 31);
const STAGES = ['acme-postgres', 'globex-aurora-mysql'];
const TIMED = new Set(['auth', 'acl']);
const SIZE_TARGET = 250 * 1000;
const INIT_TARGET = 1.5;

interface Bundle {
  readonly label: string;
  readonly file: string;
  readonly bytes: number;
  readonly env: Record<string, string>;
  readonly timed: boolean;
  readonly samples: number[];
}

async function buildTo(file: string, entry: { path: string } | { contents: string }, plugins: Plugin[]): Promise<number> {
  await build({
    ...bundle.esbuildOptions(NODE_MAJOR),
    ...('path' in entry ? { entryPoints: [entry.path] } : { stdin: { contents: entry.contents, resolveDir: ROOT, loader: 'ts' } }),
    outfile: file,
    plugins,
    logLevel: 'error',
  });
  return statSync(file).size;
}

/** One fresh process: the time `require()` of the bundle takes, in ms. */
function initMs(b: Bundle): number {
  const probe = `const t=performance.now();require(${JSON.stringify(b.file)});process.stderr.write('INIT_MS='+(performance.now()-t)+'\\n')`;
  const r = spawnSync(process.execPath, ['-e', probe], { env: { PATH: process.env.PATH ?? '', ...b.env }, encoding: 'utf8' });
  const ms = /INIT_MS=([\d.]+)/.exec(r.stderr)?.[1];
  if (r.status !== 0 || ms === undefined) throw new Error(`${b.label}: the bundle did not load (exit ${r.status}): ${r.stderr.slice(0, 500)}`);
  return Number(ms);
}

const kb = (n: number): string => `${(n / 1000).toFixed(1)} KB`;

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const bundles: Bundle[] = [];
  const baselineFile = `${OUT}/bare-postgres.cjs`;
  const baseline: Bundle = {
    label: 'bare postgres.js import',
    file: baselineFile,
    bytes: await buildTo(baselineFile, { contents: "import postgres from 'postgres';\nexport const sql = postgres;\n" }, []),
    env: {},
    timed: true,
    samples: [],
  };
  // What the handler bundles are made of, each alone, for reading the figures (not targets).
  const parts: Bundle[] = [];
  for (const [name, contents] of [
    ['empty module', 'export const x = 1;\n'],
    ['valibot (one schema)', "import * as v from 'valibot';\nexport const s = v.object({ a: v.string() });\n"],
    ['pino light build (the logger)', "import { createLogger } from './shared/log.ts';\nexport const log = createLogger('silent');\n"],
    ['bcryptjs', "import bcrypt from 'bcryptjs';\nexport const b = bcrypt;\n"],
    ['@middy/core', "import middy from '@middy/core';\nexport const m = middy;\n"],
  ] as const) {
    const file = `${OUT}/part-${parts.length}.cjs`;
    parts.push({ label: `  part: ${name}`, file, bytes: await buildTo(file, { contents }, bundle.stagePlugins({ engine: 'postgres', driver: 'proxy', passwordHash: '{"name":"auto"}' })), env: {}, timed: true, samples: [] });
  }
  const fns = [...new Set(ROUTES.map((r) => r.fn))];
  for (const stage of STAGES) {
    const tenant = readStage(stage);
    for (const fn of fns) {
      const file = `${OUT}/${stage}/${fn}.cjs`;
      const bytes = await buildTo(file, { path: `${ROOT}functions/${fn}.ts` }, pluginsFor(tenant.environment));
      // LOG_LEVEL silent keeps the start-up log line out of the measurement's output, not its cost:
      // pino is still built and the settings still parsed.
      bundles.push({ label: `${stage}/${fn}`, file, bytes, env: { ...tenant.environment, LOG_LEVEL: 'silent' }, timed: TIMED.has(fn), samples: [] });
    }
  }

  // The PostgreSQL stage again with the default PASSWORD_HASH (salted SHA-256): no bcryptjs.
  {
    const tenant = readStage('acme-postgres');
    const { PASSWORD_HASH: _hash, ...environment } = tenant.environment;
    for (const fn of TIMED) {
      const file = `${OUT}/acme-postgres-sha256/${fn}.cjs`;
      const bytes = await buildTo(file, { path: `${ROOT}functions/${fn}.ts` }, pluginsFor(environment));
      bundles.push({ label: `acme-postgres/${fn} (PASSWORD_HASH sha256)`, file, bytes, env: { ...environment, LOG_LEVEL: 'silent' }, timed: true, samples: [] });
    }
  }

  const timed = [baseline, ...parts, ...bundles.filter((b) => b.timed)];
  for (const b of timed) initMs(b); // warm the file cache
  // Rotate the order each round, so the machine's load drifts over every bundle alike.
  (await interleave(timed, ROUNDS, initMs)).forEach((samples, i) => timed[i]!.samples.push(...samples));

  const base = median(baseline.samples);
  console.log(`\nLambda bundles (esbuild, minified, node${NODE_MAJOR}, AWS SDK external), ${ROUNDS} fresh processes per timed bundle, interleaved:`);
  console.log(`  ${'bundle'.padEnd(44)} ${'size'.padStart(10)}   init, ratio to a bare postgres.js import`);
  console.log(`  ${baseline.label.padEnd(44)} ${kb(baseline.bytes).padStart(10)}   1.00×   (median ${base.toFixed(1)} ms here, now)`);
  for (const b of [...parts, ...bundles]) {
    const init = b.timed ? `${(median(b.samples) / base).toFixed(2)}×   (median ${median(b.samples).toFixed(1)} ms)` : '';
    console.log(`  ${b.label.padEnd(44)} ${kb(b.bytes).padStart(10)}   ${init}`);
  }
  const pg = bundles.filter((b) => b.label.startsWith('acme-postgres/') && !b.label.includes('(PASSWORD_HASH'));
  const largest = pg.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const slowest = pg.filter((b) => b.timed).reduce((a, b) => (median(b.samples) > median(a.samples) ? b : a));
  const ratio = median(slowest.samples) / base;
  console.log('\nTargets for the PostgreSQL path (acme-postgres):');
  console.log(`  largest bundle ${largest.label}: ${kb(largest.bytes)} (target ≤ ${kb(SIZE_TARGET)}): ${largest.bytes <= SIZE_TARGET ? 'met' : 'NOT met'}`);
  console.log(`  slowest init ${slowest.label}: ${ratio.toFixed(2)}× (target ≤ ${INIT_TARGET}×): ${ratio <= INIT_TARGET ? 'met' : 'NOT met'}`);
  // The same stage with the default PASSWORD_HASH: what a PostgreSQL stage costs without bcryptjs.
  const plain = bundles.filter((b) => b.label.includes('(PASSWORD_HASH sha256)'));
  const plainLargest = plain.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const plainSlowest = plain.reduce((a, b) => (median(b.samples) > median(a.samples) ? b : a));
  const plainRatio = median(plainSlowest.samples) / base;
  console.log(`  with PASSWORD_HASH sha256: largest ${kb(plainLargest.bytes)} (${plainLargest.bytes <= SIZE_TARGET ? 'met' : 'NOT met'}), slowest init ${plainRatio.toFixed(2)}× (${plainRatio <= INIT_TARGET ? 'met' : 'NOT met'})`);
}

await main();
