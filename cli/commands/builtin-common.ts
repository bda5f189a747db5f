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

/** Writes a line to stdout. */
export const say = (line: string): void => void process.stdout.write(`${line}\n`);
/** Writes a line to stderr. */
export const warn = (line: string): void => void process.stderr.write(`${line}\n`);
