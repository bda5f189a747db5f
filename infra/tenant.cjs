'use strict';
/**
 * The tenant's stage file (`infra/stages/<stage>.yml`) turned into what `serverless.yml` needs:
 * the Lambda environment, the VPC, the least-privilege IAM statements and the functions with their
 * HTTP API routes (read from `shared/routes.ts`, the one route table).
 *
 * serverless.yml loads this file through `${file(./infra/tenant.cjs):…}`; each property is called
 * with the framework's variable resolver. A missing or invalid stage file stops packaging with a
 * message naming the file and the field. The resulting environment is then checked by the
 * application's own settings loader and SQL compiler, so a stage that packages also starts.
 */
const fs = require('node:fs');
const path = require('node:path');
const v = require('valibot');
const YAML = require('yaml');
const tsx = require('tsx/cjs/api');

const ROOT = path.resolve(__dirname, '..');
/** Where stage files live; the end-to-end tests point it at a temporary folder. */
const stagesDir = () => process.env.MAF_STAGES_DIR || path.join(ROOT, 'infra', 'stages');

/*
 * The schemas show the messages the stage checker has always shown (zod's wording: "Invalid option:
 * expected one of …", "Too small: expected number to be >=1", …); the application's own
 * (shared/schema.ts) does the same for the settings.
 */
function typeName(input) {
  if (typeof input === 'number') return Number.isFinite(input) ? 'number' : String(input);
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  return typeof input;
}
const expected = (type) => (issue) => `Invalid input: expected ${type}, received ${typeName(issue.input)}`;
const isObject = (x) => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = () => v.string(expected('string'));
const int = (min, max) =>
  v.pipe(
    v.custom((x) => typeof x === 'number' && Number.isFinite(x), expected('number')),
    v.integer(expected('int')),
    ...(min === undefined ? [] : [v.minValue(min, `Too small: expected number to be >=${min}`)]),
    ...(max === undefined ? [] : [v.maxValue(max, `Too big: expected number to be <=${max}`)]),
  );
const oneOf = (options) => v.picklist(options, `Invalid option: expected one of ${options.map((o) => `"${o}"`).join('|')}`);

/** A missing field's issue carries what its schema says of `undefined`; unknown fields are one issue listing them all. */
const fieldMessage = (entries) => (issue) => {
  const at = issue.path[issue.path.length - 1];
  if (issue.expected === 'never') return `has unknown field(s) ${Object.keys(at.input).filter((k) => !Object.hasOwn(entries, k)).join(', ')}`;
  return v.safeParse(entries[at.key], undefined).issues[0].message;
};
/** An object with exactly these fields. */
const exact = (entries) => v.strictObject(entries, fieldMessage(entries));
/** The same, refusing an array (which valibot's objects would take as an object). */
const objectOnly = (schema) => v.pipe(v.custom(isObject, expected('object')), schema);
const strict = (entries) => objectOnly(exact(entries));

