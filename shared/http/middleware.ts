import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Container } from '../container.js';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import { headersOf, pathTokenOf, readEvent, type ApiEvent, type HttpRequest } from './event.js';
import { checkToken, tokensProblem } from './token.js';

/** The event as the handler sees it: the API Gateway event plus the validated input. */
export type InputEvent<T> = ApiEvent & { input?: T };
export type HttpResult = APIGatewayProxyResult;

export function json(statusCode: number, body: unknown): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** Events whose broker token `brokerAuth` has accepted. */
const admitted = new WeakSet<object>();

/**
 * Parses and validates the request once, before the handler runs. Refuses to parse a request that
 * `brokerAuth` has not admitted: a handler built without it fails closed (its failure answer,
 * never allow) instead of serving unauthenticated brokers.
 */
export function httpInput<T>(parse: (req: HttpRequest) => T): MiddlewareObj<InputEvent<T>, HttpResult, Error, Context> {
  return {
    before: (request) => {
      if (!admitted.has(request.event)) throw new Error('brokerAuth middleware must run before httpInput');
      request.event.input = parse(readEvent(request.event));
    },
  };
}

/** 401 with a JSON error: EMQX 5 reads it as ignore; RabbitMQ, go-auth and VerneMQ as a refusal. */
export const unauthorized = (problem: string): HttpResult => ({
  statusCode: 401,
  headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
  body: JSON.stringify({ error: problem }),
});

/**
 * The broker must present the token (`Authorization: Bearer <token>` or a `/k/<token>/` path
 * prefix) on every route but `/health`; a request without the right one gets 401 before anything
 * is parsed. No token configured: served locally (the start-up warned), refused on Lambda, where a
 * missing token is a deployment error. Two configured tokens (the current and the previous, during
 * a rotation) are both accepted. A token that cannot be read at all (Secrets Manager down at the
 * first read) is 503, and is asked for again only after `retryAfterMs` (5 s).
 * Neither the token nor the path that carries it is ever logged.
 */
export function brokerAuth(c: Pick<Container, 'brokerToken' | 'log' | 'settings'>, route: string, opts: { retryAfterMs?: number } = {}): MiddlewareObj<ApiEvent, HttpResult, Error, Context> {
  // After a failed read, answer 503 for a while without asking again: a broken secret under load
  // must not turn every request into a Secrets Manager call.
  const retryAfterMs = opts.retryAfterMs ?? 5000;
  let failedAt: number | undefined;
  return {
    before: async (request) => {
      let expected: readonly string[] | undefined;
      if (failedAt !== undefined && Date.now() - failedAt < retryAfterMs) return json(503, { error: 'broker token unavailable' });
      try {
        expected = await c.brokerToken();
        failedAt = undefined;
      } catch (err) {
        failedAt = Date.now();
        // Secret errors name the ARN and the failure, never the value (shared/aws/secrets.ts).
        c.log.error({ route, problem: err instanceof Error ? err.message : String(err) }, 'broker token unavailable');
        return json(503, { error: 'broker token unavailable' });
      }
      if (expected === undefined) {
        if (c.settings.onLambda) {
          c.log.error({ route }, 'no broker token configured (BROKER_TOKEN_SECRET_ARN or BROKER_TOKEN): refusing every request');
          return unauthorized('the endpoint has no broker token configured');
        }
        admitted.add(request.event);
        return undefined;
      }
      const unusable = tokensProblem(expected);
      if (unusable !== undefined) {
        c.log.error({ route }, `the configured broker token ${unusable}: refusing every request`);
        return unauthorized('the endpoint has no usable broker token configured');
      }
      const check = checkToken(expected, { authorization: headersOf(request.event)['authorization'], pathSegment: pathTokenOf(request.event)?.segment });
      if (!check.ok) {
        c.log.info({ route, problem: check.problem }, 'broker token refused');
        return unauthorized(check.problem);
      }
      admitted.add(request.event);
      return undefined;
    },
  };
}

/** The validated input, for the handler. */
export function inputOf<T>(event: InputEvent<T>): T {
  if (event.input === undefined) throw new Error('httpInput middleware is missing');
  return event.input;
}

export function text(statusCode: number, body: string): HttpResult {
  return { statusCode, headers: { 'content-type': 'text/plain' }, body };
}

/** What went wrong, for a dialect to phrase as its broker's "no". */
export interface Failure {
  /** True for a request that cannot be understood; false for anything else (a bug, a dead driver). */
  readonly badInput: boolean;
  /** Safe to show: a BadRequestError's message, or a fixed text for other failures. */
  readonly message: string;
}

/**
 * Maps every failure to the answer a broker reads as "no" (or "ignore"): `refuse` phrases it in the
 * broker's dialect. Bad input is logged at info with its message; anything else at error without
 * a stack. Never allow, never a stack trace in a response.
 */
export function answerErrors(opts: { log: Logger; route: string; policy?: string; refuse: (failure: Failure) => HttpResult }): MiddlewareObj<ApiEvent, HttpResult, Error, Context> {
  return {
    onError: (request) => {
      const err = request.error;
      if (err instanceof BadRequestError) {
        opts.log.info({ route: opts.route, problem: err.message }, 'bad request');
        request.response = opts.refuse({ badInput: true, message: err.message });
        return;
      }
      opts.log.error({ route: opts.route, err: { name: err?.name, message: err?.message }, ...(opts.policy ? { policy: opts.policy } : {}) }, 'request failed');
      request.response = opts.refuse({ badInput: false, message: 'internal error' });
    },
  };
}

/**
 * EMQX 5 routes. Bad input: 400 with a JSON error naming the problem (EMQX reads a 4xx as ignore).
 * Anything else: 200 with the failure policy's result — never allow, never a stack.
 */
export function httpErrors(opts: { log: Logger; failure: 'ignore' | 'deny'; route: string }): MiddlewareObj<ApiEvent, HttpResult, Error, Context> {
  return answerErrors({
    log: opts.log,
    route: opts.route,
    policy: opts.failure,
    refuse: (f) => (f.badInput ? json(400, { error: f.message }) : json(200, { result: opts.failure })),
  });
}
