import { ConfigError } from '../../shared/errors.js';
import { thrownBy } from '../helpers/errors.js';
import { parseRow, ruleMatches } from '../../shared/rules.js';
import { compileSql, findMarkers, renderTopic, type Dialect } from '../../shared/template.js';
import type { AuthnRequest, ClientInfo } from '../../shared/types.js';
import { vectors, type Vector } from '../helpers/vectors.js';

const authn = { context: 'authn', setting: 'AUTHN_QUERY' } as const;
const authz = { context: 'authz', setting: 'AUTHZ_QUERY' } as const;
const pg = { ...authn, dialect: 'postgres' } as const;
const my = { ...authn, dialect: 'mysql' } as const;

function vector(id: string): Vector {
  const found = vectors.find((v) => v.id === id);
  if (!found) throw new Error(`no vector ${id}`);
  return found;
}

/** A vector's client as the broker would describe it (no client attributes unless given). */
const clientOf = (v: Vector): AuthnRequest => ({ client_attrs: {}, ...(v.client as Record<string, string>) });


/** Asserts a ConfigError for `setting` whose message contains `mention`. */
function expectConfigError(fn: () => unknown, setting: string, mention: string): void {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(ConfigError);
  expect(error).toMatchObject({ setting });
  expect(error instanceof Error ? error.message : '').toContain(mention);
  expect(error instanceof Error ? error.message.startsWith(`${setting}: `) : false).toBe(true);
}

describe('compileSql: placeholder vectors', () => {
  it('ph-5-pg-basic: numbers placeholders $1, $2 for PostgreSQL and binds the client values in order', () => {
    const v = vector('ph-5-pg-basic');
    const expected = v.expect as { statement: string; params: string[] };
    const compiled = compileSql(v.template as string, pg);
    expect(compiled.text).toBe(expected.statement);
    expect(compiled.params).toEqual(['username', 'clientid']);
    expect(compiled.bind(clientOf(v))).toEqual(expected.params);
  });

  it.each(['postgres', 'mysql'] as const)('ph-5-undefined-sql: an unset placeholder binds as the empty string (%s)', (dialect: Dialect) => {
    const v = vector('ph-5-undefined-sql');
    const expected = v.expect as { params: string[] };
    const compiled = compileSql(v.template as string, { ...authn, dialect });
    expect(compiled.bind(clientOf(v))).toEqual(expected.params);
  });
});

describe('compileSql: where the project differs from ph-5-sql-quotes', () => {
  const v = vector('ph-5-sql-quotes');
  const template = v.template as string;
  const expected = v.expect as { statement: string; params: string[] };
  const client: AuthnRequest = { username: 'u', client_attrs: {} };
  const disallowedLine = (line: string): boolean => line.startsWith('age') || line.startsWith('city');

  it('rejects the vector template at load time, naming the first disallowed placeholder ${age}', () => {
    expectConfigError(() => compileSql(template, my), 'AUTHN_QUERY', '${age}');
  });

  it('rejects ${city.name} too, in either quoting', () => {
    expectConfigError(() => compileSql("SELECT 1 FROM t WHERE city = '${city.name}'", my), 'AUTHN_QUERY', '${city.name}');
    expectConfigError(() => compileSql('SELECT 1 FROM t WHERE city = ${city.name}', pg), 'AUTHN_QUERY', '${city.name}');
  });

  it('compiles the rest of the vector as EMQX does: ${$} escapes and the username parameter', () => {
    const allowedOnly = template.split('\n').filter((l) => !disallowedLine(l)).join('\n');
    const statement = expected.statement.split('\n').filter((l) => !disallowedLine(l)).join('\n');
    const compiled = compileSql(allowedOnly, my);
    expect(compiled.text).toBe(statement);
    expect(compiled.text).toContain('country = ${country},');
    expect(compiled.text).toContain("region = '${region}'");
    expect(compiled.params).toEqual(['username']);
    expect(compiled.bind(client)).toEqual(['u']);
  });

  it.each(['postgres', 'mysql'] as const)("binds a single-quoted '${username}' as a parameter, as \"${username}\" is (%s)", (dialect: Dialect) => {
    const single = compileSql("SELECT password_hash FROM mqtt_user WHERE username = '${username}' LIMIT 1", { ...authn, dialect });
    const double = compileSql('SELECT password_hash FROM mqtt_user WHERE username = "${username}" LIMIT 1', { ...authn, dialect });
    const marker = dialect === 'postgres' ? '$1' : '?';
    expect(single.text).toBe(`SELECT password_hash FROM mqtt_user WHERE username = ${marker} LIMIT 1`);
    expect(double.text).toBe(single.text);
    expect(single.params).toEqual(['username']);
    expect(double.params).toEqual(['username']);
    expect(single.bind(client)).toEqual(['u']);
  });

  it('renders ${$}{country} as the literal text ${country}', () => {
    const compiled = compileSql('SELECT 1 FROM t WHERE country = ${$}{country}', pg);
    expect(compiled.text).toBe('SELECT 1 FROM t WHERE country = ${country}');
    expect(compiled.params).toEqual([]);
  });

  it("keeps '${$}{region}' as the literal string '${region}'", () => {
    const compiled = compileSql("SELECT 1 FROM t WHERE region = '${$}{region}'", my);
    expect(compiled.text).toBe("SELECT 1 FROM t WHERE region = '${region}'");
    expect(compiled.params).toEqual([]);
  });
});

