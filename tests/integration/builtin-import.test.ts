import { Readable, Writable } from 'node:stream';
import { ImportStopped, importRecords, type ImportOptions, type ImportSummary } from '../../shared/builtin/bulk.js';
import { exportRecords } from '../../shared/builtin/export.js';
import { migrate } from '../../shared/builtin/schema.js';
import { openSession, type SqlSession } from '../../shared/db/session.js';
import { parseHashConfig } from '../../shared/hash.js';
import { BuiltinSource } from '../../shared/sources/builtin.js';
import { loadSettings, type Settings } from '../../shared/settings.js';
import type { SqlStore } from '../../shared/db/port.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { memoryLogger } from '../helpers/harness.js';

/**
 * Bulk import and export against real PostgreSQL, real MariaDB and embedded PGlite: bad input is
 * rejected row by row with its line and reason while the good rows land; re-runs update; dry runs
 * write nothing; a failure mid-file leaves whole batches only.
 */

// sha256 with prefix salt (the default PASSWORD_HASH): H('salt' + 'sha256'), from the EMQX vectors.
const HASH = 'ac63a624e7074776d677dd61a003b8c803eb11db004d0ec6ae032a5d7c9c5caf';
const SHA256 = parseHashConfig('{"name":"sha256","salt_position":"prefix"}');

const bytes = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
/** Feeds `data` in small chunks, so records straddle chunk boundaries. */
const input = (data: Buffer | string, chunk = 7): Readable => {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts);
};

const BAD_USERS = bytes(
  '\ufeffuser_id,password_hash,salt,is_superuser,algorithm\r\n',
  `alice,${HASH},salt,false,sha256\r\n`,
  `bob,${HASH},salt,true\r\n`,
  `"car"ol,${HASH},salt,false,sha256\r\n`,
  `dave,${HASH},salt,false,md6\r\n`,
  `,${HASH},salt,false,sha256\r\n`,
  `alice,${HASH},salt,true,sha256\r\n`,
  'e',
  [0xff, 0xfe],
  `ve,${HASH},salt,false,\r\n`,
  `frank,${HASH},salt,1,\r\n`,
  `"gina, ""g""",${HASH},salt,0,sha256\r\n`,
  'heidi,not-a-digest,salt,0,\r\n',
  `ivan,${HASH},salt,maybe,\r\n`,
  '\r\n',
  `judy,${HASH},salt,false,sha512\r\n`,
  `"kim,${HASH},salt,false,\r\n`,
  `liam,${HASH},salt,false,\r\n`,
);

const BAD_USER_REJECTS = [
  { at: 'line 3', reason: 'expected 5 fields (user_id,password_hash,salt,is_superuser,algorithm), got 4' },
  { at: 'line 4', reason: 'bad quoting: a closing quote is followed by text' },
  { at: 'line 5', reason: 'unknown algorithm "md6"; expected one of plain, md5, sha, sha256, sha512, bcrypt, pbkdf2' },
  { at: 'line 6', reason: 'user_id is empty' },
  { at: 'line 7', reason: 'duplicate of line 2' },
  { at: 'line 8', reason: 'not valid UTF-8' },
  { at: 'line 11', reason: 'password_hash is not a 64-character hex sha256 digest (PASSWORD_HASH is sha256)' },
  { at: 'line 12', reason: 'is_superuser must be true, false, 1, 0 or empty' },
  { at: 'line 14', reason: 'algorithm sha512 is not the configured PASSWORD_HASH (sha256)' },
  { at: 'line 15', reason: 'a quoted field is not closed' },
];

