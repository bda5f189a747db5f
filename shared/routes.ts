/**
 * The one route table: every HTTP route, the methods it takes and the Lambda function (a module in
 * `functions/` exporting `handler`) that answers it. The local server serves exactly this table;
 * `serverless.yml` declares the same routes (a test holds the two together).
 */
export type Method = 'GET' | 'POST' | 'PUT';

export interface Route {
  readonly path: string;
  readonly methods: readonly Method[];
  /** File name in `functions/` without extension, and the function's name in `serverless.yml`. */
  readonly fn: string;
}

export const ROUTES: readonly Route[] = [
  { path: '/mqtt/auth', methods: ['GET', 'POST'], fn: 'auth' },
  { path: '/mqtt/acl', methods: ['GET', 'POST'], fn: 'acl' },
  { path: '/health', methods: ['GET'], fn: 'health' },
  // EMQX 4.x / Cloud v4 emqx_auth_http: the status is the verdict
  { path: '/emqx4/auth', methods: ['GET', 'POST'], fn: 'emqx4-auth' },
  { path: '/emqx4/superuser', methods: ['GET', 'POST'], fn: 'emqx4-auth' },
  { path: '/emqx4/acl', methods: ['GET', 'POST'], fn: 'emqx4-acl' },
  // RabbitMQ rabbitmq_auth_backend_http (GET query or POST form)
  { path: '/rabbitmq/user', methods: ['GET', 'POST'], fn: 'rabbitmq-auth' },
  { path: '/rabbitmq/vhost', methods: ['GET', 'POST'], fn: 'rabbitmq-auth' },
  { path: '/rabbitmq/resource', methods: ['GET', 'POST'], fn: 'rabbitmq-acl' },
  { path: '/rabbitmq/topic', methods: ['GET', 'POST'], fn: 'rabbitmq-acl' },
  // mosquitto-go-auth HTTP backend (auth_opt_http_method POST, GET or PUT)
  { path: '/mosquitto/user', methods: ['GET', 'POST', 'PUT'], fn: 'mosquitto-auth' },
  { path: '/mosquitto/superuser', methods: ['GET', 'POST', 'PUT'], fn: 'mosquitto-auth' },
  { path: '/mosquitto/acl', methods: ['GET', 'POST', 'PUT'], fn: 'mosquitto-acl' },
  // VerneMQ webhooks, named by the vernemq-hook header
  { path: '/vernemq', methods: ['POST'], fn: 'vernemq' },
];

export function routeFor(path: string): Route | undefined {
  return ROUTES.find((r) => r.path === path);
}
