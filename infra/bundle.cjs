'use strict';
/**
 * Lean bundles: a function's bundle carries only the database driver its stage uses. The container
 * loads each adapter with a dynamic `import()` of one module in `shared/db/`; for a given stage every
 * other adapter (and PGlite, which is for the local server only) resolves to a stub that fails when
 * loaded, so esbuild never pulls the unused driver in. The stage's own settings never ask for a
 * stubbed adapter; the stub makes a mismatch an error (answered by the failure policy), never a
 * silent fallback.
 *
 * serverless-esbuild loads this file as `custom.esbuild.plugins` and calls it with the framework;
 * `npm run bench` and the tests build the same bundles through `esbuildOptions` and `stagePlugins`.
 */

const path = require('node:path');

/** Adapter modules in shared/db/ by the stage they belong to. */
const ADAPTERS = ['postgres', 'mysql', 'pglite', 'data-api', 'rotating'];

/** The adapters a stage's bundle keeps. */
function keptAdapters(engine, driver) {
  if (driver === 'data-api') return ['data-api'];
  return [engine, 'rotating'];
}

/** esbuild plugin replacing every other adapter of `shared/db/` with a stub. */
function driverPlugin({ engine, driver }) {
  if (!['postgres', 'mysql'].includes(engine) || !['proxy', 'data-api'].includes(driver)) {
    throw new Error(`bundle: unknown database engine "${engine}" or driver "${driver}" (expected postgres|mysql and proxy|data-api)`);
  }
  const kept = keptAdapters(engine, driver);
  const dropped = ADAPTERS.filter((a) => !kept.includes(a));
  const filter = new RegExp(`(^|/)(${dropped.map((a) => a.replace('-', '\\-')).join('|')})\\.js$`);
  return {
    name: 'mqtt-auth-stage-driver',
    setup(build) {
      build.onResolve({ filter }, (args) => {
        const underDb = /[\\/]shared[\\/]db$/.test(args.resolveDir) || (/[\\/]shared$/.test(args.resolveDir) && args.path.startsWith('./db/'));
        if (!underDb) return undefined;
        return { path: args.path, namespace: 'absent-adapter' };
      });
      build.onLoad({ filter: /.*/, namespace: 'absent-adapter' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`database adapter ${args.path} is not in this bundle (built for ${engine} via ${driver})`)});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * The password hashing libraries a stage's PASSWORD_HASH (its environment form) can reach: bcryptjs
 * for bcrypt and auto, hash-wasm's Argon2 for auto only (a PHC or Django Argon2 string). Anything
 * that cannot be read keeps both: the stage file's own check reports the problem.
 */
function hashLibraries(passwordHash) {
  const text = (passwordHash ?? '{"name":"sha256"}').trim();
  let name;
  if (text.startsWith('{')) {
    try {
      name = JSON.parse(text).name;
    } catch {
      name = undefined;
    }
  } else {
    name = /(^|,)bcrypt(,|$)/.test(text) ? 'bcrypt' : 'digest';
  }
  if (typeof name !== 'string' || name === 'auto') return { bcrypt: true, argon2: true, name: String(name) };
  return { bcrypt: name === 'bcrypt', argon2: false, name };
}

/**
 * Node built-ins that cost a cold start a measurable load (stream/web about 0.8 ms) for a path the
 * functions never take. The importing library gets a module with the same exports whose values are
 * the built-in's own, read (and the built-in loaded) only when first used:
 * - @middy/core uses `ReadableStream` only in its `streamifyResponse` mode, which the functions do
 *   not turn on (API Gateway gets whole JSON responses).
 */
const LAZY_STREAM_WEB = {
  module: 'stream/web',
  from: /[\\/]node_modules[\\/]@middy[\\/]core$/,
  contents: `Object.defineProperty(exports, 'ReadableStream', { enumerable: true, get: () => require('node:stream/web').ReadableStream });`,
};

/**
 * Library entry points chosen for a stage's bundle, each for one measured reason:
 * - hash-wasm's `main` is a UMD build of every algorithm it has (about 217 KB minified, most of it
 *   embedded WebAssembly); its ES module build is marked free of side effects, so esbuild keeps only
 *   the Argon2 functions `shared/argon2.ts` imports (about 29 KB).
 * - bcryptjs (20 KB), `shared/argon2.ts` (29 KB) and `shared/hash-foreign.ts` (the other formats
 *   auto reads, about 3 KB) are loaded on first use; a stage whose
 *   PASSWORD_HASH cannot reach them gets a stub instead, which fails when loaded: a verification
 *   that reaches it is a backend failure, answered by the failure policy, never an allow.
 */
function leanPlugin({ passwordHash } = {}) {
  const hashWasmEsm = path.join(path.dirname(require.resolve('hash-wasm/package.json')), 'dist', 'index.esm.js');
  const hashes = hashLibraries(passwordHash);
  const absent = (what) => `${what} is not in this bundle (built for PASSWORD_HASH ${hashes.name})`;
  return {
    name: 'mqtt-auth-lean-libraries',
    setup(build) {
      build.onResolve({ filter: /^hash-wasm$/ }, () => ({ path: hashWasmEsm }));
      // Built-ins a library needs on one path the functions never take, required when first read.
      build.onResolve({ filter: /^(node:)?stream\/web$/ }, (args) => (LAZY_STREAM_WEB.from.test(args.resolveDir) ? { path: LAZY_STREAM_WEB.module, namespace: 'lazy-builtin' } : undefined));
      build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({ contents: LAZY_STREAM_WEB.contents, loader: 'js' }));
      if (!hashes.bcrypt) build.onResolve({ filter: /^bcryptjs$/ }, () => ({ path: 'bcryptjs', namespace: 'absent-library' }));
      if (!hashes.argon2) {
        // Only auto reaches Argon2 and the other foreign formats (shared/hash-foreign.ts).
        build.onResolve({ filter: /^\.\/(argon2|hash-foreign)\.js$/ }, (args) => (/[\\/]shared$/.test(args.resolveDir) ? { path: args.path === './argon2.js' ? 'argon2' : 'hash-foreign', namespace: 'absent-library' } : undefined));
      }
      build.onLoad({ filter: /.*/, namespace: 'absent-library' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(absent({ bcryptjs: 'bcryptjs', argon2: 'Argon2 (hash-wasm)', 'hash-foreign': 'shared/hash-foreign.ts (the other formats auto reads)' }[args.path]))});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * Every plugin of a stage's bundle: its database driver only, the lean library entry points and
 * the hashing libraries its PASSWORD_HASH needs, and the http source only when `stage.sources`
 * names it. `stage.passwordHash` is the PASSWORD_HASH environment value (undefined: the default, a
 * salted SHA-256).
 */
function stagePlugins(stage) {
  return [driverPlugin(stage), leanPlugin(stage), sourcesPlugin(stage)];
}

/**
 * A stage file sets no SOURCES, so its chain is `builtin,sql` or `sql`: the http source
 * (`shared/sources/http.ts`, about 5 KB with p-limit) becomes a stub whose `httpSource` throws, so
 * a SOURCES naming http set by hand in the Lambda console stops the cold start (every request then
 * fails, never an allow) instead of answering without it.
 */
function sourcesPlugin({ sources } = {}) {
  if (typeof sources === 'string' && /(^|,)\s*http\b/.test(sources)) return { name: 'mqtt-auth-sources', setup() {} };
  return {
    name: 'mqtt-auth-sources',
    setup(build) {
      build.onResolve({ filter: /^\.\/sources\/http\.js$/ }, (args) => (/[\\/]shared$/.test(args.resolveDir) ? { path: 'http-source', namespace: 'absent-source' } : undefined));
      build.onLoad({ filter: /.*/, namespace: 'absent-source' }, () => ({
        contents: `exports.httpSource = function httpSource() { throw new Error('the http source is not in this bundle: the stage sets no SOURCES with http'); };`,
        loader: 'js',
      }));
    },
  };
}

/** The esbuild options shared by packaging and the bench (serverless-esbuild adds entry points). */
function esbuildOptions(nodeMajor) {
  return {
    bundle: true,
    minify: true,
    sourcemap: false,
    target: `node${nodeMajor}`,
    platform: 'node',
    format: 'cjs',
    // The Lambda Node.js runtime ships the AWS SDK v3 (aws.md §3.2).
    external: ['@aws-sdk/*'],
  };
}

/** serverless-esbuild's entry: the plugin for the stage being packaged, read from its environment. */
function pluginsForServerless(serverless) {
  const env = serverless.service.provider.environment || {};
  return stagePlugins({ engine: env.DB_ENGINE, driver: env.DB_DRIVER, passwordHash: env.PASSWORD_HASH });
}

module.exports = pluginsForServerless;
module.exports.driverPlugin = driverPlugin;
module.exports.stagePlugins = stagePlugins;
module.exports.hashLibraries = hashLibraries;
module.exports.esbuildOptions = esbuildOptions;