interface Backend {
  readonly name: string;
  session: SqlSession;
  settings: Settings;
  store: SqlStore;
  exec(sql: string): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

const asStore = (s: SqlSession): SqlStore => ({ dialect: s.dialect, query: (t, p) => s.query(t, p), close: async () => {} });

async function realBackend(engine: 'postgres' | 'mysql'): Promise<Backend> {
  const db: TestDatabase = await freshDatabase(engine, `maf_it_bimport_${engine}`);
  const settings = loadSettings({ DATABASE_URL: db.url });
  const session = await openSession(settings);
  return {
    name: `real ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`,
    session,
    settings,
    store: asStore(session),
    exec: (sql) => db.exec(sql),
    close: async () => {
      await session.close();
      await db.close();
    },
  };
}

async function pgliteBackend(): Promise<Backend> {
  const settings = loadSettings({ DATA_DIR: 'memory://' });
  const session = await openSession(settings);
  return { name: 'embedded PGlite', session, settings, store: asStore(session), exec: (sql) => session.query(sql, []), close: () => session.close() };
}

/** MySQL returns VARBINARY columns as bytes. */
const str = (v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString('utf8') : v);
const opts = (o: Partial<ImportOptions> = {}): ImportOptions => ({ kind: 'users', format: 'csv', hash: SHA256, ...o });
const counts = (s: ImportSummary) => ({ read: s.read, inserted: s.inserted, updated: s.updated, rejected: s.rejected });
/** What explain learns when the hasher ran on a built-in user: the user row and the algorithm. */
const HASHED = { row: 0, algorithm: 'sha256' };
const collect = () => {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { out, text: () => chunks.join('') };
};

describe.each([['postgres'], ['mysql'], ['pglite']] as const)('bulk import and export against %s', (which) => {
  let b: Backend;
  let source: BuiltinSource;
  beforeAll(async () => {
    b = which === 'pglite' ? await pgliteBackend() : await realBackend(which);
    await migrate(b.session);
    source = new BuiltinSource(b.store, b.settings, memoryLogger().log);
  }, 60_000);
  afterAll(() => b.close());

  const users = async () => (await b.exec('SELECT user_id, salt, is_superuser FROM mqtt_builtin_user ORDER BY user_id')).map((r) => [str(r['user_id']), r['salt'], Boolean(Number(r['is_superuser']) || r['is_superuser'] === true)]);

  it('rejects each bad row with its line and reason and imports the good ones', async () => {
    const summary = await importRecords(b.session, input(BAD_USERS), opts());
    expect(counts(summary)).toEqual({ read: 14, inserted: 4, updated: 0, rejected: 10 });
    expect(summary.rejects).toEqual(BAD_USER_REJECTS);
    expect(await users()).toEqual([
      ['alice', 'salt', false],
      ['frank', 'salt', true],
      ['gina, "g"', 'salt', false],
      ['liam', 'salt', false],
    ]);
    expect(await source.authenticate({ username: 'gina, "g"', password: 'sha256', client_attrs: {} })).toEqual({ result: 'allow', is_superuser: false, reason: 'built-in: password verified', detail: HASHED });
  });

  it('re-runs idempotently: the same file updates the same rows and rejects the same lines', async () => {
    const summary = await importRecords(b.session, input(BAD_USERS, 4096), opts());
    expect(counts(summary)).toEqual({ read: 14, inserted: 0, updated: 4, rejected: 10 });
    expect(summary.rejects).toEqual(BAD_USER_REJECTS);
    expect((await users()).length).toBe(4);
  });

  it('finds a duplicate in another batch, and counts a dry run without writing', async () => {
    const csv = `user_id,password_hash,salt\nm1,${HASH},salt\nm2,${HASH},salt\nm3,${HASH},salt\nm1,${HASH},salt\nalice,${HASH},salt\n`;
    const dry = await importRecords(b.session, input(csv), opts({ batchSize: 2, dryRun: true }));
    expect(counts(dry)).toEqual({ read: 5, inserted: 3, updated: 1, rejected: 1 });
    expect(dry.rejects).toEqual([{ at: 'line 5', reason: 'duplicate of line 2' }]);
    expect(dry.dryRun).toBe(true);
    expect((await users()).map((u) => u[0])).toEqual(['alice', 'frank', 'gina, "g"', 'liam']);
    const real = await importRecords(b.session, input(csv), opts({ batchSize: 2 }));
    expect(counts(real)).toEqual({ read: 5, inserted: 3, updated: 1, rejected: 1 });
    expect((await users()).map((u) => u[0])).toEqual(['alice', 'frank', 'gina, "g"', 'liam', 'm1', 'm2', 'm3']);
  });

  it('hashes a plain-text password column with PASSWORD_HASH on the way in', async () => {
    const summary = await importRecords(b.session, input('user_id,password,is_superuser\nplain1,s3cret,true\nplain2,,false\n'), opts());
    expect(counts(summary)).toEqual({ read: 2, inserted: 1, updated: 0, rejected: 1 });
    expect(summary.rejects).toEqual([{ at: 'line 3', reason: 'password_hash (or password) is empty' }]);
    expect(await source.authenticate({ username: 'plain1', password: 's3cret', client_attrs: {} })).toEqual({ result: 'allow', is_superuser: true, reason: 'built-in: password verified', detail: HASHED });
    expect(await source.authenticate({ username: 'plain1', password: 's3cret!', client_attrs: {} })).toEqual({ result: 'deny', reason: 'built-in: wrong password', detail: HASHED });
  });

  it('reads EMQX JSON arrays and JSON Lines, numbering elements and lines', async () => {
    const json = JSON.stringify([
      { user_id: 'j1', password_hash: HASH, salt: 'salt', is_superuser: true },
      { user_id: '', password_hash: HASH, salt: 'salt' },
      ['not', 'an', 'object'],
      { user_id: 'j2', password: 'pw', is_superuser: false },
    ]);
    const a = await importRecords(b.session, input(json), opts({ format: 'json' }));
    expect(counts(a)).toEqual({ read: 4, inserted: 2, updated: 0, rejected: 2 });
    expect(a.rejects).toEqual([
      { at: 'element 2', reason: 'user_id is empty' },
      { at: 'element 3', reason: 'not a JSON object' },
    ]);
    const lines = `{"user_id":"l1","password_hash":"${HASH}","salt":"salt"}\n{"user_id":"l2",\n\n{"user_id":"j1","password_hash":"${HASH}","salt":"salt","is_superuser":false}\n`;
    const l = await importRecords(b.session, input(lines), opts({ format: 'jsonl' }));
    expect(counts(l)).toEqual({ read: 3, inserted: 1, updated: 1, rejected: 1 });
    expect(l.rejects).toEqual([{ at: 'line 2', reason: 'not valid JSON' }]);
    expect(await source.authenticate({ username: 'j1', password: 'sha256', client_attrs: {} })).toEqual({ result: 'allow', is_superuser: false, reason: 'built-in: password verified', detail: HASHED });
  });

  it('keeps what came before a JSON array that breaks off, and says where', async () => {
    const broken = `[{"user_id":"k1","password_hash":"${HASH}","salt":"salt"},{"user_id":"k2","password_hash":"${HASH}","salt":"salt"},{"user_id":`;
    const err = await importRecords(b.session, input(broken), opts({ format: 'json' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportStopped);
    const stopped = err as ImportStopped;
    expect(stopped.message).toMatch(/^the JSON array breaks off after element 2: /);
    expect(counts(stopped.summary)).toEqual({ read: 2, inserted: 2, updated: 0, rejected: 0 });
    expect((await b.exec("SELECT user_id FROM mqtt_builtin_user WHERE user_id IN ('k1', 'k2') ORDER BY user_id")).map((r) => str(r['user_id']))).toEqual(['k1', 'k2']);
  });

  it('never leaves a half-written batch when the input fails mid-file', async () => {
    async function* failing() {
      yield Buffer.from('user_id,password_hash,salt\n');
      for (let i = 0; i < 2000; i += 1) yield Buffer.from(`crash${String(i).padStart(4, '0')},${HASH},salt\n`);
      throw new Error('disk read error');
    }
    const err = await importRecords(b.session, Readable.from(failing(), { highWaterMark: 1 }), opts({ batchSize: 10 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportStopped);
    expect((err as ImportStopped).message).toBe('disk read error');
    const summary = (err as ImportStopped).summary;
    const rows = await b.exec("SELECT count(*) AS n FROM mqtt_builtin_user WHERE user_id LIKE 'crash%'");
    // Only whole batches of 10 are in the table, and the summary counts exactly those.
    expect(Number(rows[0]?.['n'])).toBe(summary.inserted);
    expect(summary.inserted % 10).toBe(0);
    // The reader parses up to 500 records at a time, so at most one group and one batch were in hand.
    expect(summary.inserted).toBeGreaterThanOrEqual(1000);
    expect(summary.read - summary.inserted).toBeLessThan(510);
    expect(summary.rejected).toBe(0);
  });

  it('rejects only the row the database refuses when a batch fails on it', async () => {
    await b.exec("ALTER TABLE mqtt_builtin_user ADD CONSTRAINT no_forbidden CHECK (user_id <> 'forbidden')");
    try {
      const csv = `user_id,password_hash,salt\nr1,${HASH},salt\nforbidden,${HASH},salt\nr2,${HASH},salt\n`;
      const summary = await importRecords(b.session, input(csv), opts());
      expect(counts(summary)).toEqual({ read: 3, inserted: 2, updated: 0, rejected: 1 });
      expect(summary.rejects.map((r) => r.at)).toEqual(['line 3']);
      expect(summary.rejects[0]?.reason).toMatch(/^the database refused it: /);
      expect(summary.rejects[0]?.reason).not.toContain(HASH);
    } finally {
      await b.exec('ALTER TABLE mqtt_builtin_user DROP CONSTRAINT no_forbidden');
    }
  });

  it('imports rules in CSV, EMQX grouped JSON and flat JSON, and the source evaluates them', async () => {
    const csv = [
      'clientid,username,permission,action,topic,qos,retain',
      'c1,,deny,publish,t/1,,',
      ',alice,allow,all,t/#,,',
      ',alice,allow,publish,q/1,"1,2",false',
      ',,deny,subscribe,$SYS/#,,',
      'c1,alice,allow,publish,x,,',
      ',bob,maybe,publish,x,,',
      ',bob,allow,publish,a/#/b,,',
      ',bob,allow,publish,x,3,',
      ',alice,allow,all,t/#,,',
      ',alice,deny,all,t/#,,',
    ].join('\n');
    const s = await importRecords(b.session, input(csv), opts({ kind: 'rules' }));
    expect(counts(s)).toEqual({ read: 10, inserted: 4, updated: 0, rejected: 6 });
    expect(s.rejects).toEqual([
      { at: 'line 6', reason: 'give clientid or username (or neither, for all clients), not both' },
      { at: 'line 7', reason: 'permission must be allow or deny' },
      { at: 'line 8', reason: 'topic "a/#/b" is not a valid MQTT filter' },
      { at: 'line 9', reason: 'qos must be 0, 1, 2 or a list of them (empty for any)' },
      { at: 'line 10', reason: 'duplicate of line 3' },
      { at: 'line 11', reason: 'duplicate of line 3' },
    ]);
    const grouped = JSON.stringify([
      { clientid: 'c2', rules: [{ permission: 'allow', action: 'publish', topic: 'g/${clientid}', qos: [0, 1], retain: 'all' }, { permission: 'nope' }] },
      { permission: 'allow', action: 'subscribe', topic: 'pub/#' },
    ]);
    const g = await importRecords(b.session, input(grouped), opts({ kind: 'rules', format: 'json' }));
    expect(counts(g)).toEqual({ read: 3, inserted: 2, updated: 0, rejected: 1 });
    expect(g.rejects).toEqual([{ at: 'element 1 rule 2', reason: 'permission must be allow or deny' }]);
    const req = (c: Record<string, unknown>) => ({ client_attrs: {}, qos: 1 as const, retain: false, ...c }) as Parameters<BuiltinSource['authorize']>[0];
    expect((await source.authorize(req({ username: 'alice', clientid: 'c1', action: 'publish', topic: 't/1' }))).result).toBe('deny');
    expect((await source.authorize(req({ username: 'alice', clientid: 'c9', action: 'publish', topic: 't/1' }))).result).toBe('allow');
    expect((await source.authorize(req({ username: 'zed', clientid: 'c2', action: 'publish', topic: 'g/c2' }))).result).toBe('allow');
    expect((await source.authorize(req({ username: 'zed', clientid: 'c2', action: 'subscribe', topic: 'pub/x' }))).result).toBe('allow');
    expect((await source.authorize(req({ username: 'zed', clientid: 'c2', action: 'subscribe', topic: '$SYS/x' }))).result).toBe('deny');
    // Re-importing a rule with the other permission updates it in place.
    const flip = await importRecords(b.session, input('username,permission,action,topic\nalice,deny,all,t/#\n'), opts({ kind: 'rules' }));
    expect(counts(flip)).toEqual({ read: 1, inserted: 0, updated: 1, rejected: 0 });
    expect((await source.authorize(req({ username: 'alice', clientid: 'c9', action: 'publish', topic: 't/1' }))).result).toBe('deny');
  });

  it('exports what it imports, in CSV, JSON and JSON Lines, and the export imports back unchanged', async () => {
    const csv = collect();
    const n = await exportRecords(b.session, 'users', 'csv', csv.out);
    const lines = csv.text().trimEnd().split('\n');
    expect(lines[0]).toBe('user_id,password_hash,salt,is_superuser');
    expect(lines.length).toBe(n + 1);
    expect(lines).toContain(`"gina, ""g""",${HASH},salt,false`);
    expect(lines).toContain(`frank,${HASH},salt,true`);
    const again = await importRecords(b.session, input(csv.text()), opts());
    expect(counts(again)).toEqual({ read: n, inserted: 0, updated: n, rejected: 0 });

    const json = collect();
    expect(await exportRecords(b.session, 'rules', 'json', json.out)).toBe(6);
    const rules = JSON.parse(json.text()) as unknown[];
    expect(rules[0]).toEqual({ clientid: 'c1', permission: 'deny', action: 'publish', topic: 't/1', qos: [0, 1, 2], retain: 'all' });
    expect(rules[2]).toEqual({ username: 'alice', permission: 'allow', action: 'publish', topic: 'q/1', qos: [1, 2], retain: false });
    const back = await importRecords(b.session, input(json.text()), opts({ kind: 'rules', format: 'json' }));
    expect(counts(back)).toEqual({ read: 6, inserted: 0, updated: 6, rejected: 0 });

    const jsonl = collect();
    expect(await exportRecords(b.session, 'rules', 'jsonl', jsonl.out)).toBe(6);
    expect(jsonl.text().split('\n')[3]).toBe('{"permission":"deny","action":"subscribe","topic":"$SYS/#","qos":[0,1,2],"retain":"all"}');
  });
});