describe('compileSql: markers and parameters', () => {
  it('uses ? markers for MySQL', () => {
    const v = vector('ph-5-pg-basic');
    const compiled = compileSql(v.template as string, my);
    expect(compiled.text).toBe('SELECT password_hash, salt FROM mqtt_user where username = ? and clientid = ? LIMIT 1');
    expect(compiled.bind(clientOf(v))).toEqual((v.expect as { params: string[] }).params);
  });

  it.each([
    ['postgres', 'SELECT 1 FROM t WHERE a = $1 OR b = $2 OR c = $3'],
    ['mysql', 'SELECT 1 FROM t WHERE a = ? OR b = ? OR c = ?'],
  ] as const)('binds a placeholder used three times as three parameters (%s)', (dialect, text) => {
    const compiled = compileSql('SELECT 1 FROM t WHERE a = ${username} OR b = ${username} OR c = ${username}', { ...authn, dialect });
    expect(compiled.text).toBe(text);
    expect(compiled.params).toEqual(['username', 'username', 'username']);
    expect(compiled.bind({ username: 'u', client_attrs: {} })).toEqual(['u', 'u', 'u']);
  });

  it('numbers mixed placeholders in order of appearance', () => {
    const compiled = compileSql('SELECT 1 FROM t WHERE c = ${clientid} AND u = ${username} AND c2 = ${clientid}', pg);
    expect(compiled.text).toBe('SELECT 1 FROM t WHERE c = $1 AND u = $2 AND c2 = $3');
    expect(compiled.bind({ username: 'u', clientid: 'c', client_attrs: {} })).toEqual(['c', 'u', 'c']);
  });

  it('binds client values as parameters, never as SQL text', () => {
    const compiled = compileSql('SELECT 1 FROM t WHERE u = ${username}', my);
    const evil = "x' OR '1'='1";
    expect(compiled.bind({ username: evil, client_attrs: {} })).toEqual([evil]);
    expect(compiled.text).toBe('SELECT 1 FROM t WHERE u = ?');
  });
});

describe('compileSql: allow-lists per context', () => {
  it.each(['password', 'cert_pem'])('allows ${%s} in the authn query', (name) => {
    const compiled = compileSql(`SELECT 1 FROM t WHERE x = \${${name}}`, pg);
    expect(compiled.params).toEqual([name]);
    const client: AuthnRequest = { password: 'secret', cert_pem: 'UEVN', client_attrs: {} };
    expect(compiled.bind(client)).toEqual([name === 'password' ? 'secret' : 'UEVN']);
  });

  it.each(['password', 'cert_pem'])('rejects ${%s} in the authz query, naming it', (name) => {
    expectConfigError(() => compileSql(`SELECT 1 FROM t WHERE x = \${${name}}`, { ...authz, dialect: 'postgres' }), 'AUTHZ_QUERY', `\${${name}}`);
  });

  it.each(['username', 'clientid', 'peerhost', 'cert_common_name', 'cert_subject', 'zone'])('allows ${%s} in both contexts', (name) => {
    const template = `SELECT 1 FROM t WHERE x = \${${name}}`;
    expect(compileSql(template, pg).params).toEqual([name]);
    expect(compileSql(template, { ...authz, dialect: 'mysql' }).params).toEqual([name]);
  });

  it('binds ${client_attrs.group} from the client attributes, and "" when the attribute is unset', () => {
    const compiled = compileSql('SELECT permission, action, topic FROM mqtt_acl WHERE grp = ${client_attrs.group}', { ...authz, dialect: 'postgres' });
    expect(compiled.text).toBe('SELECT permission, action, topic FROM mqtt_acl WHERE grp = $1');
    expect(compiled.params).toEqual(['client_attrs.group']);
    const withGroup: ClientInfo = { username: 'u', client_attrs: { group: 'g1' } };
    const withoutGroup: ClientInfo = { username: 'u', client_attrs: { other: 'x' } };
    expect(compiled.bind(withGroup)).toEqual(['g1']);
    expect(compiled.bind(withoutGroup)).toEqual(['']);
  });

  // Only client values: a request's several topics and actions (a VerneMQ subscribe) share one query.
  it.each(['${age}', '${topic}', '${action}', '${qos}', '${retain}', '${access}', '${client_attrs}', '${username.x}'])('rejects %s in the authz query, naming it', (placeholder) => {
    expectConfigError(() => compileSql(`SELECT 1 FROM t WHERE x = ${placeholder}`, { ...authz, dialect: 'mysql' }), 'AUTHZ_QUERY', placeholder);
  });
});

