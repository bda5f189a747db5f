import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROUTES } from '../../shared/routes.js';

/**
 * `npm run package` packages every example stage offline (no AWS account); these tests read the
 * CloudFormation it generated. Packaging runs once for the suite (about 5 s for both stages).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
}
interface Template {
  readonly Resources: Record<string, Resource>;
}

const templates: Record<string, Template> = {};
const packageOutput = { code: -1, text: '' };

beforeAll(() => {
  const r = spawnSync(process.execPath, ['infra/package-stages.cjs'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  packageOutput.code = r.status ?? -1;
  packageOutput.text = `${r.stdout}${r.stderr}`;
  for (const stage of STAGES) {
    templates[stage] = JSON.parse(readFileSync(`${ROOT}.package/${stage}/cloudformation-template-update-stack.json`, 'utf8')) as Template;
  }
}, 120_000);

const STAGES = ['acme-postgres', 'globex-aurora-mysql'] as const;
type Stage = (typeof STAGES)[number];

const ofType = (t: Template, type: string): Array<[string, Resource]> => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
const functionsOf = (t: Template) => ofType(t, 'AWS::Lambda::Function');
/** The route table's function name (`auth`, `rabbitmq-auth`…) of a Lambda resource. */
const fnName = (stage: Stage, r: Resource): string => String(r.Properties.FunctionName).replace(`mqtt-auth-functions-${stage}-`, '');

const FN_NAMES = [...new Set(ROUTES.map((r) => r.fn))].sort();

const EXPECTED_ENV: Record<Stage, Record<string, string>> = {
  'acme-postgres': {
    DB_DRIVER: 'proxy',
    DB_ENGINE: 'postgres',
    DB_HOST: 'acme-mqtt-auth.proxy-c0ffee123456.eu-west-1.rds.amazonaws.com',
    DB_PORT: '5432',
    DB_NAME: 'mqtt',
    DB_TLS: 'verify-full',
    DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/mqtt-auth/db-AbC123',
    BROKER_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/mqtt-auth/broker-token-XyZ789',
    DB_POOL_MAX: '1',
    AUTHN_QUERY: 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} LIMIT 1',
    AUTHZ_QUERY: 'SELECT permission, action, topic, qos, retain FROM mqtt_acl WHERE username = ${username} ORDER BY id',
    PASSWORD_HASH: '{"name":"bcrypt"}',
    AUTHZ_NO_MATCH: 'ignore',
    AUTHN_BACKEND_FAILURE: 'ignore',
    AUTHZ_BACKEND_FAILURE: 'deny',
  },
  'globex-aurora-mysql': {
    DB_DRIVER: 'data-api',
    DB_ENGINE: 'mysql',
    DB_RESOURCE_ARN: 'arn:aws:rds:us-east-1:210987654321:cluster:globex-mqtt',
    DB_NAME: 'mqtt',
    DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:210987654321:secret:globex/mqtt-auth/db-Qw3rTy',
    BROKER_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:210987654321:secret:globex/mqtt-auth/broker-token-As4dFg',
    DB_POOL_MAX: '1',
    AUTHN_QUERY: 'SELECT password_hash, salt, is_superuser FROM devices WHERE username = ${username} AND enabled = 1 LIMIT 1',
    AUTHZ_QUERY: 'SELECT permission, action, topic, qos, retain FROM device_acl WHERE username = ${username} ORDER BY id',
    PASSWORD_HASH: '{"name":"pbkdf2","mac_fun":"sha256","iterations":4096,"dk_length":32}',
    AUTHZ_NO_MATCH: 'deny',
    AUTHN_BACKEND_FAILURE: 'ignore',
    AUTHZ_BACKEND_FAILURE: 'deny',
  },
};

test('npm run package packages every example stage', () => {
  expect(packageOutput.code).toBe(0);
  expect(packageOutput.text).toContain('package: acme-postgres → .package/acme-postgres');
  expect(packageOutput.text).toContain('package: globex-aurora-mysql → .package/globex-aurora-mysql');
});

