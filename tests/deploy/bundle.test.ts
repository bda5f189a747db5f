import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * infra/bundle.cjs: each stage's bundle carries only its own database driver. Built here with the
 * same options and plugin packaging uses, for all four engine × driver combinations.
 */

interface BundleModule {
  driverPlugin(stage: { engine: string; driver: string }): Plugin;
  esbuildOptions(nodeMajor: number): Record<string, unknown>;
}
const require = createRequire(import.meta.url);
const bundle = require('../../infra/bundle.cjs') as BundleModule;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function bundled(engine: string, driver: string): Promise<string> {
  const out = await build({
    ...bundle.esbuildOptions(20),
    entryPoints: [`${ROOT}functions/auth.ts`],
    plugins: [bundle.driverPlugin({ engine, driver })],
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]?.text ?? '';
}

/** Markers: postgres.js names its errors PostgresError; mysql2 names its authentication plugins. */
const drivers = (js: string) => ({
  postgres: js.includes('PostgresError'),
  mysql2: js.includes('mysql_native_password'),
  pglite: js.includes('PGlite'),
  rdsData: js.includes('require("@aws-sdk/client-rds-data")'),
});

test.each([
  ['postgres', 'proxy', { postgres: true, mysql2: false, pglite: false, rdsData: false }],
  ['mysql', 'proxy', { postgres: false, mysql2: true, pglite: false, rdsData: false }],
  ['postgres', 'data-api', { postgres: false, mysql2: false, pglite: false, rdsData: true }],
  ['mysql', 'data-api', { postgres: false, mysql2: false, pglite: false, rdsData: true }],
])('%s via %s carries only its driver', async (engine, driver, expected) => {
  expect(drivers(await bundled(engine, driver))).toEqual(expected);
});

test('a stubbed adapter fails when loaded, naming the bundle it was built for', async () => {
  const js = await bundled('postgres', 'proxy');
  expect(js).toContain('database adapter ./db/mysql.js is not in this bundle (built for postgres via proxy)');
  expect(js).toContain('database adapter ./db/data-api.js is not in this bundle (built for postgres via proxy)');
});

test('an unknown engine or driver is refused', () => {
  expect(() => bundle.driverPlugin({ engine: 'oracle', driver: 'proxy' })).toThrow('bundle: unknown database engine "oracle" or driver "proxy" (expected postgres|mysql and proxy|data-api)');
});
