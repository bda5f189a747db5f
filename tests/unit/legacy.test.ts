import { createEmqx4AclHandler } from '../../functions/emqx4-acl.js';
import { createEmqx4AuthHandler } from '../../functions/emqx4-auth.js';
import { authorize } from '../../shared/authz.js';
import { ConfigError } from '../../shared/errors.js';
import { readEvent } from '../../shared/http/event.js';
import { emqx4Answer, parseEmqx4Acl, parseEmqx4Auth } from '../../shared/http/emqx4.js';
import { createLogger } from '../../shared/log.js';
import { effectiveTopic, evaluate, parseAnyRow, parseLegacyRow, ruleMatches, shapeOf, whoMatches, type Rule } from '../../shared/rules.js';
import { loadSettings } from '../../shared/settings.js';
import { isLegacySuperuser } from '../../shared/superuser.js';
import { compileSql, renderTopic } from '../../shared/template.js';
import type { AclRequest, AuthnRequest, Row } from '../../shared/types.js';
import { thrownBy } from '../helpers/errors.js';
import { apiEvent, callRaw, containerFor, FakeStore, memoryLogger, type Sent } from '../helpers/harness.js';
import { vectors, type Vector } from '../helpers/vectors.js';

/** EMQX 4.x / Cloud v4: the renderer's %-placeholders, the evaluator's legacy rows, the 4.x reply and request forms. */

function vector(id: string): Vector {
  const found = vectors.find((v) => v.id === id);
  if (!found) throw new Error(`no vector ${id}`);
  return found;
}

const client = (fields: Partial<AuthnRequest>): AuthnRequest => ({ client_attrs: {}, ...fields });

describe("compileSql: EMQX 4's quoted '%u' '%c' '%a' '%C' '%d'", () => {
  it('ph-4-sql: MySQL, one ? per placeholder, the quotes belong to the placeholder', () => {
    const v = vector('ph-4-sql');
    const expected = v['expect'] as { statement: string; params: string[] };
    const compiled = compileSql(v['template'] as string, { dialect: 'mysql', context: 'authn', setting: 'AUTHN_QUERY' });
    expect(compiled.text).toBe(expected.statement);
    expect(compiled.bind(client(v['client'] as Partial<AuthnRequest>))).toEqual(expected.params);
  });

  it("ph-4-sql-pg: PostgreSQL, $1…$n in order; the literal '$all' stays text", () => {
    const v = vector('ph-4-sql-pg');
    const expected = v['expect'] as { statement: string; params: string[] };
    const compiled = compileSql(v['template'] as string, { dialect: 'postgres', context: 'authz', setting: 'AUTHZ_QUERY' });
    expect(compiled.text).toBe(expected.statement);
    expect(compiled.params).toEqual(['peerhost', 'username', 'clientid']);
    expect(compiled.bind(client(v['client'] as Partial<AuthnRequest>))).toEqual(expected.params);
  });

  it("binds '%C' and '%d' as the certificate CN and subject, an unset one as ''", () => {
    const compiled = compileSql("select 1 from t where cn = '%C' and dn = '%d' and u = '%u'", { dialect: 'postgres', context: 'authz', setting: 'AUTHZ_QUERY' });
    expect(compiled.text).toBe('select 1 from t where cn = $1 and dn = $2 and u = $3');
    expect(compiled.bind(client({ cert_common_name: 'cn1', username: 'u' }))).toEqual(['cn1', '', 'u']);
  });

  it("mixes both syntaxes in one template: ${clientid} and '%u'", () => {
    const compiled = compileSql("select password from mqtt_user where username = '%u' and clientid = ${clientid}", { dialect: 'mysql', context: 'authn', setting: 'AUTHN_QUERY' });
    expect(compiled.text).toBe('select password from mqtt_user where username = ? and clientid = ?');
    expect(compiled.bind(client({ username: 'u', clientid: 'c' }))).toEqual(['u', 'c']);
  });

  it("leaves an unquoted %u, '%u%' and '%P' as SQL text, as EMQX 4 does", () => {
    const compiled = compileSql("select password from t where a = %u and b like '%u%' and c = '%P' and d = '%x'", { dialect: 'postgres', context: 'authn', setting: 'AUTHN_QUERY' });
    expect(compiled.text).toBe("select password from t where a = %u and b like '%u%' and c = '%P' and d = '%x'");
    expect(compiled.params).toEqual([]);
  });

  it("reads '%u'' as the start of a longer string literal, not a placeholder", () => {
    const compiled = compileSql("select 1 from t where a = '%u'' ok'", { dialect: 'postgres', context: 'authz', setting: 'AUTHZ_QUERY' });
    expect(compiled.text).toBe("select 1 from t where a = '%u'' ok'");
    expect(compiled.params).toEqual([]);
  });

  it("a value that breaks quotes stays a bound value", () => {
    const compiled = compileSql("select password from mqtt_user where username = '%u' limit 1", { dialect: 'mysql', context: 'authn', setting: 'AUTHN_QUERY' });
    expect(compiled.bind(client({ username: "x' OR '1'='1" }))).toEqual(["x' OR '1'='1"]);
  });
});

