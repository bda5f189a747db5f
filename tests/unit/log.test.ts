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