const arn = (service) => v.pipe(str(), v.regex(new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:\\S+$`), `must be an ARN of the form arn:aws:${service}:<region>:<account>:…`));
const text = () => v.pipe(str(), v.trim(), v.minLength(1, 'must not be empty'));
const ids = (pattern, what, none) => v.pipe(v.array(v.pipe(str(), v.regex(pattern, what)), expected('array')), v.minLength(1, none));

const vpc = strict({
  subnetIds: ids(/^subnet-[0-9a-f]+$/, 'must be a subnet id (subnet-…)', 'needs at least one subnet'),
  securityGroupIds: ids(/^sg-[0-9a-f]+$/, 'must be a security group id (sg-…)', 'needs at least one security group'),
});

const database = objectOnly(
  v.variant(
    'driver',
    [
      exact({
        driver: v.literal('proxy'),
        engine: oneOf(['postgres', 'mysql']),
        host: text(),
        port: v.optional(int(1, 65535)),
        name: text(),
        secretArn: arn('secretsmanager'),
        /** DB_TLS: RDS Proxy's certificate is publicly trusted, so verify-full needs no CA file. */
        tls: v.optional(oneOf(['verify-full', 'require', 'off']), 'verify-full'),
      }),
      exact({
        driver: v.literal('data-api'),
        engine: oneOf(['postgres', 'mysql']),
        resourceArn: arn('rds'),
        name: v.optional(text()),
        secretArn: arn('secretsmanager'),
      }),
    ],
    "Invalid discriminator value. Expected 'proxy' | 'data-api'",
  ),
);

/** EMQX 5's password_hash_algorithm object: any plain object, kept as it is (but a `__proto__` key). */
const record = v.pipe(
  v.custom(isObject, expected('record')),
  v.transform((o) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== '__proto__'))),
);

/** The value at a path of keys in a stage file, undefined where the path ends early. */
const valueAt = (s, at) => at.reduce((o, k) => (o === undefined ? undefined : o[k]), s);

/** The stage file. Unknown keys are refused, so a misspelt field is named rather than ignored. */
const StageFile = v.pipe(
  strict({
    region: v.pipe(str(), v.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1')),
    database,
    brokerTokenSecretArn: arn('secretsmanager'),
    queries: v.optional(strict({ authn: v.optional(text()), authz: v.optional(text()) })),
    /** EMQX 5's password_hash_algorithm object. */
    passwordHash: v.optional(record),
    policies: v.optional(
      strict({
        authzNoMatch: v.optional(oneOf(['ignore', 'allow', 'deny'])),
        authnBackendFailure: v.optional(oneOf(['ignore', 'deny'])),
        authzBackendFailure: v.optional(oneOf(['deny', 'ignore'])),
      }),
    ),
    connectAcl: v.optional(strict({ enabled: v.boolean(expected('boolean')), ttlS: v.optional(int(60, 31536000)) })),
    mosquittoResponseMode: v.optional(oneOf(['status', 'json', 'text'])),
    logLevel: v.optional(oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
    memorySize: v.optional(int(128, 10240)),
    /** BROKER_TOKEN_TTL_S: how long a function keeps the token secret before reading it again. */
    brokerTokenTtlS: v.optional(int(30, 86400)),
    vpc: v.optional(vpc),
  }),
  v.forward(
    v.check((s) => s.database.driver !== 'proxy' || s.vpc !== undefined, 'is required with database.driver proxy (the functions reach RDS Proxy inside the VPC)'),
    ['vpc'],
  ),
  // The functions call Secrets Manager and the Data API in their own region: an ARN elsewhere would
  // fail at the first request, so packaging names it.
  ...[['database', 'secretArn'], ['database', 'resourceArn'], ['brokerTokenSecretArn']].map((at) =>
    v.forward(
      v.check((s) => {
        const value = valueAt(s, at);
        // Not an ARN at all: the field's own schema says so.
        return typeof value !== 'string' || !value.startsWith('arn:') || value.split(':')[3] === s.region;
      }, (issue) => `is in region ${String(valueAt(issue.input, at)).split(':')[3]}, not the stage's region ${issue.input.region} (the functions read it in their own region)`),
      at,
    ),
  ),
);

class StageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'StageError';
    // The framework prints `stack`: the message is what the operator needs, not our call sites.
    this.stack = `${this.name}: ${message}`;
  }
}

/** What a missing required field is for, so the message says why it is needed. */
const REQUIRED = {
  region: 'the AWS region the stage deploys to',
  database: 'the tenant database (engine, driver, …)',
  brokerTokenSecretArn: 'every deployed stage authenticates the broker: the ARN of a Secrets Manager secret holding its token',
  'database.driver': 'proxy or data-api',
  'database.engine': 'postgres or mysql',
  'database.secretArn': 'the Secrets Manager secret with the database credentials',
};

function issueText(file, issue) {
  const keys = (issue.path ?? []).map((p) => p.key);
  // Unknown fields are a problem of the object that has them.
  const unknown = issue.type === 'strict_object' && issue.expected === 'never';
  const at = (unknown ? keys.slice(0, -1) : keys).join('.');
  const missing = /^Invalid input: expected \S+, received undefined$/.test(issue.message);
  const why = missing ? `is required${REQUIRED[at] ? ` (${REQUIRED[at]})` : ''}` : issue.message;
  return `${file}: ${at || '(top level)'} ${why}`;
}

/**
 * Reads and validates `<dir>/<stage>.yml`; throws a StageError naming the file and field. `app` is
 * the application's `loadSettings` and `compileSql` (loaded from the TypeScript sources by default).
 */
function readStage(stage, dir = stagesDir(), app = application()) {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(stage)) throw new StageError(`stage name "${stage}" must be lower-case letters, digits and dashes`);
  const file = path.join(dir, `${stage}.yml`);
  const inRepo = path.relative(ROOT, file);
  const shown = inRepo.startsWith('..') || path.isAbsolute(inRepo) ? file : inRepo;
  let source;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    const known = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.yml')).map((f) => f.slice(0, -4)) : [];
    throw new StageError(`no stage file ${shown} for stage "${stage}" (stages: ${known.join(', ') || 'none'})`);
  }
  let doc;
  try {
    doc = YAML.parse(source);
  } catch (err) {
    throw new StageError(`${shown} is not valid YAML: ${err.message}`);
  }
  const parsed = v.safeParse(StageFile, doc ?? {});
  if (!parsed.success) throw new StageError(parsed.issues.map((i) => issueText(shown, i)).join('; '));
  const tenant = parsed.output;
  const env = environment(tenant);
  checkWithApplication(app, env, shown);
  return { stage, file: shown, ...tenant, environment: env };
}