describe("renderTopic: EMQX 4's whole-level %u and %c", () => {
  it('ph-4-topic: /smarthome/%c/temperature for client dev1', () => {
    const v = vector('ph-4-topic');
    expect(renderTopic(v['template'] as string, client(v['client'] as Partial<AuthnRequest>))).toBe((v['expect'] as { rendered: string }).rendered);
  });

  it('substitutes a whole level only: t/%c-x and t/x%u stay text', () => {
    const c = client({ username: 'u1', clientid: 'c1' });
    expect(renderTopic('%u/%c/#', c)).toBe('u1/c1/#');
    expect(renderTopic('t/%c-x', c)).toBe('t/%c-x');
    expect(renderTopic('t/x%u', c)).toBe('t/x%u');
    expect(renderTopic('t/%C', c)).toBe('t/%C');
    expect(renderTopic('%c', c)).toBe('c1');
  });

  it('an allow rule with the value unset, or one holding + # /, does not apply; a deny rule takes it literally', () => {
    expect(renderTopic('devices/%c/#', client({}))).toBeUndefined();
    expect(renderTopic('devices/%c/#', client({ clientid: '+' }))).toBeUndefined();
    expect(renderTopic('users/%u/#', client({ username: 'a/b' }))).toBeUndefined();
    expect(renderTopic('%c/x', client({ clientid: '$SYS' }))).toBeUndefined();
    expect(renderTopic('devices/%c/#', client({ clientid: '#' }), 'literal')).toBe('devices/#/#');
    expect(renderTopic('devices/%c/#', client({}), 'literal')).toBe('devices//#');
  });
});

