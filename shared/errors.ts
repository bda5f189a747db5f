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

/**
 * The database could not answer (unreachable, timeout, SQL error). Never a decision by itself.
 * `message` is safe to log; `detail` is the server's own text, which may quote a bound value.
 */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  readonly detail: string | undefined;
  constructor(
    message: string,
    readonly code: string | undefined,
    options: { cause?: unknown; detail?: string } = {},
  ) {
    super(message, { cause: options.cause });
    this.detail = options.detail;
  }
}
