import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROUTES } from '../../shared/routes.js';
import { loadSettings } from '../../shared/settings.js';
import { compileSql } from '../../shared/template.js';
import { thrownBy } from '../helpers/errors.js';

/** infra/tenant.cjs: what serverless.yml loads to read and check a tenant's stage file. */

interface Tenant {
  readonly environment: Record<string, string>;
}
interface TenantModule {
  readStage(stage: string, dir: string, app: { loadSettings: typeof loadSettings; compileSql: typeof compileSql }): Tenant;
  functionsFromRoutes(routes: typeof ROUTES): Record<string, { handler: string; events: Array<{ httpApi: { method: string; path: string } }> }>;
}

const require = createRequire(import.meta.url);
const tenant = require('../../infra/tenant.cjs') as TenantModule;

/** The application's own checks, loaded by jest (serverless loads them through tsx). */
const read = (name: string): Tenant => tenant.readStage(name, dir, { loadSettings, compileSql });
const EXAMPLE = readFileSync(new URL('../../infra/stages/acme-postgres.yml', import.meta.url), 'utf8');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'maf-stages-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `yaml` as stage `name` and returns what reading it throws (or undefined). */
function problemWith(name: string, yaml: string): string | undefined {
  writeFileSync(join(dir, `${name}.yml`), yaml);
  const err = thrownBy(() => read(name));
  return err instanceof Error ? err.message : undefined;
}
/** A stage file outside the repository is named by its full path. */
const shown = (name: string): string => join(dir, `${name}.yml`);

test('the worked example reads into the Lambda settings', () => {
  writeFileSync(join(dir, 'ok.yml'), EXAMPLE);
  expect(read('ok').environment.DB_HOST).toBe('acme-mqtt-auth.proxy-c0ffee123456.eu-west-1.rds.amazonaws.com');
});

test('brokerTokenTtlS becomes BROKER_TOKEN_TTL_S; unset, the application default (300 s) applies', () => {
  writeFileSync(join(dir, 'ttl.yml'), `${EXAMPLE}brokerTokenTtlS: 900\n`);
  expect(read('ttl').environment.BROKER_TOKEN_TTL_S).toBe('900');
  writeFileSync(join(dir, 'no-ttl.yml'), EXAMPLE);
  expect(read('no-ttl').environment).not.toHaveProperty('BROKER_TOKEN_TTL_S');
});

test("a Data API cluster in another region than the stage's fails naming the field", () => {
  const dataApi = EXAMPLE.replace('driver: proxy', 'driver: data-api').replace(/^  host:.*\n  port:.*\n/m, '  resourceArn: arn:aws:rds:us-west-2:123456789012:cluster:acme\n').replace(/^  tls: .*\n/m, '');
  expect(problemWith('cluster-region', dataApi)).toBe(`${shown('cluster-region')}: database.resourceArn is in region us-west-2, not the stage's region eu-west-1 (the functions read it in their own region)`);
});

test('database.tls becomes DB_TLS: verify-full unless the stage says otherwise; only proxy stages have it', () => {
  writeFileSync(join(dir, 'tls-default.yml'), EXAMPLE.replace(/^  tls: .*\n/m, ''));
  expect(read('tls-default').environment.DB_TLS).toBe('verify-full');
  writeFileSync(join(dir, 'tls-require.yml'), EXAMPLE.replace(/^  tls: .*$/m, '  tls: require'));
  expect(read('tls-require').environment.DB_TLS).toBe('require');
  expect(problemWith('tls-bad', EXAMPLE.replace(/^  tls: .*$/m, '  tls: verify-ca'))).toBe(`${shown('tls-bad')}: database.tls Invalid option: expected one of "verify-full"|"require"|"off"`);
  const dataApi = EXAMPLE.replace('driver: proxy', 'driver: data-api').replace(/^  host:.*\n  port:.*\n/m, '  resourceArn: arn:aws:rds:eu-west-1:123456789012:cluster:acme\n');
  expect(problemWith('tls-data-api', dataApi)).toBe(`${shown('tls-data-api')}: database has unknown field(s) tls`);
  writeFileSync(join(dir, 'data-api.yml'), dataApi.replace(/^  tls: .*\n/m, ''));
  expect(read('data-api').environment).not.toHaveProperty('DB_TLS');
});

