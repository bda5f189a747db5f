import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirInUse, lockDataDir } from '../../shared/db/pglite-lock.js';
import { createPgliteStore } from '../../shared/db/pglite.js';
import { pgliteSession } from '../../shared/db/session-pglite.js';
import { parseHashConfig } from '../../shared/hash.js';

/** One process per DATA_DIR, on a real folder: the lock beside it, its release, and the store and session that take it. */

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'maf-lock-'));
});
afterAll(() => rm(base, { recursive: true, force: true }));

const never = (err: Error) => {
  throw err;
};

describe('lockDataDir', () => {
  it('refuses a second holder with DataDirInUse until the first releases, through <DATA_DIR>.lock', async () => {
    const dir = join(base, 'a');
    const release = await lockDataDir(dir, never);
    expect(existsSync(`${dir}.lock`)).toBe(true);
    const second = lockDataDir(dir, never);
    await expect(second).rejects.toBeInstanceOf(DataDirInUse);
    await expect(lockDataDir(`file://${dir}`, never)).rejects.toThrow(`the embedded database in DATA_DIR file://${dir} is in use by another process`);
    await release();
    expect(existsSync(`${dir}.lock`)).toBe(false);
    await (await lockDataDir(dir, never))();
  });

  it('takes no lock for an in-memory database (two holders at once)', async () => {
    const a = await lockDataDir('memory://', never);
    const b = await lockDataDir('memory://', never);
    await a();
    await b();
  });

  it('the server store holds the folder from its first query to close; a session meanwhile is refused', async () => {
    const dir = join(base, 'b');
    const store = createPgliteStore(dir, parseHashConfig('{"name":"sha256","salt_position":"prefix"}'), 10_000, never);
    expect(await store.query("SELECT to_regclass('public.mqtt_builtin_user')::text AS t", [])).toEqual([{ t: 'mqtt_builtin_user' }]);
    await expect(pgliteSession(dir)).rejects.toBeInstanceOf(DataDirInUse);
    await store.close();
    const session = await pgliteSession(dir);
    expect(await session.query('SELECT user_id FROM mqtt_builtin_user', [])).toEqual([]);
    await expect(lockDataDir(dir, never)).rejects.toBeInstanceOf(DataDirInUse);
    await session.close();
    expect(existsSync(`${dir}.lock`)).toBe(false);
  }, 60_000);
});
