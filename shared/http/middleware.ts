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

/**
 * Maps failures to answers. Bad input: 400 with a JSON error naming the problem (EMQX reads a 4xx
 * as ignore). Anything else: 200 with the failure policy's result — never allow, never a stack.
 */
export function httpErrors(opts: { log: Logger; failure: 'ignore' | 'deny'; route: string }): MiddlewareObj<ApiEvent, HttpResult, Error, Context> {
  return {
    onError: (request) => {
      const err = request.error;
      if (err instanceof BadRequestError) {
        opts.log.info({ route: opts.route, problem: err.message }, 'bad request');
        request.response = json(400, { error: err.message });
        return;
      }
      opts.log.error({ route: opts.route, err: { name: err?.name, message: err?.message }, policy: opts.failure }, 'request failed');
      request.response = json(200, { result: opts.failure });
    },
  };
}
