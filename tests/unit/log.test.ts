import { spawn } from 'node:child_process';
import { createLogger } from '../../shared/log.js';

/** The logger: pino's light build writing one JSON line per record to its destination. */
function recorded(level: string) {
  const lines: string[] = [];
  const log = createLogger(level, { write: (s: string) => void lines.push(s) });
  const records = () => lines.map((l) => {
    expect(l.endsWith('\n') && !l.slice(0, -1).includes('\n')).toBe(true);
    const { time, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return { ...rest, time: typeof time } as Record<string, unknown>;
  });
  return { log, records };
}

test('records are one JSON line each, with pino levels, fields and the message', () => {
  const { log, records } = recorded('info');
  log.info({ route: 'auth', n: 1 }, 'answered');
  log.warn('a message alone');
  log.error({ nested: { ok: true } }, 'failed');
  expect(records()).toEqual([
    { level: 30, route: 'auth', n: 1, msg: 'answered', time: 'number' },
    { level: 40, msg: 'a message alone', time: 'number' },
    { level: 50, nested: { ok: true }, msg: 'failed', time: 'number' },
  ]);
});

test('levels below the configured one are not written; silent writes nothing', () => {
  const warn = recorded('warn');
  warn.log.info({ a: 1 }, 'dropped');
  warn.log.debug({ a: 1 }, 'dropped');
  warn.log.warn({ a: 2 }, 'kept');
  expect(warn.records()).toEqual([{ level: 40, a: 2, msg: 'kept', time: 'number' }]);
  const silent = recorded('silent');
  silent.log.fatal({ a: 1 }, 'dropped');
  expect(silent.records()).toEqual([]);
});

test('secrets are redacted at the top level and one level down, without touching the logged object', () => {
  const { log, records } = recorded('info');
  const fields = { password: 'pw', salt: 's', password_hash: 'h', cert_pem: 'pem', params: ['u', 'pw'], row: { password: 'x', salt: 'y', id: 7 } };
  log.info(fields, 'x');
  expect(records()).toEqual([{ level: 30, password: '[redacted]', salt: '[redacted]', password_hash: '[redacted]', cert_pem: '[redacted]', params: '[redacted]', row: { password: '[redacted]', salt: '[redacted]', id: 7 }, msg: 'x', time: 'number' }]);
  expect(fields).toEqual({ password: 'pw', salt: 's', password_hash: 'h', cert_pem: 'pem', params: ['u', 'pw'], row: { password: 'x', salt: 'y', id: 7 } });
});

test('a record JSON cannot hold becomes an error record naming the problem, never a throw', () => {
  const { log, records } = recorded('info');
  const cycle: Record<string, unknown> = {};
  cycle['self'] = cycle;
  expect(() => log.info({ big: 10n }, 'bigint')).not.toThrow();
  expect(() => log.info({ cycle }, 'cycle')).not.toThrow();
  expect(records().map((r) => [r['level'], r['msg']])).toEqual([
    [50, 'a log record could not be written as JSON'],
    [50, 'a log record could not be written as JSON'],
  ]);
});

/**
 * Runs a process that logs `count` records of `size` bytes through the real stdout destination,
 * its stdout made non-blocking (as a pipe shared with a non-blocking writer is) and not read for
 * `stallMs`: the records' lines as the reader got them.
 */
function loggedThroughFullPipe(size: number, count: number, stallMs: number): Promise<string[]> {
  const root = new URL('../../', import.meta.url).pathname;
  const script = `
    const { createLogger } = await import(${JSON.stringify(`${root}shared/log.ts`)});
    process.stdout._handle.setBlocking(false);
    const log = createLogger('info');
    const big = 'x'.repeat(${size});
    for (let i = 0; i < ${count}; i++) log.info({ i, big }, 'record');
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), stallMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out.split('\n').slice(0, -1)));
  });
}

test.each([3000, 50_000, 300_000])('a full pipe never leaves half a line: every line is one whole record (%d-byte records)', async (size) => {
  const lines = await loggedThroughFullPipe(size, 30, 1000);
  expect(lines.length).toBeGreaterThan(0);
  const seen = lines.map((l) => {
    const r = JSON.parse(l) as { i: number; big: string; msg: string };
    expect([r.msg, r.big.length]).toEqual(['record', size]);
    return r.i;
  });
  // Whole records may be dropped while the pipe is full, never reordered or repeated.
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
  expect(new Set(seen).size).toBe(seen.length);
}, 30_000);
