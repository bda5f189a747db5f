import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { ROUTES } from '../../shared/routes.js';
import { apiEvent } from '../helpers/harness.js';

/**
 * infra/bundle.cjs: each stage's bundle carries only its own database driver. Built here with the
 * same options and plugin packaging uses, for all four engine × driver combinations.
 */

interface BundleModule {
  driverPlugin(stage: { engine: string; driver: string }): Plugin;
  stagePlugins(stage: { engine: string; driver: string; passwordHash?: string }): Plugin[];
  hashLibraries(passwordHash: string | undefined): { bcrypt: boolean; argon2: boolean; name: string };
  esbuildOptions(nodeMajor: number): Record<string, unknown>;
}
const require = createRequire(import.meta.url);
const bundle = require('../../infra/bundle.cjs') as BundleModule;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function bundled(engine: string, driver: string): Promise<string> {
  const out = await build({
    ...bundle.esbuildOptions(20),
    entryPoints: [`${ROOT}functions/auth.ts`],
    plugins: bundle.stagePlugins({ engine, driver }),
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

test('a stage whose settings ask for a driver its bundle lacks answers by the failure policy, never allow', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'maf-bundle-'));
  try {
    const file = join(dir, 'auth.cjs');
    await build({ ...bundle.esbuildOptions(20), entryPoints: [`${ROOT}functions/auth.ts`], plugins: bundle.stagePlugins({ engine: 'postgres', driver: 'proxy' }), outfile: file, logLevel: 'silent' });
    const event = apiEvent('/mqtt/auth', { contentType: 'application/json', body: JSON.stringify({ username: 'demo', password: 'public', clientid: 'c1' }), headers: { authorization: 'Bearer t0ken' } });
    const run = (failure: string) => {
      const probe = `require(${JSON.stringify(file)}).handler(JSON.parse(process.argv[1]), {}).then((r) => process.stderr.write(JSON.stringify(r)))`;
      const env = {
        PATH: process.env.PATH ?? '',
        NODE_PATH: `${ROOT}node_modules`,
        DB_DRIVER: 'proxy',
        DB_ENGINE: 'mysql',
        DB_HOST: '127.0.0.1',
        DB_TLS: 'require', // verify-full on MySQL needs a host name
        DB_NAME: 'mqtt',
        DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-absent-AbCdEf',
        BROKER_TOKEN: 't0ken',
        AUTHN_BACKEND_FAILURE: failure,
        LOG_LEVEL: 'error',
      };
      const r = spawnSync(process.execPath, ['-e', probe, JSON.stringify(event)], { env, encoding: 'utf8', timeout: 20_000 });
      // The answer on stderr, pino's lines on stdout.
      return { status: r.status, logs: r.stdout, answer: JSON.parse(r.stderr || 'null') as { statusCode: number; body: string } | null };
    };
    for (const failure of ['ignore', 'deny']) {
      const { status, logs, answer } = run(failure);
      expect(status).toBe(0);
      // The stub, not a later step (the secret was never fetched), is what failed.
      expect(logs).toContain('database adapter ./mysql.js is not in this bundle (built for postgres via proxy)');
      expect({ statusCode: answer?.statusCode, body: JSON.parse(answer?.body ?? 'null') as unknown }).toEqual({ statusCode: 200, body: { result: failure } });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const COMBOS = [
  ['postgres', 'proxy'],
  ['mysql', 'proxy'],
  ['postgres', 'data-api'],
  ['mysql', 'data-api'],
] as const;

test.each(COMBOS)('%s via %s: every function of the route table bundles without a warning', async (engine, driver) => {
  // A warning means something that works from the sources breaks in the CommonJS bundle (e.g.
  // `import.meta.url`, empty there, which made a module fail at load).
  const warnings: string[] = [];
  for (const fn of new Set(ROUTES.map((r) => r.fn))) {
    const out = await build({ ...bundle.esbuildOptions(20), entryPoints: [`${ROOT}functions/${fn}.ts`], plugins: bundle.stagePlugins({ engine, driver }), write: false, logLevel: 'silent' });
    warnings.push(...out.warnings.map((w) => `${fn}: ${w.text} (${w.location?.file ?? '?'})`));
  }
  expect(warnings).toEqual([]);
});

/** Verifies each [PASSWORD_HASH, password, stored] in a fresh process, from a bundle of shared/hash.ts built for `passwordHash`. */
async function verifyInBundle(passwordHash: string | undefined, cases: Array<[object, string, string]>): Promise<{ status: number | null; results: unknown }> {
  const dir = mkdtempSync(join(tmpdir(), 'maf-bundle-'));
  try {
    const file = join(dir, 'hash.cjs');
    const entry = `import { verifyPassword } from './shared/hash.ts';
const cases = ${JSON.stringify(cases)};
Promise.all(cases.map(([cfg, pw, stored]) => verifyPassword(cfg, pw, stored, null).catch((err) => ({ error: err.message })))).then((r) => process.stderr.write(JSON.stringify(r)));
`;
    await build({
      ...bundle.esbuildOptions(20),
      stdin: { contents: entry, resolveDir: ROOT, loader: 'ts' },
      outfile: file,
      plugins: bundle.stagePlugins({ engine: 'postgres', driver: 'proxy', ...(passwordHash === undefined ? {} : { passwordHash }) }),
      logLevel: 'silent',
    });
    const r = spawnSync(process.execPath, [file], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, results: JSON.parse(r.stderr || 'null') as unknown };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const AUTO = { name: 'auto', salt_encoding: 'utf8' };
const BCRYPT = { name: 'bcrypt', salt_rounds: 10 };
const ARGON2 = '$argon2id$v=19$m=4096,t=3,p=2$c2FsdHNhbHRzYWx0$/Jn0QpQleR9txGnjadNiCg';
const BCRYPT_HASH = '$2b$12$wtY3h20mUjjmeaClpqZVvehyw7F.V78F3rbK2xDkCzRTMi6pmfUB6';

test('the hashers loaded on demand work inside a bundle built for auto: argon2 (hash-wasm) and bcrypt verify their vectors', async () => {
  const cases: Array<[object, string, string]> = [
    [AUTO, 'pä$$wörd', ARGON2],
    [AUTO, 'pa$$wörd', ARGON2],
    [BCRYPT, 'password', BCRYPT_HASH],
    [BCRYPT, 'wrongpass', BCRYPT_HASH],
  ];
  expect(await verifyInBundle('{"name":"auto"}', cases)).toEqual({ status: 0, results: [{ ok: true }, { ok: false }, { ok: true }, { ok: false }] });
});

test("a stage's bundle leaves out the hashing libraries its PASSWORD_HASH cannot reach; reaching one anyway fails, never verifies", async () => {
  const cases: Array<[object, string, string]> = [
    [BCRYPT, 'password', BCRYPT_HASH],
    [AUTO, 'pä$$wörd', ARGON2],
    [{ name: 'sha256', salt_position: 'disable' }, 'password', '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'],
  ];
  expect(await verifyInBundle(undefined, cases)).toEqual({
    status: 0,
    results: [{ error: 'bcryptjs is not in this bundle (built for PASSWORD_HASH sha256)' }, { error: 'shared/hash-foreign.ts (the other formats auto reads) is not in this bundle (built for PASSWORD_HASH sha256)' }, { ok: true }],
  });
  expect(await verifyInBundle('{"name":"bcrypt"}', cases.slice(0, 2))).toEqual({
    status: 0,
    results: [{ ok: true }, { error: 'shared/hash-foreign.ts (the other formats auto reads) is not in this bundle (built for PASSWORD_HASH bcrypt)' }],
  });
});

test('a stubbed hashing library reached again in the same process fails again, never reads as a verdict', async () => {
  // esbuild keeps a CommonJS module that threw at load as loaded with empty exports: without care
  // the second login would find no bcrypt functions and answer "malformed stored hash" (a deny,
  // not the failure policy), and the stub's error would be gone from the log.
  const cases: Array<[object, string, string]> = [
    [BCRYPT, 'password', BCRYPT_HASH],
    [BCRYPT, 'password', BCRYPT_HASH],
    [AUTO, 'pä$$wörd', ARGON2],
    [AUTO, 'pä$$wörd', ARGON2],
  ];
  const bcryptAbsent = { error: 'bcryptjs is not in this bundle (built for PASSWORD_HASH sha256)' };
  const foreignAbsent = { error: 'shared/hash-foreign.ts (the other formats auto reads) is not in this bundle (built for PASSWORD_HASH sha256)' };
  expect(await verifyInBundle(undefined, cases)).toEqual({ status: 0, results: [bcryptAbsent, bcryptAbsent, foreignAbsent, foreignAbsent] });
});

test.each([
  [undefined, { bcrypt: false, argon2: false, name: 'sha256' }],
  ['{"name":"bcrypt"}', { bcrypt: true, argon2: false, name: 'bcrypt' }],
  ['{"name":"auto"}', { bcrypt: true, argon2: true, name: 'auto' }],
  ['{"name":"pbkdf2","mac_fun":"sha256","iterations":4096,"dk_length":32}', { bcrypt: false, argon2: false, name: 'pbkdf2' }],
  ['salt,bcrypt', { bcrypt: true, argon2: false, name: 'bcrypt' }],
  ['salt,sha256', { bcrypt: false, argon2: false, name: 'digest' }],
  ['{not json', { bcrypt: true, argon2: true, name: 'undefined' }],
])('the hashing libraries PASSWORD_HASH %s needs', (passwordHash, expected) => {
  expect(bundle.hashLibraries(passwordHash)).toEqual(expected);
});

test('bundle sizes: the auth bundle of a PostgreSQL stage stays within its budget', async () => {
  // Minified JavaScript, the figures README's Benchmark section reports (npm run bench prints all).
  const size = async (passwordHash?: string) => {
    const out = await build({
      ...bundle.esbuildOptions(20),
      entryPoints: [`${ROOT}functions/auth.ts`],
      plugins: bundle.stagePlugins({ engine: 'postgres', driver: 'proxy', ...(passwordHash === undefined ? {} : { passwordHash }) }),
      write: false,
      logLevel: 'silent',
    });
    return out.outputFiles[0]?.contents.byteLength ?? 0;
  };
  const [sha256, bcrypt, auto] = [await size(), await size('{"name":"bcrypt"}'), await size('{"name":"auto"}')];
  // 250 KB is issue 4's target for the PostgreSQL path, which every bundle meets now; these budgets
  // (about 10 KB over today's 192, 212 and 246 KB) keep what pino's light build and valibot won.
  expect({ sha256: sha256 <= 205_000, bcrypt: bcrypt <= 225_000, auto: auto <= 250_000 }).toEqual({ sha256: true, bcrypt: true, auto: true });
  expect(bcrypt - sha256).toBeGreaterThan(15_000); // bcryptjs only where PASSWORD_HASH needs it
  expect(auto - bcrypt).toBeGreaterThan(25_000); // and hash-wasm's Argon2 only for auto
});

test("a handler bundle logs through pino's light build: its cold start writes one JSON line to stdout, redacted, with none of pino's Node build inside", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'maf-bundle-'));
  try {
    const file = join(dir, 'auth.cjs');
    // What process.moduleLoadList holds of four built-ins the cold start must not load, after the handler's load.
    const entry = `import { handler } from './functions/auth.ts';
import { createLogger } from './shared/log.ts';
const loaded = ['NativeModule stream/web', 'NativeModule worker_threads', 'NativeModule assert', 'NativeModule tls'].filter((m) => process.moduleLoadList.includes(m));
createLogger('info').info({ user: 'u', password: 'p', row: { salt: 's', id: 1 } }, 'hello');
process.stderr.write(JSON.stringify({ handler: typeof handler, loaded }));
`;
    const out = await build({ ...bundle.esbuildOptions(20), stdin: { contents: entry, resolveDir: ROOT, loader: 'ts' }, outfile: file, plugins: bundle.stagePlugins({ engine: 'postgres', driver: 'proxy' }), logLevel: 'silent', metafile: true });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.filter((i) => /node_modules\/(pino\/(pino|lib\/)|sonic-boom|thread-stream|pino-std-serializers)/.test(i))).toEqual([]);
    expect(inputs.filter((i) => i.startsWith('node_modules/pino/'))).toEqual(['node_modules/pino/browser.js']);
    const env = { PATH: process.env.PATH ?? '', DB_DRIVER: 'proxy', DB_ENGINE: 'postgres', DB_HOST: '127.0.0.1', DB_NAME: 'mqtt', DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-absent-AbCdEf', BROKER_TOKEN: 't0ken', LOG_LEVEL: 'info' };
    // stdout is a pipe here, as in Lambda.
    const r = spawnSync(process.execPath, [file], { env, encoding: 'utf8', timeout: 30_000 });
    expect({ status: r.status, stderr: JSON.parse(r.stderr || 'null') as unknown }).toEqual({ status: 0, stderr: { handler: 'function', loaded: [] } });
    const lines = r.stdout.split('\n');
    expect(lines.at(-1)).toBe('');
    const records = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map(({ time, ...rest }) => ({ ...rest, time: typeof time }))).toEqual([
      {
        level: 30,
        time: 'number',
        database: { source: 'DB_*', engine: 'postgres', driver: 'proxy', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:maf-absent-AbCdEf', databaseUrlIgnored: false, host: '127.0.0.1', port: 5432, name: 'mqtt', tls: 'verify-full' },
        msg: 'database settings',
      },
      { level: 30, time: 'number', user: 'u', password: '[redacted]', row: { salt: '[redacted]', id: 1 }, msg: 'hello' },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown engine or driver is refused', () => {
  expect(() => bundle.driverPlugin({ engine: 'oracle', driver: 'proxy' })).toThrow('bundle: unknown database engine "oracle" or driver "proxy" (expected postgres|mysql and proxy|data-api)');
});

test('the http source is in a bundle only when the stage names it in SOURCES', async () => {
  const text = async (sources?: string) => {
    const out = await build({
      ...bundle.esbuildOptions(20),
      entryPoints: [`${ROOT}functions/auth.ts`],
      plugins: bundle.stagePlugins({ engine: 'postgres', driver: 'proxy', ...(sources === undefined ? {} : { sources }) }),
      write: false,
      logLevel: 'silent',
    });
    return out.outputFiles[0]?.text ?? '';
  };
  const stub = 'the http source is not in this bundle';
  expect([(await text()).includes(stub), (await text('builtin,sql')).includes(stub), (await text('sql,http:deny')).includes(stub)]).toEqual([true, true, false]);
});