test.each([
  ['no broker token', EXAMPLE.replace(/^brokerTokenSecretArn:.*\n/m, ''), 'brokerTokenSecretArn is required (every deployed stage authenticates the broker: the ARN of a Secrets Manager secret holding its token)'],
  ['an unknown engine', EXAMPLE.replace('engine: postgres', 'engine: oracle'), 'database.engine Invalid option: expected one of "postgres"|"mysql"'],
  ['a misspelt field', EXAMPLE.replace('passwordHash:', 'passwordHsh:'), '(top level) has unknown field(s) passwordHsh'],
  ['a proxy without a VPC', EXAMPLE.replace(/^vpc:[\s\S]*$/m, ''), 'vpc is required with database.driver proxy (the functions reach RDS Proxy inside the VPC)'],
  ['a secret that is no ARN', EXAMPLE.replace(/secretArn: .*/, 'secretArn: my-db-secret'), 'database.secretArn must be an ARN of the form arn:aws:secretsmanager:<region>:<account>:…'],
  ['a data-api tenant without a cluster ARN', EXAMPLE.replace('driver: proxy', 'driver: data-api').replace(/^  host:.*\n  port:.*\n/m, '').replace(/^  tls:.*\n/m, ''), 'database.resourceArn is required'],
  ['a bad subnet id', EXAMPLE.replace('subnet-0a1b2c3d4e5f60001', 'subnet-XYZ'), 'vpc.subnetIds.0 must be a subnet id (subnet-…)'],
  ['a database secret in another region', EXAMPLE.replace(/(  secretArn: arn:aws:secretsmanager:)eu-west-1:/, '$1us-east-1:'), "database.secretArn is in region us-east-1, not the stage's region eu-west-1 (the functions read it in their own region)"],
  ['a broker-token secret in another region', EXAMPLE.replace(/(brokerTokenSecretArn: arn:aws:secretsmanager:)eu-west-1:/, '$1eu-central-1:'), "brokerTokenSecretArn is in region eu-central-1, not the stage's region eu-west-1 (the functions read it in their own region)"],
  ['a connect-time ACL TTL out of range', `${EXAMPLE}connectAcl:\n  enabled: true\n  ttlS: 10\n`, 'connectAcl.ttlS Too small: expected number to be >=60'],
  ['a token TTL out of range', `${EXAMPLE}brokerTokenTtlS: 5\n`, 'brokerTokenTtlS Too small: expected number to be >=30'],
])('a stage file with %s fails naming the field', (_what, yaml, message) => {
  expect(problemWith('bad', yaml)).toBe(`${shown('bad')}: ${message}`);
});

test("a setting the application refuses fails packaging with the application's own message", () => {
  expect(problemWith('hash', EXAMPLE.replace('name: bcrypt', 'name: rot13'))).toMatch(new RegExp(`^${shown('hash')}: the application refuses setting PASSWORD_HASH: `));
  expect(problemWith('query', EXAMPLE.replace('WHERE username = ${username} LIMIT 1', 'WHERE username = ${nosuch} LIMIT 1'))).toMatch(
    new RegExp(`^${shown('query')}: the application refuses setting AUTHN_QUERY: `),
  );
});

test('a missing stage file and a malformed stage name are named', () => {
  expect(thrownBy(() => read('absent'))).toHaveProperty('message', expect.stringMatching(/^no stage file .*absent\.yml for stage "absent" \(stages: /));
  expect(thrownBy(() => read('../etc'))).toHaveProperty('message', 'stage name "../etc" must be lower-case letters, digits and dashes');
});

test('the functions come from the route table: every route, with a /k/{token} twin except /health', () => {
  const fns = tenant.functionsFromRoutes(ROUTES);
  expect(Object.keys(fns).sort()).toEqual([...new Set(ROUTES.map((r) => r.fn))].sort());
  expect(fns.health).toEqual({ handler: 'functions/health.handler', events: [{ httpApi: { method: 'GET', path: '/health' } }] });
  expect(fns.auth).toEqual({
    handler: 'functions/auth.handler',
    events: [
      { httpApi: { method: 'GET', path: '/mqtt/auth' } },
      { httpApi: { method: 'POST', path: '/mqtt/auth' } },
      { httpApi: { method: 'GET', path: '/k/{token}/mqtt/auth' } },
      { httpApi: { method: 'POST', path: '/k/{token}/mqtt/auth' } },
    ],
  });
  const events = Object.values(fns).flatMap((f) => f.events.map((e) => `${e.httpApi.method} ${e.httpApi.path}`));
  expect(events.length).toBe(ROUTES.reduce((n, r) => n + r.methods.length * (r.path === '/health' ? 1 : 2), 0));
});