/** The Lambda environment: the application's settings, never a secret value (only secret ARNs). */
function environment(t) {
  const db = t.database;
  const env = {
    DB_DRIVER: db.driver,
    DB_ENGINE: db.engine,
    DB_SECRET_ARN: db.secretArn,
    BROKER_TOKEN_SECRET_ARN: t.brokerTokenSecretArn,
    // One environment serves one request at a time: one connection is enough (aws.md §3.1).
    DB_POOL_MAX: '1',
  };
  if (db.driver === 'proxy') {
    env.DB_HOST = db.host;
    env.DB_PORT = String(db.port ?? (db.engine === 'postgres' ? 5432 : 3306));
    env.DB_NAME = db.name;
    env.DB_TLS = db.tls;
  } else {
    env.DB_RESOURCE_ARN = db.resourceArn;
    if (db.name !== undefined) env.DB_NAME = db.name;
  }
  const optional = {
    AUTHN_QUERY: t.queries?.authn,
    AUTHZ_QUERY: t.queries?.authz,
    PASSWORD_HASH: t.passwordHash === undefined ? undefined : JSON.stringify(t.passwordHash),
    AUTHZ_NO_MATCH: t.policies?.authzNoMatch,
    AUTHN_BACKEND_FAILURE: t.policies?.authnBackendFailure,
    AUTHZ_BACKEND_FAILURE: t.policies?.authzBackendFailure,
    CONNECT_ACL: t.connectAcl === undefined ? undefined : t.connectAcl.enabled ? 'on' : 'off',
    CONNECT_ACL_TTL: t.connectAcl?.ttlS === undefined ? undefined : String(t.connectAcl.ttlS),
    MOSQUITTO_RESPONSE_MODE: t.mosquittoResponseMode,
    LOG_LEVEL: t.logLevel,
    BROKER_TOKEN_TTL_S: t.brokerTokenTtlS === undefined ? undefined : String(t.brokerTokenTtlS),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) env[k] = v;
  return env;
}

const load = (file) => tsx.require(path.join(ROOT, file), __filename);
const application = () => ({ loadSettings: load('shared/settings.ts').loadSettings, compileSql: load('shared/template.ts').compileSql });

/** The same checks a cold start runs: settings (validated, frozen) and both SQL templates. */
function checkWithApplication({ loadSettings, compileSql }, env, shown) {
  try {
    const s = loadSettings(env);
    const markers = env.DB_DRIVER === 'data-api' ? 'named' : 'native';
    compileSql(s.authnQuery, { dialect: env.DB_ENGINE, context: 'authn', setting: 'AUTHN_QUERY', markers });
    compileSql(s.authzQuery, { dialect: env.DB_ENGINE, context: 'authz', setting: 'AUTHZ_QUERY', markers });
  } catch (err) {
    if (err && err.name === 'ConfigError') throw new StageError(`${shown}: the application refuses setting ${err.message}`);
    throw err;
  }
}

/** Least privilege: read exactly the two secrets; the Data API variant may run statements on its cluster only. */
function iamStatements(t) {
  const statements = [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [t.database.secretArn, t.brokerTokenSecretArn] }];
  if (t.database.driver === 'data-api') statements.push({ Effect: 'Allow', Action: ['rds-data:ExecuteStatement'], Resource: [t.database.resourceArn] });
  return statements;
}

/**
 * One function per `fn` of the route table; every route answers on its own path and, except
 * `/health`, also under `/k/{token}/…` for brokers that cannot send an Authorization header.
 */
function functionsFromRoutes(routes) {
  const out = {};
  for (const route of routes) {
    const fn = (out[route.fn] ??= { handler: `functions/${route.fn}.handler`, events: [] });
    const paths = route.path === '/health' ? [route.path] : [route.path, `/k/{token}${route.path}`];
    for (const p of paths) for (const method of route.methods) fn.events.push({ httpApi: { method, path: p } });
  }
  return out;
}

const routes = () => load('shared/routes.ts').ROUTES;

const cache = new Map();
async function tenantFor({ resolveVariable }) {
  const stage = await resolveVariable('sls:stage');
  if (!cache.has(stage)) cache.set(stage, readStage(stage));
  return cache.get(stage);
}

module.exports = {
  StageError,
  readStage,
  functionsFromRoutes,
  // What serverless.yml reads.
  environmentForStage: async (ctx) => (await tenantFor(ctx)).environment,
  regionForStage: async (ctx) => (await tenantFor(ctx)).region,
  memoryForStage: async (ctx) => (await tenantFor(ctx)).memorySize ?? 1024,
  vpcForStage: async (ctx) => {
    const t = await tenantFor(ctx);
    // null: no VPC (the Data API is reached over HTTPS); serverless.yml falls back to null.
    return t.vpc ?? null;
  },
  iamForStage: async (ctx) => iamStatements(await tenantFor(ctx)),
  functions: async () => functionsFromRoutes(routes()),
};
