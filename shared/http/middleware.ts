import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import { readEvent, type ApiEvent, type HttpRequest } from './event.js';

/** The event as the handler sees it: the API Gateway event plus the validated input. */
export type InputEvent<T> = ApiEvent & { input?: T };
export type HttpResult = APIGatewayProxyResult;

export function json(statusCode: number, body: unknown): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** Parses and validates the request once, before the handler runs. */
export function httpInput<T>(parse: (req: HttpRequest) => T): MiddlewareObj<InputEvent<T>, HttpResult, Error, Context> {
  return {
    before: (request) => {
      request.event.input = parse(readEvent(request.event));
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
