import { writeSync } from 'node:fs';
import pino from 'pino/browser.js';

/**
 * One structured logger per process: pino, in its light build (`pino/browser.js`, the same API,
 * levels and JSON records, without the Node build's stream machinery). The Node build costs a
 * Lambda cold start about half of a bare postgres.js import in loading its modules alone (sonic-boom,
 * thread-stream, the serializers); the light build costs a tenth of that. Each record is one JSON
 * line, written synchronously to stdout (or to the given destination), like pino's default
 * destination. Request bodies are never logged; the redact list is a second line of defence for any
 * object that might carry a secret.
 */

/** Where lines go: a writer of whole JSON lines (tests pass one to read what was logged). */
export interface LogDestination {
  write(line: string): unknown;
}

/** One level's method: an object of fields and a message, or a message alone. */
export interface LogFn {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

/** What the code logs through, at pino's levels. */
export interface Logger {
  level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
}

const REDACTED_PATHS = ['password', '*.password', 'password_hash', '*.password_hash', 'salt', '*.salt', 'cert_pem', '*.cert_pem', 'params', '*.params'];

export function createLogger(level: string, destination: LogDestination = stdout): Logger {
  return pino({
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    browser: {
      // `write` receives each record as an object: fields, `level` (pino's number), `time`, `msg`.
      write: (record: object) => destination.write(`${line(record)}\n`),
    },
  }) as unknown as Logger;
}

/** A record as JSON; a value JSON cannot hold (a BigInt, a cycle) is named, never thrown. */
function line(record: object): string {
  try {
    return JSON.stringify(record);
  } catch (err) {
    return JSON.stringify({ level: 50, time: Date.now(), msg: 'a log record could not be written as JSON', problem: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * stdout by file descriptor: `process.stdout` costs about 3 ms to set up on first use, which a
 * cold start would pay for its first line. A full pipe (EAGAIN) is retried briefly; a line none of
 * which could be written is dropped rather than failing the request that logged it. A line that is
 * partly written is always finished (as pino's own destination does): cut short, its head would run
 * into the next record and break both lines.
 */
export const stdout: LogDestination = {
  write(text: string) {
    let buf = Buffer.from(text);
    const size = buf.length;
    for (let attempt = 0; buf.length > 0 && (attempt < 50 || buf.length < size); ) {
      try {
        const n = writeSync(1, buf);
        buf = buf.subarray(n);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        attempt += 1;
        Atomics.wait(PAUSE, 0, 0, 2);
      }
    }
  },
};
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
