import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import lockfile from 'proper-lockfile';

/** How long a lock its holder stopped renewing (a killed process) keeps others out. */
export const STALE_LOCK_MS = 10_000;

/**
 * Raised when another process holds the embedded database's folder. The message says what to do:
 * PGlite keeps the whole database in the memory of the process that opened it and writes the folder
 * back, so a second process would neither see the first one's changes nor keep its own.
 */
export class DataDirInUse extends Error {
  override readonly name = 'DataDirInUse';
  constructor(readonly dataDir: string) {
    super(
      `the embedded database in DATA_DIR ${dataDir} is in use by another process (npm start, or another mqtt-auth command): ` +
        'it allows one process at a time. Stop it (Ctrl-C), run this command, then start it again; ' +
        `a folder held by a process that was killed is free again within ${STALE_LOCK_MS / 1000} s`,
    );
  }
}

/** The folder on disk PGlite opens for `dataDir` (it reads `file://x` as `x`), or undefined for `memory://` and the like. */
function folderOf(dataDir: string): string | undefined {
  if (dataDir.startsWith('file://')) return dataDir.slice('file://'.length);
  return /^[a-z]+:\/\//.test(dataDir) ? undefined : dataDir;
}

/**
 * Holds `dataDir` for this process until the returned release is called (or the process exits),
 * through a lock folder beside it (`<DATA_DIR>.lock`), renewed while held so that one left by a
 * killed process expires. PGlite itself takes no lock. In-memory databases need none.
 *
 * @param onLost called if the lock could not be renewed and another process may have taken it.
 */
export async function lockDataDir(dataDir: string, onLost: (err: Error) => void): Promise<() => Promise<void>> {
  const folder = folderOf(dataDir);
  if (folder === undefined) return async () => {};
  const path = resolve(folder);
  await mkdir(path, { recursive: true });
  try {
    return await lockfile.lock(path, { lockfilePath: `${path}.lock`, realpath: false, stale: STALE_LOCK_MS, retries: 0, onCompromised: onLost });
  } catch (err) {
    if (typeof err === 'object' && err !== null && Reflect.get(err, 'code') === 'ELOCKED') throw new DataDirInUse(dataDir);
    throw err;
  }
}