describe('parseLegacyRow', () => {
  const row = (fields: Record<string, unknown>): Row => ({ allow: 1, ipaddr: null, username: '$all', clientid: null, access: 1, topic: 't', ...fields });
  const rule = (fields: Record<string, unknown>): Rule => {
    const parsed = parseLegacyRow(row(fields));
    if (!('rule' in parsed)) throw new Error(parsed.invalid);
    return parsed.rule;
  };

  it('reads allow 1/0 and access 1/2/3 as integers, numeric strings, bigints or booleans', () => {
    expect(rule({ allow: 1 }).permission).toBe('allow');
    expect(rule({ allow: '0' }).permission).toBe('deny');
    expect(rule({ allow: false }).permission).toBe('deny');
    expect([...rule({ access: 1 }).actions]).toEqual(['subscribe']);
    expect([...rule({ access: '2' }).actions]).toEqual(['publish']);
    expect([...rule({ access: 3n }).actions]).toEqual(['subscribe', 'publish']);
  });

  it.each([
    [{ allow: 2 }, 'allow must be 1 (allow) or 0 (deny), got 2'],
    [{ allow: null }, 'allow must be 1 (allow) or 0 (deny), got NULL'],
    [{ access: 0 }, 'access must be 1 (subscribe), 2 (publish) or 3 (both), got 0'],
    [{ access: 'pub' }, 'access must be 1 (subscribe), 2 (publish) or 3 (both), got "pub"'],
    [{ topic: '' }, 'topic is missing'],
    [{ topic: 'a/#/b' }, 'topic "a/#/b" is not a valid MQTT filter'],
    [{ username: 'u1', ipaddr: '10.0.0.300' }, 'ipaddr must be an IP address or CIDR, got "10.0.0.300"'],
    [{ username: 'u1', ipaddr: '10.0.0.0/33' }, 'ipaddr must be an IP address or CIDR, got "10.0.0.0/33"'],
    [{ username: 'u1', ipaddr: '10.0.0.0/8/1' }, 'ipaddr must be an IP address or CIDR, got "10.0.0.0/8/1"'],
  ])('invalid: %j → %s', (fields, problem) => {
    expect(parseLegacyRow(row(fields))).toEqual({ invalid: problem });
  });

  it('eq <topic> is an exact, unrendered match', () => {
    expect(rule({ topic: 'eq #' }).topic).toEqual({ eq: true, text: '#' });
    expect(rule({ topic: 'eq t/%c' }).topic).toEqual({ eq: true, text: 't/%c' });
  });

  it('B20: every who-column NULL or empty → matches nobody, with a warning', () => {
    const parsed = parseLegacyRow(row({ username: null, ipaddr: '', clientid: null }));
    expect('rule' in parsed && parsed.rule.legacy?.who).toEqual({ kind: 'nobody' });
    expect('rule' in parsed && parsed.warning).toBe('ipaddr, username and clientid are all NULL: the row matches nobody (use username $all for everyone)');
  });

  it('username $all matches everyone, whatever ipaddr and clientid say; other $ values are ordinary', () => {
    const all = rule({ username: '$all', ipaddr: '10.0.0.1', clientid: 'x' }).legacy!.who;
    expect(whoMatches(all, client({}))).toBe(true);
    const mail = rule({ username: '$MAIL$u@x' }).legacy!.who;
    expect(whoMatches(mail, client({ username: '$MAIL$u@x' }))).toBe(true);
    expect(whoMatches(mail, client({ username: 'other' }))).toBe(false);
    // $all in the clientid column is not special.
    const cid = rule({ username: null, clientid: '$all' }).legacy!.who;
    expect(whoMatches(cid, client({ clientid: 'c1' }))).toBe(false);
  });

  it('AND-s the non-empty who-columns; ipaddr is an address (/32) or CIDR; IPv4-mapped IPv6 peers match', () => {
    const who = rule({ username: 'u1', clientid: 'c1', ipaddr: '192.168.1.0/24' }).legacy!.who;
    expect(whoMatches(who, client({ username: 'u1', clientid: 'c1', peerhost: '192.168.1.9' }))).toBe(true);
    expect(whoMatches(who, client({ username: 'u1', clientid: 'c1', peerhost: '::ffff:192.168.1.9' }))).toBe(true);
    expect(whoMatches(who, client({ username: 'u1', clientid: 'c2', peerhost: '192.168.1.9' }))).toBe(false);
    expect(whoMatches(who, client({ username: 'u1', clientid: 'c1', peerhost: '192.168.2.9' }))).toBe(false);
    expect(whoMatches(who, client({ username: 'u1', clientid: 'c1' }))).toBe(false);
    expect(whoMatches(who, client({ username: 'u1', clientid: 'c1', peerhost: 'not-an-ip' }))).toBe(false);
    const single = rule({ username: null, ipaddr: '10.59.1.100' }).legacy!.who;
    expect(whoMatches(single, client({ peerhost: '10.59.1.100' }))).toBe(true);
    expect(whoMatches(single, client({ peerhost: '10.59.1.101' }))).toBe(false);
    const v6 = rule({ username: null, ipaddr: '2001:db8::/32' }).legacy!.who;
    expect(whoMatches(v6, client({ peerhost: '2001:db8::7' }))).toBe(true);
    expect(whoMatches(v6, client({ peerhost: '2001:db9::7' }))).toBe(false);
  });

  it('reads MySQL VARBINARY who-columns (Buffers) as text', () => {
    const who = rule({ username: Buffer.from('u1'), clientid: Buffer.from('c1') }).legacy!.who;
    expect(whoMatches(who, client({ username: 'u1', clientid: 'c1' }))).toBe(true);
  });

  it('a legacy deny # reaches $ topics (EMQX 4); a legacy allow # and every EMQX 5 rule do not', () => {
    const req = (action: 'publish' | 'subscribe', topic: string): AclRequest => ({ client_attrs: {}, action, topic });
    const deny = rule({ allow: 0, access: 3, topic: '#' });
    const allow = rule({ allow: 1, access: 3, topic: '#' });
    const plus = rule({ allow: 0, access: 3, topic: '+/brokers' });
    expect(ruleMatches(deny, req('subscribe', '$SYS/#'), '$SYS/#')).toBe(true);
    expect(ruleMatches(deny, req('publish', '$SYS/x'), '$SYS/x')).toBe(true);
    expect(ruleMatches(plus, req('subscribe', '$SYS/brokers'), '$SYS/brokers')).toBe(true);
    expect(ruleMatches(allow, req('subscribe', '$SYS/brokers'), '$SYS/brokers')).toBe(false);
    const five = parseAnyRow({ permission: 'deny', action: 'all', topic: '#' }, 'auto');
    expect('rule' in five && ruleMatches(five.rule, req('subscribe', '$SYS/brokers'), '$SYS/brokers')).toBe(false);
  });
});