describe.each(STAGES)('stage %s', (stage) => {
  const t = (): Template => templates[stage] as Template;

  test('one function per route-table function, Node.js 20 on arm64, 4 s timeout', () => {
    const fns = functionsOf(t());
    expect(fns.map(([, r]) => fnName(stage, r)).sort()).toEqual(FN_NAMES);
    for (const [, r] of fns) {
      expect(r.Properties.Runtime).toBe('nodejs20.x');
      expect(r.Properties.Architectures).toEqual(['arm64']);
      expect(r.Properties.Timeout).toBe(4);
      expect(r.Properties.MemorySize).toBe(stage === 'acme-postgres' ? 1024 : 512);
      expect(r.Properties.Handler).toBe(`functions/${fnName(stage, r)}.handler`);
    }
  });

  test('every route of shared/routes.ts, and its /k/{token} form except /health, reaches its function', () => {
    const expected = ROUTES.flatMap((r) =>
      (r.path === '/health' ? [r.path] : [r.path, `/k/{token}${r.path}`]).flatMap((p) => r.methods.map((m) => [`${m} ${p}`, r.fn] as const)),
    ).sort(([a], [b]) => a.localeCompare(b));
    const integrationFn = new Map(
      ofType(t(), 'AWS::ApiGatewayV2::Integration').map(([id, r]) => {
        const target = (r.Properties.IntegrationUri as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        return [id, fnName(stage, t().Resources[target] as Resource)] as const;
      }),
    );
    const routes = ofType(t(), 'AWS::ApiGatewayV2::Route')
      .map(([, r]) => {
        const join = (r.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] })['Fn::Join'][1];
        return [String(r.Properties.RouteKey), integrationFn.get(join[1].Ref)] as const;
      })
      .sort(([a], [b]) => a.localeCompare(b));
    expect(routes).toEqual(expected);
    expect(routes.map(([k]) => k)).toContain('POST /k/{token}/mqtt/auth');
    // The EMQX 4 routes are in the table, so in the package, each form reaching its function.
    expect(routes.filter(([k]) => k.includes('/emqx4/'))).toEqual([
      ['GET /emqx4/acl', 'emqx4-acl'],
      ['GET /emqx4/auth', 'emqx4-auth'],
      ['GET /emqx4/superuser', 'emqx4-auth'],
      ['GET /k/{token}/emqx4/acl', 'emqx4-acl'],
      ['GET /k/{token}/emqx4/auth', 'emqx4-auth'],
      ['GET /k/{token}/emqx4/superuser', 'emqx4-auth'],
      ['POST /emqx4/acl', 'emqx4-acl'],
      ['POST /emqx4/auth', 'emqx4-auth'],
      ['POST /emqx4/superuser', 'emqx4-auth'],
      ['POST /k/{token}/emqx4/acl', 'emqx4-acl'],
      ['POST /k/{token}/emqx4/auth', 'emqx4-auth'],
      ['POST /k/{token}/emqx4/superuser', 'emqx4-auth'],
    ]);
    expect(routes.map(([k]) => k)).not.toContain('GET /k/{token}/health');
    expect(ofType(t(), 'AWS::ApiGatewayV2::Api').map(([, r]) => r.Properties.ProtocolType)).toEqual(['HTTP']);
  });

  test("the environment is the stage file's settings, the same for every function", () => {
    for (const [, r] of functionsOf(t())) {
      expect((r.Properties.Environment as { Variables: Record<string, string> }).Variables).toEqual(EXPECTED_ENV[stage]);
    }
  });

  test('no secret in clear: only secret ARNs, no DATABASE_URL or BROKER_TOKEN, no credentials in a URL', () => {
    const text = JSON.stringify(t());
    expect(text).not.toMatch(/"(DATABASE_URL|BROKER_TOKEN|DB_PASSWORD|DB_USER)"/);
    expect(text).not.toMatch(/[a-z]+:\/\/[^/"\s:@]+:[^/"\s@]+@/);
    const env = EXPECTED_ENV[stage];
    expect(Object.keys(env).filter((k) => /SECRET|TOKEN/.test(k)).sort()).toEqual(['BROKER_TOKEN_SECRET_ARN', 'DB_SECRET_ARN']);
    expect(env.DB_SECRET_ARN).toMatch(/^arn:aws:secretsmanager:/);
    expect(env.BROKER_TOKEN_SECRET_ARN).toMatch(/^arn:aws:secretsmanager:/);
  });

  test('least-privilege role: the two secrets, and ExecuteStatement on the cluster for the Data API only', () => {
    const [[, role] = ['', undefined]] = ofType(t(), 'AWS::IAM::Role');
    const policies = (role?.Properties.Policies ?? []) as Array<{ PolicyDocument: { Statement: Array<{ Action: string[]; Resource: unknown }> } }>;
    const statements = policies.flatMap((p) => p.PolicyDocument.Statement).filter((s) => !s.Action.every((a) => a.startsWith('logs:')));
    const env = EXPECTED_ENV[stage];
    const expected: Array<{ Effect: string; Action: string[]; Resource: unknown }> = [
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [env.DB_SECRET_ARN, env.BROKER_TOKEN_SECRET_ARN] },
    ];
    if (stage === 'globex-aurora-mysql') expected.push({ Effect: 'Allow', Action: ['rds-data:ExecuteStatement'], Resource: env.DB_RESOURCE_ARN });
    expect(statements).toEqual(expected);
  });

  test('VPC: the proxy tenant runs in its subnets and security group; the Data API tenant outside any VPC', () => {
    const [[, role] = ['', undefined]] = ofType(t(), 'AWS::IAM::Role');
    const managed = JSON.stringify(role?.Properties.ManagedPolicyArns ?? []);
    for (const [, r] of functionsOf(t())) {
      if (stage === 'acme-postgres') {
        expect(r.Properties.VpcConfig).toEqual({ SecurityGroupIds: ['sg-0a1b2c3d4e5f60003'], SubnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'] });
      } else {
        expect(r.Properties.VpcConfig).toBeUndefined();
      }
    }
    if (stage === 'acme-postgres') expect(managed).toContain('service-role/AWSLambdaVPCAccessExecutionRole');
    else expect(managed).not.toContain('AWSLambdaVPCAccessExecutionRole');
  });

  test("each zip holds one bundled file with only the stage's driver, the AWS SDK left to the runtime", () => {
    for (const fn of FN_NAMES) {
      const zip = `${ROOT}.package/${stage}/${fn}.zip`;
      const listing = execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' }).trim().split('\n');
      expect(listing).toEqual([`functions/${fn}.cjs`]);
    }
    const js = execFileSync('unzip', ['-p', `${ROOT}.package/${stage}/auth.zip`, 'functions/auth.cjs'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    // postgres.js names its errors PostgresError; mysql2 ships its authentication plugins by name.
    // (Booleans, so a failure does not print the bundle.)
    const has = (s: string): boolean => js.includes(s);
    expect({
      postgres: has('PostgresError'),
      mysql2: has('mysql_native_password'),
      pglite: has('PGlite'),
      rdsData: has('require("@aws-sdk/client-rds-data")'),
      secretsManager: has('import("@aws-sdk/client-secrets-manager")'),
    }).toEqual({ postgres: stage === 'acme-postgres', mysql2: false, pglite: false, rdsData: stage === 'globex-aurora-mysql', secretsManager: true });
  });
});

describe('packaging refuses a bad stage, naming the problem', () => {
  test('a stage without a stage file', () => {
    const r = spawnSync(process.execPath, ['infra/package-stages.cjs', 'no-such-tenant'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('StageError: no stage file infra/stages/no-such-tenant.yml for stage "no-such-tenant" (stages: acme-postgres, globex-aurora-mysql)');
    expect(r.stderr).toContain('package: stage no-such-tenant failed');
  });

  test('a stage without a broker token secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'maf-stage-'));
    try {
      const example = readFileSync(`${ROOT}infra/stages/acme-postgres.yml`, 'utf8');
      writeFileSync(join(dir, 'tokenless.yml'), example.replace(/^brokerTokenSecretArn:.*\n/m, ''));
      const r = spawnSync(process.execPath, ['infra/package-stages.cjs', 'tokenless'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, MAF_STAGES_DIR: dir } });
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(
        `StageError: ${join(dir, 'tokenless.yml')}: brokerTokenSecretArn is required (every deployed stage authenticates the broker: the ARN of a Secrets Manager secret holding its token)`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
