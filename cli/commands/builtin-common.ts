import { builtinTablesExist } from '../../shared/builtin/tables.js';
import { openSession, type SqlSession } from '../../shared/db/session.js';
import { loadSettings, type Settings } from '../../shared/settings.js';

/**
 * What the built-in store commands share: the service's settings from the environment (read once,
 * validated) and one database session for the command, closed however it ends.
 */
export async function withSession<T>(fn: (session: SqlSession, settings: Settings) => Promise<T>): Promise<T> {
  const settings = loadSettings(process.env);
  const session = await openSession(settings);
  try {
    return await fn(session, settings);
  } finally {
    await session.close();
  }
}

/** Thrown when the built-in tables are missing: the message says what to run. */
export class TablesMissing extends Error {
  override readonly name = 'TablesMissing';
}

/**
 * {@link withSession} for commands that need the built-in tables (all but migrate). `refuse`, when
 * given, sees the session before anything is read and may throw to stop the command there.
 */
export function withTables<T>(fn: (session: SqlSession, settings: Settings) => Promise<T>, refuse?: (session: SqlSession) => void): Promise<T> {
  return withSession(async (session, settings) => {
    refuse?.(session);
    if (!(await builtinTablesExist(session))) throw new TablesMissing('the built-in tables do not exist in this database; run mqtt-auth migrate first');
    return fn(session, settings);
  });
}

/** Writes a line to stdout. */
export const say = (line: string): void => void process.stdout.write(`${line}\n`);
/** Writes a line to stderr. */
export const warn = (line: string): void => void process.stderr.write(`${line}\n`);
/** Reports a failure on stderr as `error: <message>` and makes the command exit with 1. */
export const fail = (message: string): void => {
  warn(`error: ${message}`);
  process.exitCode = 1;
};