describe('shapeOf and ACL_ROW_SHAPE', () => {
  it('auto: permission/action → emqx5, allow/access → legacy, both or neither → invalid', () => {
    expect(shapeOf({ permission: 'allow', action: 'all', topic: 't' }, 'auto')).toBe('emqx5');
    expect(shapeOf({ allow: 1, access: 1, topic: 't' }, 'auto')).toBe('legacy');
    expect(shapeOf({ permission: 'allow', access: 1, topic: 't' }, 'auto')).toEqual({ invalid: 'the row has both permission/action and allow/access columns; set ACL_ROW_SHAPE' });
    expect(shapeOf({ topic: 't' }, 'auto')).toEqual({ invalid: 'the row has neither permission/action nor allow/access columns' });
  });

  it('a fixed shape reads every row that way', () => {
    expect(shapeOf({ permission: 'allow', access: 1 }, 'legacy')).toBe('legacy');
    expect(parseAnyRow({ allow: 1, access: 1, topic: 't' }, 'emqx5')).toEqual({ invalid: 'permission must be allow or deny, got NULL', shape: 'emqx5' });
  });
});

describe('authorize: the order legacy rows are judged in', () => {
  // The Cloud v4 sample rows (authz-4-cloud-*), in id order.
  const rows: Row[] = (vector('authz-4-cloud-sys-other')['table'] as Row[]).map(({ id: _id, ...r }) => r);
  const req: AclRequest = { client_attrs: {}, username: 'emqx', clientid: 'c1', peerhost: '10.59.1.100', action: 'subscribe', topic: '$SYS/brokers' };
  const deps = (legacyOrder?: 'last-first' | 'top-down') => ({
    store: new FakeStore(rows),
    query: compileSql("select allow, ipaddr, username, clientid, access, topic from mqtt_acl where username = '%u'", { dialect: 'postgres', context: 'authz', setting: 'AUTHZ_QUERY' }),
    noMatch: 'ignore' as const,
    onBackendFailure: 'deny' as const,
    log: createLogger('silent'),
    ...(legacyOrder === undefined ? {} : { legacyOrder }),
  });

  it('last-first by default: row 1 (allow from 10.59.1.100) beats row 0 (deny $all)', async () => {
    expect(await authorize(deps(), req)).toEqual({ result: 'allow', reason: 'row 1 matched', detail: { row: 1 } });
    expect(await authorize(deps('last-first'), req)).toEqual({ result: 'allow', reason: 'row 1 matched', detail: { row: 1 } });
  });

  it('top-down: row 0 (deny $all) decides first', async () => {
    expect(await authorize(deps('top-down'), req)).toEqual({ result: 'deny', reason: 'row 0 matched', detail: { row: 0 } });
  });

  it('EMQX 5 rows keep their returned order whatever LEGACY_ROW_ORDER says', async () => {
    const five: Row[] = [
      { permission: 'deny', action: 'all', topic: 'a/#' },
      { permission: 'allow', action: 'all', topic: '#' },
    ];
    const d = { ...deps('last-first'), store: new FakeStore(five) };
    expect(await authorize(d, { ...req, topic: 'a/b' })).toEqual({ result: 'deny', reason: 'row 0 matched', detail: { row: 0 } });
  });

  it('evaluate is first match in the order given', () => {
    const r = (allow: number, topic: string): Rule => {
      const p = parseLegacyRow({ allow, username: '$all', access: 1, topic });
      if (!('rule' in p)) throw new Error(p.invalid);
      return p.rule;
    };
    const sub: AclRequest = { client_attrs: {}, action: 'subscribe', topic: 'x' };
    expect(evaluate([r(0, 'x'), r(1, '#')], sub, effectiveTopic(sub)!)).toEqual({ decision: 'deny', index: 0 });
    expect(evaluate([r(1, '#'), r(0, 'x')], sub, effectiveTopic(sub)!)).toEqual({ decision: 'allow', index: 0 });
  });

  it('logs an all-NULL row and goes on', async () => {
    const logger = memoryLogger();
    const d = { ...deps(), log: logger.log, store: new FakeStore([{ allow: 0, ipaddr: null, username: null, clientid: null, access: 1, topic: '#' }]) };
    expect(await authorize(d, req)).toEqual({ result: 'ignore', reason: 'no rule matched' });
    expect(logger.lines().join('\n')).toContain('ACL row matches nobody');
  });
});

