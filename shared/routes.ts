/**
 * The one route table: every HTTP route, the methods it takes and the Lambda function (a module in
 * `functions/` exporting `handler`) that answers it. The local server serves exactly this table;
 * `serverless.yml` declares the same routes (a test holds the two together).
 */
export type Method = 'GET' | 'POST';

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
];

export function routeFor(path: string): Route | undefined {
  return ROUTES.find((r) => r.path === path);
}
