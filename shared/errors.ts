/**
 * Named failures. Only {@link BadRequestError} messages ever reach a client; every other error is
 * mapped to the operator's failure policy and logged without its parameters.
 */

/** A setting is missing or malformed: start-up stops with a message naming it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
  }
}

/** The request cannot be understood; answered with 400 and a JSON error (EMQX reads it as ignore). */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
  readonly statusCode = 400;
}

/** The database could not answer (unreachable, timeout, SQL error). Never a decision by itself. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