describe('isLegacySuperuser: MySQL integer 1, PostgreSQL boolean true', () => {
  it.each([
    [1, true],
    [true, true],
    [1n, true],
    [0, false],
    [2, false],
    ['1', false],
    ['true', false],
    [false, false],
    [null, false],
    [undefined, false],
  ])('%p → %p', (value, expected) => {
    expect(isLegacySuperuser(value)).toBe(expected);
  });
});

describe('EMQX 4 requests (/emqx4/*)', () => {
  const parse = (path: string, sent: Sent) => readEvent(apiEvent(path, sent));

  it('auth: form, JSON and GET query; ipaddr, cn, dn become peerhost and the certificate fields', () => {
    const fields = { clientid: 'c1', username: 'u1', password: 'pw', ipaddr: '10.0.0.1', cn: 'cn1', dn: 'CN=cn1', mountpoint: 'm/' };
    const expected = { kind: 'auth', client: { username: 'u1', clientid: 'c1', peerhost: '10.0.0.1', cert_common_name: 'cn1', cert_subject: 'CN=cn1', password: 'pw', client_attrs: {} } };
    expect(parseEmqx4Auth(parse('/emqx4/auth', { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams(fields).toString() }))).toEqual(expected);
    expect(parseEmqx4Auth(parse('/emqx4/auth', { contentType: 'application/json', body: JSON.stringify(fields) }))).toEqual(expected);
    expect(parseEmqx4Auth(parse('/emqx4/auth', { method: 'GET', query: new URLSearchParams(fields).toString() }))).toEqual(expected);
  });

  it('the text "undefined" (how EMQX 4 renders a field the client lacks) is unset', () => {
    const parsed = parseEmqx4Acl(parse('/emqx4/acl', { method: 'GET', query: 'access=2&username=u1&clientid=undefined&ipaddr=undefined&topic=t%2F1' }));
    expect(parsed).toEqual({ username: 'u1', client_attrs: {}, topic: 't/1', action: 'publish' });
  });

  it('superuser: under a stage prefix too', () => {
    expect(parseEmqx4Auth(parse('/prod/emqx4/superuser', { method: 'GET', query: 'clientid=c1&username=root' }))).toEqual({ kind: 'superuser', client: { username: 'root', clientid: 'c1', client_attrs: {} } });
  });

  it('acl: access 1 is a subscription, 2 a publish', () => {
    expect(parseEmqx4Acl(parse('/emqx4/acl', { method: 'GET', query: 'access=1&username=u1&topic=a%2F%23' }))).toMatchObject({ action: 'subscribe', topic: 'a/#' });
    expect(parseEmqx4Acl(parse('/emqx4/acl', { method: 'GET', query: 'access=2&username=u1&topic=a' }))).toMatchObject({ action: 'publish', topic: 'a' });
  });

  it.each([
    ['/emqx4/acl', 'access=4&topic=a', 'access must be 1 (subscribe) or 2 (publish) (access=%A)'],
    ['/emqx4/acl', 'topic=a', 'access must be 1 (subscribe) or 2 (publish) (access=%A)'],
    ['/emqx4/acl', 'access=1&username=a%00b&topic=a', 'username must not contain a NUL character'],
    ['/emqx4/auth', 'username=u1', 'password is required (password=%P); EMQX 4 never asks with an empty one'],
    ['/emqx4/other', 'username=u1&password=p', 'unknown EMQX 4 authentication path /emqx4/other'],
  ])('%s?%s → %s', (path, query, problem) => {
    const run = () => (path === '/emqx4/acl' ? parseEmqx4Acl(parse(path, { method: 'GET', query })) : parseEmqx4Auth(parse(path, { method: 'GET', query })));
    expect(thrownBy(run)).toMatchObject({ name: 'BadRequestError', message: problem });
  });
});