describe('compileSql: malformed templates are rejected at load time', () => {
  it.each([
    ['an unterminated placeholder', 'SELECT 1 FROM t WHERE u = ${user LIMIT 1', '${user'],
    ['an empty placeholder', 'SELECT 1 FROM t WHERE u = ${}', '${}'],
    ['a placeholder with a space', 'SELECT 1 FROM t WHERE u = ${user name}', '${user name}'],
  ])('%s', (_label, template, mention) => {
    expectConfigError(() => compileSql(template, pg), 'AUTHN_QUERY', mention);
    expectConfigError(() => compileSql(template, my), 'AUTHN_QUERY', mention);
  });

  it.each(['postgres', 'mysql'] as const)("rejects a placeholder inside a longer quoted string ('dev/${username}') (%s)", (dialect: Dialect) => {
    expectConfigError(
      () => compileSql("SELECT permission, action, topic FROM mqtt_acl WHERE topic LIKE 'dev/${username}'", { ...authz, dialect }),
      'AUTHZ_QUERY',
      '${username}',
    );
  });

  it('rejects a bare ? in a MySQL template', () => {
    expectConfigError(() => compileSql('SELECT password_hash FROM mqtt_user WHERE username = ?', my), 'AUTHN_QUERY', '?');
  });

  it('rejects $1 in a PostgreSQL template', () => {
    expectConfigError(() => compileSql('SELECT password_hash FROM mqtt_user WHERE username = $1', pg), 'AUTHN_QUERY', '$1');
  });

  it('accepts ? inside a quoted string literal in MySQL', () => {
    const compiled = compileSql("SELECT password_hash FROM mqtt_user WHERE note <> 'why?' AND username = ${username}", my);
    expect(compiled.text).toBe("SELECT password_hash FROM mqtt_user WHERE note <> 'why?' AND username = ?");
    expect(compiled.params).toEqual(['username']);
  });

  it.each(['postgres', 'mysql'] as const)('leaves SQL syntax errors to the database (%s)', (dialect: Dialect) => {
    const compiled = compileSql('SELECT permission FRO x', { ...authz, dialect });
    expect(compiled.text).toBe('SELECT permission FRO x');
    expect(compiled.params).toEqual([]);
  });
});

describe('renderTopic', () => {
  it.each(['ph-5-topic-template', 'ph-5-topic-escape'])('%s renders as the vector says', (id) => {
    const v = vector(id);
    const client: ClientInfo = { client_attrs: {}, ...(v.client as Record<string, string>) };
    expect(renderTopic(v.template as string, client)).toBe((v.expect as { rendered: string }).rendered);
  });

  it('renders t/${$}{username} as the literal t/${username}', () => {
    expect(renderTopic('t/${$}{username}', { username: 'alice', client_attrs: {} })).toBe('t/${username}');
  });

  it('gives undefined when a placeholder is unset', () => {
    expect(renderTopic('t/${clientid}', { username: 'u', client_attrs: {} })).toBeUndefined();
    expect(renderTopic('t/${client_attrs.x}', { username: 'u', client_attrs: {} })).toBeUndefined();
  });

  it.each(['a+b', 'a#', '#', '+', 'a/b', '/'])('gives undefined when the value %j would widen the rule', (username) => {
    expect(renderTopic('t/${username}/data', { username, client_attrs: {} })).toBeUndefined();
  });

  it('renders ${client_attrs.x} from the client attributes', () => {
    expect(renderTopic('t/${client_attrs.x}/data', { client_attrs: { x: 'v' } })).toBe('t/v/data');
  });

  it('renders several placeholders in one topic', () => {
    expect(renderTopic('${username}/${clientid}/#', { username: 'u', clientid: 'c', client_attrs: {} })).toBe('u/c/#');
  });

  it('leaves a topic without placeholders unchanged', () => {
    expect(renderTopic('sensors/+/temp', { client_attrs: {} })).toBe('sensors/+/temp');
  });
});

