import { pino, type Logger } from 'pino';

/**
 * One structured logger per process. Request bodies are never logged; the redact list is a second
 * line of defence for any object that might carry a secret.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: null,
    redact: {
      paths: ['password', '*.password', 'password_hash', '*.password_hash', 'salt', '*.salt', 'cert_pem', '*.cert_pem', 'params', '*.params'],
      censor: '[redacted]',
    },
  });
}

export type { Logger };
