import mysql from 'mysql2/promise';
import { createMysqlStore, refuseNoBackslashEscapes } from '../../shared/db/mysql.js';
import { createPostgresStore } from '../../shared/db/postgres.js';
import { BackendError } from '../../shared/errors.js';
import { compileSql } from '../../shared/template.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { rejectionOf } from '../helpers/errors.js';

/**
 * RDS Proxy pins a client to one database connection when the session holds state: server-side
 * prepared statements or a per-session SET. These tests read the session's own counters through
 * the adapter's single pooled connection after a run of bound queries.
 */

const POOL = { max: 1, connectTimeoutMs: 1000, queryTimeoutMs: 1500, idleTimeoutS: 60, maxLifetimeS: 1800 };
const TRICKY = ["o'brien", 'back\\slash', "x' OR '1'='1", 'tab\tand\nnewline', 'emoji 😀', '?', ':p1', '"quoted"', '\\\'', ''];

describe('postgres.js adapter', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('postgres', 'maf_it_pin_pg');
    await db.exec('CREATE TABLE t (username TEXT)');
    for (const u of TRICKY) await db.exec('INSERT INTO t VALUES ($1)', [u]);
  });
  afterAll(async () => db.close());

  it('leaves no named prepared statement and no session-level setting behind', async () => {
    const store = createPostgresStore(db.url, POOL);
    for (const u of TRICKY) expect(await store.query('SELECT username FROM t WHERE username = $1', [u])).toEqual([{ username: u }]);
    expect(await store.query('SELECT name FROM pg_prepared_statements', [])).toEqual([]);
    expect(await store.query("SELECT name FROM pg_settings WHERE source = 'session'", [])).toEqual([]);
    await store.close();
  });
});

describe('mysql2 adapter', () => {
  let db: TestDatabase;
  const status = async (store: { query: (t: string, p: readonly string[]) => Promise<unknown[]> }, name: string) =>
    ((await store.query(`SHOW SESSION STATUS LIKE '${name}'`, [])) as Array<{ Value: string }>)[0]?.Value;

  beforeAll(async () => {
    db = await freshDatabase('mysql', 'maf_it_pin_my');
    await db.exec('CREATE TABLE t (username VARBINARY(100), note VARCHAR(20))');
    for (const u of TRICKY) await db.exec("INSERT INTO t VALUES (?, 'why?')", [u]);
  });
  afterAll(async () => db.close());

  it('control: a server-side prepared statement does move the session counter', async () => {
    const conn = await mysql.createConnection({ uri: db.url });
    await conn.execute('SELECT 1 FROM t WHERE username = ?', ['x']);
    const [rows] = await conn.query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'");
    expect((rows as Array<{ Value: string }>)[0]?.Value).toBe('1');
    await conn.end();
  });

  it('binds on the client: no server-side prepared statement and no SET in the session, exact matches only', async () => {
    const store = createMysqlStore(db.url, POOL);
    const q = compileSql("SELECT CAST(username AS CHAR) AS u, note FROM t WHERE note = 'why?' AND username = ${username}", { dialect: 'mysql', context: 'authn', setting: 'AUTHN_QUERY' });
    for (const u of TRICKY) expect(await store.query(q.text, [u])).toEqual([{ u, note: 'why?' }]);
    expect(await store.query(q.text, ['no such'])).toEqual([]);
    expect(await status(store, 'Com_stmt_prepare')).toBe('0');
    expect(await status(store, 'Com_stmt_execute')).toBe('0');
    expect(await status(store, 'Com_set_option')).toBe('0');
    await store.close();
  });

  it('refuses a session with NO_BACKSLASH_ESCAPES, under which backslash escaping would be unsafe', async () => {
    const pool = mysql.createPool({ uri: db.url, connectionLimit: 1 });
    const conn = await pool.getConnection();
    await conn.query("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'");
    const err = (await rejectionOf(() => refuseNoBackslashEscapes(conn))) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    expect(err.code).toBe('UNSAFE_SQL_MODE');
    await conn.query("SET SESSION sql_mode = ''");
    await expect(refuseNoBackslashEscapes(conn)).resolves.toBeUndefined();
    conn.release();
    await pool.end();
  });

  it('a statement whose markers and values disagree is refused, not run', async () => {
    const store = createMysqlStore(db.url, POOL);
    const err = (await rejectionOf(() => store.query('SELECT 1 FROM t WHERE username = ?', ['a', 'b']))) as BackendError;
    expect(err).toBeInstanceOf(BackendError);
    expect(err.message).toMatch(/1 bind markers but 2 values/);
    // The pool's one connection went back to the pool.
    expect(await store.query('SELECT 1 AS one', [])).toEqual([{ one: 1 }]);
    await store.close();
  });
});
