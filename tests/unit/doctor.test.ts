import { lookupColumn, mysqlPlan, postgresPlan } from '../../shared/doctor/plan.js';
import { exitCode, formatReport, reportJson, type Report } from '../../shared/doctor/report.js';
import { wrapLimit0 } from '../../shared/doctor/session.js';
import { targetOf } from '../../shared/doctor/target.js';

describe('formatReport', () => {
  const report: Report = {
    target: 'postgres at db:5432/mqtt (from DATABASE_URL)',
    findings: [
      { check: 'settings', status: 'ok', message: 'parsed' },
      { check: 'authn-index', status: 'warn', message: 'full scan', hint: 'CREATE INDEX x ON t (c);' },
      { check: 'tcp', status: 'fail', message: 'refused', hint: 'check the port' },
      { check: 'tls', status: 'skip', message: 'not requested' },
    ],
  };

  it('prints one aligned line per check, hints beneath, and a count', () => {
    expect(formatReport(report)).toBe(
      [
        'mqtt-auth doctor: postgres at db:5432/mqtt (from DATABASE_URL)',
        'ok    settings     parsed',
        'warn  authn-index  full scan',
        '                   fix: CREATE INDEX x ON t (c);',
        'FAIL  tcp          refused',
        '                   fix: check the port',
        'skip  tls          not requested',
        '1 failed, 1 warned, 1 ok, 1 skipped',
        '',
      ].join('\n'),
    );
  });

  it('exits 1 on any failure, 0 on warnings alone', () => {
    expect(exitCode(report)).toBe(1);
    expect(exitCode({ ...report, findings: report.findings.filter((f) => f.status !== 'fail') })).toBe(0);
    expect(JSON.parse(reportJson(report))).toMatchObject({ ok: false, target: report.target });
  });
});

describe('postgresPlan', () => {
  const explain = (plan: unknown) => [{ 'QUERY PLAN': [{ Plan: plan }] }];

  it('takes a scan with a Filter and no index condition for a full scan', () => {
    expect(postgresPlan(explain({ 'Node Type': 'Limit', Plans: [{ 'Node Type': 'Seq Scan', 'Relation Name': 'users', Filter: "((name)::text = 'x'::text)" }] }))).toEqual({
      fullScans: [{ table: 'users' }],
      indexes: [],
    });
    // A whole primary-key index walked for ORDER BY id, filtering every row: a full scan too.
    expect(postgresPlan(explain({ 'Node Type': 'Index Scan', 'Index Name': 'acl_pkey', 'Relation Name': 'acl', Filter: '(username = $1)' })).fullScans).toEqual([{ table: 'acl' }]);
  });

  it('takes an index condition, or a bitmap recheck, for an indexed lookup', () => {
    expect(postgresPlan(explain({ 'Node Type': 'Index Scan', 'Index Name': 'u_key', 'Relation Name': 'u', 'Index Cond': '(username = $1)' }))).toEqual({ fullScans: [], indexes: ['u_key'] });
    expect(
      postgresPlan(explain({ 'Node Type': 'Bitmap Heap Scan', 'Relation Name': 'u', 'Recheck Cond': '(a = $1)', Plans: [{ 'Node Type': 'Bitmap Index Scan', 'Index Name': 'u_a', 'Index Cond': '(a = $1)' }] })),
    ).toEqual({ fullScans: [], indexes: ['u_a'] });
  });

  it('leaves a table read whole without a filter alone (the query asked for all of it)', () => {
    expect(postgresPlan(explain({ 'Node Type': 'Seq Scan', 'Relation Name': 'rules_for_all' })).fullScans).toEqual([]);
  });
});

describe('mysqlPlan', () => {
  it('reads ALL and index access with a WHERE as full scans, naming an index the optimizer passed over', () => {
    expect(mysqlPlan([{ table: 'u', type: 'ALL', possible_keys: null, key: null, Extra: 'Using where' }]).fullScans).toEqual([{ table: 'u' }]);
    expect(mysqlPlan([{ table: 'a', type: 'index', possible_keys: null, key: 'PRIMARY', Extra: 'Using where' }]).fullScans).toEqual([{ table: 'a' }]);
    expect(mysqlPlan([{ table: 'u', type: 'ALL', possible_keys: 'u_name', key: null, Extra: 'Using where' }]).fullScans).toEqual([{ table: 'u', unusedIndex: 'u_name' }]);
  });

  it('reads ref access and a const-table verdict as indexed', () => {
    expect(mysqlPlan([{ table: 'b', type: 'ref', possible_keys: 'username', key: 'username', Extra: 'Using where' }])).toEqual({ fullScans: [], indexes: ['username'] });
    expect(mysqlPlan([{ table: null, type: null, key: null, Extra: 'Impossible WHERE noticed after reading const tables' }])).toEqual({ fullScans: [], indexes: ['(a unique key)'] });
  });
});

describe('lookupColumn', () => {
  it('finds the column compared with a client value, without its qualifier or quotes', () => {
    expect(lookupColumn('SELECT a FROM t WHERE username = ${username} LIMIT 1')).toBe('username');
    expect(lookupColumn("SELECT a FROM t u WHERE u.`login`='${clientid}'")).toBe('login');
    expect(lookupColumn('SELECT a FROM t WHERE "Name" = ${cert_common_name}')).toBe('Name');
    expect(lookupColumn('SELECT a FROM t WHERE tenant = 1')).toBeUndefined();
  });
});

describe('wrapLimit0', () => {
  it('wraps a statement so it returns its columns and no row, ending a trailing comment', () => {
    expect(wrapLimit0('SELECT a FROM t -- note;  ')).toBe('SELECT * FROM (SELECT a FROM t -- note\n) AS mqtt_auth_doctor LIMIT 0');
    expect(wrapLimit0('SELECT a FROM t;')).toBe('SELECT * FROM (SELECT a FROM t\n) AS mqtt_auth_doctor LIMIT 0');
  });
});

describe('targetOf', () => {
  it('reads the TLS wish from DATABASE_URL as each driver does', () => {
    const tls = (url: string) => {
      const t = targetOf(url.startsWith('mysql') ? { engine: 'mysql', url } : { engine: 'postgres', url });
      return t.kind === 'network' ? t.tls.mode : undefined;
    };
    expect(tls('postgres://u@h/db')).toBe('off');
    expect(tls('postgres://u@h/db?sslmode=disable')).toBe('off');
    expect(tls('postgres://u@h/db?sslmode=prefer')).toBe('prefer');
    expect(tls('postgres://u@h/db?sslmode=require')).toBe('require');
    expect(tls('postgres://u@h/db?sslmode=verify-full')).toBe('verify');
    expect(tls('postgres://u@h/db?ssl=true')).toBe('verify');
    expect(tls('mysql://u@h/db')).toBe('off');
    expect(tls('mysql://u@h/db?ssl={"rejectUnauthorized":false}')).toBe('require');
    expect(tls('mysql://u@h/db?ssl={}')).toBe('verify');
    expect(tls('mysql://u@h/db?ssl=Amazon%20RDS')).toBe('verify');
  });

  it('takes the default port and the database from the URL', () => {
    expect(targetOf({ engine: 'mysql', url: 'mysql://u:p@db.example:3307/mqtt' })).toMatchObject({ host: 'db.example', port: 3307, database: 'mqtt', source: 'DATABASE_URL' });
    expect(targetOf({ engine: 'postgres', url: 'postgres://u:p@db.example/mqtt' })).toMatchObject({ port: 5432 });
  });
});