describe('EMQX 4 answers: the status is the verdict', () => {
  it('allow is 200 ok; ignore is 200 with exactly the 6 bytes ignore; deny is 401 (auth) or 403', () => {
    expect(emqx4Answer('auth', 'allow')).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' });
    expect(emqx4Answer('acl', 'ignore')).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'ignore' });
    expect(emqx4Answer('auth', 'ignore').body).toHaveLength(6);
    expect(emqx4Answer('auth', 'deny').statusCode).toBe(401);
    expect(emqx4Answer('acl', 'deny').statusCode).toBe(403);
  });

  it('a superuser check has no ignore: anything but yes is 403', () => {
    expect(emqx4Answer('superuser', 'ignore').statusCode).toBe(403);
    expect(emqx4Answer('superuser', 'deny').statusCode).toBe(403);
  });

  it('never 204', () => {
    for (const check of ['auth', 'superuser', 'acl'] as const) for (const v of ['allow', 'deny', 'ignore'] as const) expect(emqx4Answer(check, v).statusCode).not.toBe(204);
  });
});

describe('settings: SUPERUSER_QUERY, ACL_ROW_SHAPE, LEGACY_ROW_ORDER', () => {
  it('defaults: no superuser query, auto shape, last-first', () => {
    const s = loadSettings({});
    expect([s.superuserQuery, s.aclRowShape, s.legacyRowOrder]).toEqual([undefined, 'auto', 'last-first']);
  });

  it('reads the values it accepts', () => {
    const s = loadSettings({ SUPERUSER_QUERY: "select is_superuser from mqtt_user where username = '%u' limit 1", ACL_ROW_SHAPE: 'legacy', LEGACY_ROW_ORDER: 'top-down' });
    expect([s.superuserQuery, s.aclRowShape, s.legacyRowOrder]).toEqual(["select is_superuser from mqtt_user where username = '%u' limit 1", 'legacy', 'top-down']);
  });

  it.each([
    ['ACL_ROW_SHAPE', 'emqx4'],
    ['LEGACY_ROW_ORDER', 'bottom-up'],
    ['SUPERUSER_QUERY', '   '],
  ])('a bad %s stops start-up naming it', (name, value) => {
    const error = thrownBy(() => loadSettings({ [name]: value }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: name });
  });

  it('SUPERUSER_QUERY is compiled at start-up and may not bind the password', () => {
    const error = thrownBy(() => containerFor({ SUPERUSER_QUERY: 'select is_superuser from mqtt_user where username = ${username} and password = ${password}' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: 'SUPERUSER_QUERY' });
    expect(containerFor({ SUPERUSER_QUERY: "select is_superuser from mqtt_user where username = '%u'" }, new FakeStore([])).superuserQuery?.params).toEqual(['username']);
  });
});

describe('EMQX 4 handlers when something unexpected fails', () => {
  const boom = () => new FakeStore(new Error('driver bug'));
  const form = { contentType: 'application/x-www-form-urlencoded' };

  it('auth answers AUTHN_BACKEND_FAILURE (ignore → 200 ignore, deny → 401), superuser 403, acl AUTHZ_BACKEND_FAILURE', async () => {
    const logger = memoryLogger();
    const c = containerFor({}, boom(), logger.log);
    const auth = createEmqx4AuthHandler(c);
    const acl = createEmqx4AclHandler(c);
    expect(await callRaw(auth as never, '/emqx4/auth', { ...form, body: 'username=u1&password=Hidden-pw' })).toEqual({ status: 200, contentType: 'text/plain', body: 'ignore' });
    expect(await callRaw(auth as never, '/emqx4/superuser', { ...form, body: 'username=u1' })).toEqual({ status: 403, contentType: 'text/plain', body: 'deny' });
    expect(await callRaw(acl as never, '/emqx4/acl', { ...form, body: 'access=1&username=u1&topic=t' })).toEqual({ status: 403, contentType: 'text/plain', body: 'deny' });
    const strict = containerFor({ AUTHN_BACKEND_FAILURE: 'deny', AUTHZ_BACKEND_FAILURE: 'ignore' }, boom());
    expect(await callRaw(createEmqx4AuthHandler(strict) as never, '/emqx4/auth', { ...form, body: 'username=u1&password=Hidden-pw' })).toEqual({ status: 401, contentType: 'text/plain', body: 'deny' });
    expect(await callRaw(createEmqx4AclHandler(strict) as never, '/emqx4/acl', { ...form, body: 'access=1&username=u1&topic=t' })).toEqual({ status: 200, contentType: 'text/plain', body: 'ignore' });
    // The chain catches the source's exception and answers that source's failure policy.
    const failures = logger.lines().map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === 'source failed');
    expect(failures.map((r) => [r['kind'], r['policy']])).toEqual([['authn', 'ignore'], ['superuser', 'ignore'], ['authz', 'deny']]);
    expect(logger.lines().join('\n')).not.toContain('Hidden-pw');
  });
});
