import { createServer, type Server } from 'node:http';

/**
 * A small Secrets-Manager-compatible endpoint for tests: GetSecretValue over the awsJson1_1
 * protocol the SDK speaks (POST /, `X-Amz-Target: secretsmanager.GetSecretValue`, JSON body
 * `{"SecretId": …}`; errors as `{"__type": …, "message": …}`). Point the SDK at it with
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` and dummy credentials. Counts the calls per secret.
 */
export interface SecretsServer {
  readonly url: string;
  put(arn: string, value: string): void;
  calls(arn: string): number;
  /** The next `count` calls fail with the named error (e.g. InternalServiceError). */
  failNext(errorType: string, count: number): void;
  close(): Promise<void>;
}

export async function startSecretsServer(): Promise<SecretsServer> {
  const values = new Map<string, string>();
  const counts = new Map<string, number>();
  const injected: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
        return reply(400, { __type: 'InvalidRequestException', message: `unsupported ${req.method} ${target}` });
      }
      const { SecretId } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId?: string };
      const arn = String(SecretId);
      counts.set(arn, (counts.get(arn) ?? 0) + 1);
      const fail = injected.shift();
      if (fail) return reply(fail === 'InternalServiceError' ? 500 : 400, { __type: fail, message: `injected ${fail}` });
      const value = values.get(arn);
      if (value === undefined) return reply(400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
      reply(200, { ARN: arn, Name: arn.split(':').pop(), SecretString: value, VersionId: `v${counts.get(arn)}`, VersionStages: ['AWSCURRENT'], CreatedDate: 1_700_000_000 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    put: (arn, value) => void values.set(arn, value),
    calls: (arn) => counts.get(arn) ?? 0,
    failNext: (type, count) => {
      for (let i = 0; i < count; i += 1) injected.push(type);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The environment that points AWS SDK clients at local endpoints, with dummy credentials. */
export function localAwsEnv(endpoints: { rdsData?: string; secretsManager?: string }): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'AKIDTESTONLY',
    AWS_SECRET_ACCESS_KEY: 'test-only-not-a-secret',
    AWS_REGION: 'eu-west-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(endpoints.rdsData ? { AWS_ENDPOINT_URL_RDS_DATA: endpoints.rdsData } : {}),
    ...(endpoints.secretsManager ? { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager } : {}),
  };
}

/** Points the AWS SDK clients of this process at local endpoints. */
export function useLocalAws(endpoints: { rdsData?: string; secretsManager?: string }): void {
  Object.assign(process.env, localAwsEnv(endpoints));
}