describe('compileSql with PostgreSQL dollar quoting', () => {
  it('rejects a placeholder inside a dollar-quoted string, as inside any quoted string', () => {
    expect(() => compileSql('SELECT 1 WHERE x = $$a ${username} b$$', { dialect: 'postgres', context: 'authn', setting: 'AUTHN_QUERY' })).toThrow(/\$\{username\} sits inside a quoted string/);
    expect(() => compileSql('SELECT 1 WHERE x = $q$a ${username}$q$', { dialect: 'postgres', context: 'authn', setting: 'AUTHN_QUERY' })).toThrow(/inside a quoted string/);
  });

  it('leaves a dollar-quoted string without placeholders as it is', () => {
    const t = compileSql('SELECT $$a$b$$ AS x WHERE username = ${username}', { dialect: 'postgres', context: 'authn', setting: 'AUTHN_QUERY' });
    expect(t.text).toBe('SELECT $$a$b$$ AS x WHERE username = $1');
  });
});

describe('ph-5-topic-eq: an eq rule topic is never rendered', () => {
  const v = vectors.find((x) => x.id === 'ph-5-topic-eq');
  const rule = parseRow({ permission: 'allow', action: 'publish', topic: v?.['template'] as string });
  const client = { username: 'username', client_attrs: {} };
  const publish = (topic: string): boolean => 'rule' in rule && ruleMatches(rule.rule, { ...client, action: 'publish', topic }, topic);

  it('matches only the literal text after "eq " (the vector renders "t/${username}" with no interpolation)', () => {
    expect((v?.['expect'] as { rendered: string }).rendered.startsWith('t/${username}')).toBe(true);
    expect(publish('t/${username}')).toBe(true);
    expect(publish('t/username')).toBe(false);
  });
});

describe('compileSql: markers cannot be smuggled in through ${$} or a MySQL non-comment', () => {
  it('rejects ${$} followed by a digit in PostgreSQL, which would read as $1', () => {
    expect(() => compileSql('SELECT ${$}1 AS x FROM t WHERE u = ${username}', { dialect: 'postgres', context: 'authn', setting: 'AUTHN_QUERY' })).toThrow(/positional parameter/);
  });

  it('treats MySQL "--?" as SQL (not a comment) and so rejects the bare ?', () => {
    expect(() => compileSql('SELECT 1 FROM t WHERE a = 1 --?\n AND u = ${username}', { dialect: 'mysql', context: 'authn', setting: 'AUTHN_QUERY' })).toThrow(/bare "\?"/);
    expect(compileSql('SELECT 1 FROM t WHERE u = ${username} -- why?', { dialect: 'mysql', context: 'authn', setting: 'AUTHN_QUERY' }).params).toEqual(['username']);
  });
});


describe('compileSql named markers (RDS Data API) and findMarkers', () => {
  it.each<Dialect>(['postgres', 'mysql'])('%s: named markers :p1… in order, one per occurrence; casts and quoted text untouched', (dialect) => {
    const q = compileSql("SELECT a FROM t WHERE u = ${username} AND c = '${clientid}' AND n::text <> ':p9' AND u = ${username}", { ...authn, dialect, markers: 'named' });
    expect(q.text).toBe("SELECT a FROM t WHERE u = :p1 AND c = :p2 AND n::text <> ':p9' AND u = :p3");
    expect(q.params).toEqual(['username', 'clientid', 'username']);
    expect(findMarkers(q.text, dialect, 'named')).toEqual([
      { start: 26, end: 29, index: 0 },
      { start: 38, end: 41, index: 1 },
      { start: 71, end: 74, index: 2 },
    ]);
  });

  it('rejects a hand-written :name in named mode, naming the setting', () => {
    expectConfigError(() => compileSql('SELECT a FROM t WHERE u = :user', { ...pg, markers: 'named' }), 'AUTHN_QUERY', ':u');
  });

  it('findMarkers reads MySQL ? markers outside quotes, backticks and comments only', () => {
    const q = compileSql("SELECT `a?` FROM t WHERE note <> 'why?' /* ? */ AND u = ${username} # ?\n AND c = \"${clientid}\"", my);
    expect(findMarkers(q.text, 'mysql', 'native').map((m) => [q.text.slice(m.start, m.end), m.index])).toEqual([
      ['?', 0],
      ['?', 1],
    ]);
    expect(findMarkers('SELECT $1, $2 FROM t WHERE x = \'$3\'', 'postgres', 'native').map((m) => m.index)).toEqual([0, 1]);
  });
});
