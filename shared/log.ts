import { pino, type DestinationStream } from 'pino';

/**
 * One structured logger per process. Request bodies are never logged; the redact list is a second
 * line of defence for any object that might carry a secret.
 */
export function createLogger(level: string, destination?: DestinationStream) {
  const options = {
    level,
    base: null,
    redact: {
      paths: ['password', '*.password', 'password_hash', '*.password_hash', 'salt', '*.salt', 'cert_pem', '*.cert_pem', 'params', '*.params'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type Logger = ReturnType<typeof createLogger>;
