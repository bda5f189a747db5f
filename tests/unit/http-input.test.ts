import { createHash } from 'node:crypto';
import { createAclHandler } from '../../functions/acl.js';
import { createAuthHandler } from '../../functions/auth.js';
import type { Container } from '../../shared/container.js';
import { MAX_BODY_BYTES, readEvent, type ApiEvent, type HttpRequest } from '../../shared/http/event.js';
import { parseAclRequest, parseAuthnRequest } from '../../shared/http/input.js';
import type { Row } from '../../shared/types.js';
import { apiEvent, containerFor, context, FakeStore, handlersFor, type Answer, type Sent } from '../helpers/harness.js';
import { fieldCase, vectors } from '../helpers/vectors.js';

type Route = 'auth' | 'acl';
type Decision = 'allow' | 'deny' | 'ignore';
type Format = 'v1' | 'v2';
const FORMATS: readonly Format[] = ['v1', 'v2'];
const PATH: Record<Route, string> = { auth: '/mqtt/auth', acl: '/mqtt/acl' };
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const SHA256 = '{"name":"sha256","salt_position":"disable"}';

/** The HTTP request the parsers see for an API Gateway event built from `sent`. */
const requestOf = (route: Route, sent: Sent): HttpRequest => readEvent(apiEvent(PATH[route], sent));

// ---------------------------------------------------------------------------------------------
// Every answer the handlers give in this file is kept, so the EMQX 5 reader (last block) can read
// each one and check it means the decision the test intended.

interface Produced {
  route: Route;
  answer: Answer;
  intended?: Decision;
}
const produced: Produced[] = [];

/** handlersFor(), recording every answer. */
function observe(c: Container) {
  const h = handlersFor(c);
  const keep = (route: Route, answer: Answer): Answer => {
    produced.push({ route, answer });
    return answer;
  };
  return {
    auth: async (fields: Record<string, unknown>, sent?: Sent) => keep('auth', await h.auth(fields, sent)),
    acl: async (fields: Record<string, unknown>, sent?: Sent) => keep('acl', await h.acl(fields, sent)),
    rawAuth: async (sent: Sent) => keep('auth', await h.rawAuth(sent)),
    rawAcl: async (sent: Sent) => keep('acl', await h.rawAcl(sent)),
    raw: async (route: Route, sent: Sent) => keep(route, route === 'auth' ? await h.rawAuth(sent) : await h.rawAcl(sent)),
    /** A hand-built event (a method or body the harness cannot express), through the real handler. */
    event: async (route: Route, event: ApiEvent) => {
      const res = route === 'auth' ? await createAuthHandler(c)(event, context) : await createAclHandler(c)(event, context);
      const contentType = res.headers?.['content-type'];
      return keep(route, {
        status: res.statusCode,
        contentType: typeof contentType === 'string' ? contentType : undefined,
        body: JSON.parse(res.body) as Record<string, unknown>,
      });
    },
  };
}

/** Asserts a 200 decision and marks it as intended for the reader. */
function expectDecision(answer: Answer, intended: Decision): void {
  expect(answer.status).toBe(200);
  expect(answer.body['result']).toBe(intended);
  const kept = produced.find((p) => p.answer === answer);
  if (kept === undefined) throw new Error('answer was not produced through observe()');
  kept.intended = intended;
}

/** Asserts a 400 whose error names the problem; it must never read as an allow. */
function expectBadRequest(answer: Answer, ...problem: RegExp[]): void {
  expect(answer.status).toBe(400);
  expect(answer.contentType).toBe(JSON_TYPE);
  expect(Object.keys(answer.body)).toEqual(['error']);
  const error = answer.body['error'];
  expect(typeof error).toBe('string');
  for (const p of problem) expect(error).toMatch(p);
  expect(answer.status === 200 && answer.body['result'] === 'allow').toBe(false);
}

// ---------------------------------------------------------------------------------------------

interface FieldHttpRequest {
  method: string;
  content_type?: string | null;
  body?: string;
  query?: string;
  path?: string;
}

/** What an HTTP client puts on the wire for a field-case request: no fragment, query split off. */
function sentOf(r: FieldHttpRequest, format: Format, base64 = false): Sent {
  const sent: Sent = { method: r.method === 'GET' ? 'GET' : 'POST', format };
  if (r.content_type !== undefined) sent.contentType = r.content_type;
  if (r.body !== undefined) sent.body = r.body;
  const query = r.query ?? r.path?.split('#')[0]?.split('?')[1];
  if (query !== undefined) sent.query = query;
  if (base64) sent.base64 = true;
  return sent;
}

describe('B41: requests whose content type and body disagree, and empty passwords', () => {
  const c = fieldCase('B41');
  const requests = c.input['requests'] as FieldHttpRequest[];
  const parsed = c.expected['parsed'] as Array<Record<string, string>>;

  it('has four requests and four expected parses', () => {
    expect(requests).toHaveLength(4);
    expect(parsed).toHaveLength(4);
  });

  for (const format of FORMATS) {
    it(`${format}: a form-typed POST with a JSON body parses by shape into the ACL request`, () => {
      expect(parseAclRequest(requestOf('acl', sentOf(requests[0]!, format)))).toEqual({ ...parsed[0], client_attrs: {} });
    });

    for (const i of [1, 2, 3]) {
      const r = requests[i]!;
      it(`${format}: request ${i + 1} (${r.method} ${r.content_type ?? 'without content type'}) parses into username, clientid and password`, () => {
        const req = parseAuthnRequest(requestOf('auth', sentOf(r, format)));
        // The parser keeps "" as unset (shared/http/input.ts); authenticate() checks an unset password as "".
        expect({ ...req, password: req.password ?? '' }).toEqual({ ...parsed[i], client_attrs: {} });
      });
    }
  }

  it('checks an empty password against the database like any other (allow when the stored hash is of "", else deny), never a 400', async () => {
    for (const i of [1, 3]) {
      for (const [stored, intended] of [
        [sha256(''), 'allow'],
        [sha256('pw1'), 'deny'],
      ] as const) {
        const store = new FakeStore([{ password_hash: stored, salt: '', is_superuser: 0 }]);
        const h = observe(containerFor({ PASSWORD_HASH: SHA256 }, store));
        const answer = await h.rawAuth(sentOf(requests[i]!, 'v2'));
        expectDecision(answer, intended);
        expect(store.calls.map((call) => call.params)).toEqual([['u1']]);
      }
    }
  });
});

describe('B43: topics in GET query strings and form bodies', () => {
  const c = fieldCase('B43');
  const requests = c.input['requests'] as FieldHttpRequest[];
  const legacyRows = c.input['rows'] as Array<{ username: string; allow: number; access: number; topic: string }>;
  // EMQX 5 form of the row: u1 allow subscribe a/b/#.
  const rows: Row[] = legacyRows.map((r) => ({ username: r.username, permission: r.allow ? 'allow' : 'deny', action: r.access === 1 ? 'subscribe' : 'publish', topic: r.topic }));

  it('translates to the single row "u1 allow subscribe a/b/#"', () => {
    expect(rows).toEqual([{ username: 'u1', permission: 'allow', action: 'subscribe', topic: 'a/b/#' }]);
  });

  for (const format of FORMATS) {
    it(`${format}: decodes the topics a/b/#, a/+/#, "a/ /" and %t`, () => {
      const topics = requests.map((r) => parseAclRequest(requestOf('acl', sentOf(r, format))).topic);
      expect(topics).toEqual(c.expected['decoded_topics']);
    });

    it(`${format}: decides allow, deny, deny, deny under no_match deny`, async () => {
      const store = new FakeStore(rows);
      const h = observe(containerFor({ AUTHZ_NO_MATCH: c.input['no_match'] }, store));
      const decisions: unknown[] = [];
      for (const [i, r] of requests.entries()) {
        const answer = await h.rawAcl(sentOf(r, format));
        expectDecision(answer, (c.expected['decisions'] as Decision[])[i]!);
        decisions.push(answer.body['result']);
      }
      expect(decisions).toEqual(c.expected['decisions']);
      expect(store.calls.map((call) => call.params)).toEqual([['u1'], ['u1'], ['u1'], ['u1']]);
    });
  }
});

describe('B34: JSON nulls are unset, never the text "undefined" or "null"', () => {
  const c = fieldCase('B34');
  const body = JSON.stringify(c.input['http_request_json']);

  it('parses {"username":null,"clientid":"c1","password":null} into a client with only a client id', () => {
    expect(parseAuthnRequest(requestOf('auth', { contentType: JSON_TYPE, body }))).toEqual({ clientid: 'c1', client_attrs: {} });
  });

  it('binds the unset username as "" and does not authenticate against the stored "undefined" account', async () => {
    const dbUser = (c.input['db_users'] as Array<{ username: string; password_plain: string }>)[0]!;
    const store = new FakeStore((params) => (params[0] === dbUser.username ? [{ password_hash: sha256(dbUser.password_plain), salt: '', is_superuser: 0 }] : []));
    const h = observe(containerFor({ PASSWORD_HASH: SHA256 }, store));

    const answer = await h.rawAuth({ contentType: JSON_TYPE, body });
    // The CONNECT without username and password: EMQX renders both unset placeholders as "".
    const connect = await h.auth({ username: c.input['connect'].username ?? '', clientid: 'c1', password: c.input['connect'].password ?? '' });

    expect(store.calls.map((call) => call.params)).toEqual([[''], ['']]);
    for (const a of [answer, connect]) {
      expectDecision(a, 'ignore');
      expect(a.body['result'] === 'allow').toBe(c.expected['authenticated']);
    }
  });

  it('binds an unset username as "" in the ACL query too', async () => {
    const store = new FakeStore([]);
    const h = observe(containerFor({ AUTHZ_NO_MATCH: 'deny' }, store));
    expectDecision(await h.acl({ username: null, clientid: 'c1', topic: 't/1', action: 'publish', qos: '0', retain: 'false' }), 'deny');
    expect(store.calls.map((call) => call.params)).toEqual([['']]);
  });
});

describe('B35: unicode usernames in form, JSON and escaped JSON bodies', () => {
  const c = fieldCase('B35');
  const users = c.input['db_users'] as Array<{ username: string; password_plain: string }>;
  const requests = c.input['requests'] as Array<{ content_type: string; body: string }>;
  // Request 1 and 2 carry 设备01, request 3 carries user😀 as \ud83d\ude00 escapes.
  const usernames = [users[0]!.username, users[0]!.username, users[1]!.username];

  it('names the users 设备01 and user😀', () => expect(usernames).toEqual(['设备01', '设备01', 'user😀']));

  for (const format of FORMATS) {
    for (const base64 of [false, true]) {
      const how = `${format}${base64 ? ', base64 body' : ''}`;
      it(`${how}: parses each encoding into the right unicode username`, () => {
        const parsed = requests.map((r) => parseAuthnRequest(requestOf('auth', { contentType: r.content_type, body: r.body, format, base64 })));
        expect(parsed).toEqual(usernames.map((username) => ({ username, password: 'pw', client_attrs: {} })));
      });

      it(`${how}: authenticates each of them with password pw`, async () => {
        const store = new FakeStore((params) => {
          const user = users.find((u) => u.username === params[0]);
          return user === undefined ? [] : [{ password_hash: sha256(user.password_plain), salt: '', is_superuser: 0 }];
        });
        const h = observe(containerFor({ PASSWORD_HASH: SHA256 }, store));
        const results: boolean[] = [];
        for (const r of requests) {
          const answer = await h.rawAuth({ contentType: r.content_type, body: r.body, format, base64 });
          expectDecision(answer, 'allow');
          results.push(answer.body['result'] === 'allow');
        }
        expect(results).toEqual(c.expected['results']);
        expect(store.calls.map((call) => call.params)).toEqual(usernames.map((u) => [u]));
      });
    }
  }
});

describe('placeholder vectors of HTTP contexts, as requests the service must decode', () => {
  const vector = (id: string): Record<string, any> => {
    const v = vectors.find((x) => x.id === id);
    if (v === undefined) throw new Error(`no vector ${id}`);
    return v;
  };

  for (const format of FORMATS) {
    it(`${format}: ph-5-http-authz-query: a GET query string decodes into the publish request`, () => {
      const query = new URLSearchParams(vector('ph-5-http-authz-query')['expect']['decoded_query']).toString();
      expect(parseAclRequest(requestOf('acl', { method: 'GET', query, format }))).toEqual({
        username: 'user name',
        clientid: 'client id',
        peerhost: '127.0.0.1',
        client_attrs: {},
        topic: 't/1',
        action: 'publish',
        qos: 1,
        retain: false,
      });
    });

    it(`${format}: ph-5-http-authz-json: string values parse; the CLIENT key is not a client id`, () => {
      const body = JSON.stringify(vector('ph-5-http-authz-json')['expect']['json_body']);
      expect(parseAclRequest(requestOf('acl', { contentType: JSON_TYPE, body, format }))).toEqual({
        username: 'user name',
        peerhost: '127.0.0.1',
        client_attrs: {},
        topic: 't',
        action: 'publish',
        qos: 1,
        retain: false,
      });
    });

    it(`${format}: ph-5-http-authn-json: every authn field parses and cert_pem passes through as sent`, () => {
      const body = JSON.stringify(vector('ph-5-http-authn-json')['expect']['json_body']);
      expect(parseAuthnRequest(requestOf('auth', { contentType: JSON_TYPE, body, format }))).toEqual({
        clientid: 'clienta',
        username: 'plain',
        password: 'plain',
        peerhost: '127.0.0.1',
        cert_subject: 'cert_subject_data',
        cert_common_name: 'cert_common_name_data',
        cert_pem: 'ZmFrZV9yYXdfY2VydF90b19iZV9iYXNlNjRfZW5jb2RlZA==',
        client_attrs: {},
      });
    });

    it(`${format}: ph-5-http-authn-nocert: empty certificate fields are unset`, () => {
      const body = JSON.stringify(vector('ph-5-http-authn-nocert')['expect']['json_body']);
      expect(parseAuthnRequest(requestOf('auth', { contentType: JSON_TYPE, body, format }))).toEqual({ client_attrs: {} });
    });

    it(`${format}: ph-5-http-authn-get: the body template sent as a query string parses`, () => {
      const v = vector('ph-5-http-authn-get');
      const client = v['client'] as Record<string, string>;
      const rendered = Object.entries(v['template']['body'] as Record<string, string>).map(([k, t]): [string, string] => [k, t.replace(/\$\{([^}]+)\}/g, (_, name: string) => client[name] ?? '')]);
      const query = new URLSearchParams(rendered).toString();
      expect(v['expect']['request']).toContain(`GET /auth?${query}`);
      expect(parseAuthnRequest(requestOf('auth', { method: 'GET', query, format }))).toEqual({ username: 'plain', password: 'plain', client_attrs: {} });
    });

    it(`${format}: ph-5-http-authz-form: a form body decodes; keys that are not our fields (the_group, CN, CS) are ignored, and text that looks like a placeholder stays text`, () => {
      const body = new URLSearchParams(vector('ph-5-http-authz-form')['expect']['form_body'] as Record<string, string>).toString();
      expect(parseAuthnRequest(requestOf('auth', { contentType: FORM, body, format }))).toEqual({ username: 'user name', client_attrs: {} });
      // The same attribute under the key we read is a client attribute.
      expect(parseAuthnRequest(requestOf('auth', { contentType: FORM, body: `${body}&client_attrs.group=g1`, format }))).toEqual({ username: 'user name', client_attrs: { group: 'g1' } });
    });

    it(`${format}: ph-5-http-undefined and ph-5-http-disallowed: unknown keys are ignored and never rendered`, () => {
      for (const id of ['ph-5-http-undefined', 'ph-5-http-disallowed']) {
        const body = JSON.stringify(vector(id)['expect']['json_body']);
        expect(parseAuthnRequest(requestOf('auth', { contentType: JSON_TYPE, body, format }))).toEqual({ client_attrs: {} });
      }
    });
  }

  it('ph-5-http-authz-path and ph-5-http-authn-path do not apply: the routes take no placeholders in their path', () => {
    for (const id of ['ph-5-http-authz-path', 'ph-5-http-authn-path']) expect(vector(id)['context']).toBe('http-url-path');
  });
});

describe('client_attrs', () => {
  const AUTHN_QUERY = 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} AND grp = ${client_attrs.group} LIMIT 1';
  const AUTHZ_QUERY = 'SELECT permission, action, topic FROM mqtt_acl WHERE grp = ${client_attrs.group} AND username = ${username}';
  const encodings: Array<[string, Sent]> = [
    ['a client_attrs.group form key', { contentType: FORM, body: 'username=u1&client_attrs.group=g1&password=pw' }],
    ['a client_attrs.group JSON key', { contentType: JSON_TYPE, body: JSON.stringify({ username: 'u1', 'client_attrs.group': 'g1', password: 'pw' }) }],
    ['a nested client_attrs object', { contentType: JSON_TYPE, body: JSON.stringify({ username: 'u1', client_attrs: { group: 'g1' }, password: 'pw' }) }],
    ['a client_attrs.group GET query key', { method: 'GET', query: 'username=u1&client_attrs.group=g1&password=pw' }],
  ];

  for (const [how, sent] of encodings) {
    it(`parses ${how} into client_attrs`, () => {
      expect(parseAuthnRequest(requestOf('auth', sent))).toEqual({ username: 'u1', password: 'pw', client_attrs: { group: 'g1' } });
    });

    it(`binds ${how} into \${client_attrs.group} of AUTHN_QUERY and AUTHZ_QUERY`, async () => {
      const store = new FakeStore([]);
      const h = observe(containerFor({ AUTHN_QUERY, AUTHZ_QUERY, AUTHZ_NO_MATCH: 'deny' }, store));
      expectDecision(await h.rawAuth(sent), 'ignore');
      const aclSent: Sent = sent.query !== undefined ? { ...sent, query: `${sent.query}&topic=t&action=publish` } : sent.contentType === FORM ? { ...sent, body: `${sent.body}&topic=t&action=publish` } : { ...sent, body: JSON.stringify({ ...JSON.parse(sent.body ?? '{}'), topic: 't', action: 'publish' }) };
      expectDecision(await h.rawAcl(aclSent), 'deny');
      expect(store.calls.map((call) => call.params)).toEqual([
        ['u1', 'g1'],
        ['g1', 'u1'],
      ]);
    });
  }

  it('lets the nested object win over a flat key of the same name', () => {
    const body = JSON.stringify({ username: 'u1', 'client_attrs.group': 'flat', 'client_attrs.site': 's1', client_attrs: { group: 'nested' } });
    expect(parseAuthnRequest(requestOf('auth', { contentType: JSON_TYPE, body })).client_attrs).toEqual({ group: 'nested', site: 's1' });
  });

  it('binds an absent attribute as ""', async () => {
    const store = new FakeStore([]);
    const h = observe(containerFor({ AUTHN_QUERY }, store));
    expectDecision(await h.auth({ username: 'u1', password: 'pw' }), 'ignore');
    expect(store.calls[0]?.params).toEqual(['u1', '']);
  });
});

describe('API Gateway payload formats and base64 bodies', () => {
  const fields = { username: 'u1', clientid: 'c1', topic: 't/1', action: 'publish', qos: '1', retain: 'false' };
  const variants: Array<[string, Sent]> = [];
  for (const format of FORMATS) {
    for (const base64 of [false, true]) {
      variants.push([`${format} JSON${base64 ? ' base64' : ''}`, { contentType: JSON_TYPE, body: JSON.stringify(fields), format, base64 }]);
      variants.push([`${format} form${base64 ? ' base64' : ''}`, { contentType: FORM, body: new URLSearchParams(fields).toString(), format, base64 }]);
    }
    variants.push([`${format} GET`, { method: 'GET', query: new URLSearchParams(fields).toString(), format }]);
  }

  for (const [how, sent] of variants) {
    it(`${how}: reads the same request`, () => {
      const req = requestOf('acl', sent);
      expect(req.method).toBe(sent.method ?? 'POST');
      expect(req.path).toBe('/mqtt/acl');
      if (sent.contentType !== undefined) expect(req.headers['content-type']).toBe(sent.contentType);
      expect(parseAclRequest(req)).toEqual({ username: 'u1', clientid: 'c1', client_attrs: {}, topic: 't/1', action: 'publish', qos: 1, retain: false });
    });

    it(`${how}: gets the same decision`, async () => {
      const h = observe(containerFor({ AUTHZ_NO_MATCH: 'deny' }, new FakeStore([{ permission: 'allow', action: 'publish', topic: 't/+', qos: '1' }])));
      expectDecision(await h.rawAcl(sent), 'allow');
    });
  }

  it('v1: takes header names in any case', () => {
    const req = requestOf('acl', { contentType: JSON_TYPE, body: '{}', format: 'v1' });
    expect(req.headers).toEqual({ 'content-type': JSON_TYPE });
  });
});

describe('legacy access codes', () => {
  const base = { username: 'u1', clientid: 'c1', topic: 't/1' };

  it('reads access 1 as subscribe and access 2 as publish', () => {
    expect(parseAclRequest(requestOf('acl', { contentType: JSON_TYPE, body: JSON.stringify({ ...base, access: '1' }) })).action).toBe('subscribe');
    expect(parseAclRequest(requestOf('acl', { contentType: FORM, body: 'username=u1&topic=t%2F1&access=2' })).action).toBe('publish');
    expect(parseAclRequest(requestOf('acl', { method: 'GET', query: 'username=u1&topic=t%2F1&access=1' })).action).toBe('subscribe');
  });

  it('decides by the action the access code stands for', async () => {
    const h = observe(containerFor({ AUTHZ_NO_MATCH: 'deny' }, new FakeStore([{ permission: 'allow', action: 'subscribe', topic: 't/#' }])));
    expectDecision(await h.acl({ ...base, access: '1' }), 'allow');
    expectDecision(await h.acl({ ...base, access: '2' }), 'deny');
  });
});

// ---------------------------------------------------------------------------------------------

describe('bad input is a 400 naming the problem, never an allow', () => {
  const good = { username: 'u1', clientid: 'c1', password: 'pw', topic: 't/1', action: 'publish', qos: '0', retain: 'false' };
  // A store under which every well-formed request above is allowed, by both handlers.
  const permissive = () =>
    observe(
      containerFor(
        { PASSWORD_HASH: SHA256, AUTHZ_NO_MATCH: 'allow' },
        new FakeStore([{ permission: 'allow', action: 'all', topic: '#', password_hash: sha256('pw'), salt: '', is_superuser: 0 }]),
      ),
    );
  const padded = (bytes: number): string => {
    const base = Buffer.byteLength(JSON.stringify({ ...good, pad: '' }), 'utf8');
    return JSON.stringify({ ...good, pad: 'x'.repeat(bytes - base) });
  };
  const withMethod = (event: ApiEvent, method: string): ApiEvent =>
    'httpMethod' in event
      ? { ...event, httpMethod: method }
      : { ...event, routeKey: `${method} ${event.rawPath}`, requestContext: { ...event.requestContext, http: { ...event.requestContext.http, method } } };
  const invalidUtf8 = Buffer.concat([Buffer.from('{"username":"u'), Buffer.from([0xff, 0xfe]), Buffer.from('1","password":"pw","topic":"t/1","action":"publish"}')]);

  interface BadCase {
    name: string;
    routes: readonly Route[];
    problem: RegExp[];
    sent?: Sent;
    event?: (route: Route, format: Format) => ApiEvent;
  }
  const both: readonly Route[] = ['auth', 'acl'];
  const cases: BadCase[] = [
    { name: 'malformed JSON', routes: both, problem: [/JSON/], sent: { contentType: JSON_TYPE, body: JSON.stringify(good).slice(0, -1) } },
    { name: 'a bad percent-escape in a form body', routes: both, problem: [/form encoding/, /percent-escape/], sent: { contentType: FORM, body: 'username=u1&password=p%ZZw&topic=t%2F1&action=publish' } },
    { name: 'a percent-escape that is not UTF-8 in a form body', routes: both, problem: [/form encoding/], sent: { contentType: FORM, body: 'username=u%E01&password=pw&topic=t%2F1&action=publish' } },
    { name: 'a bad percent-escape in a GET query string', routes: both, problem: [/query string/, /form encoding/], sent: { method: 'GET', query: 'username=u1&password=pw&topic=t%2&action=publish', format: 'v2' } },
    { name: 'a text/plain content type', routes: both, problem: [/content type/, /text\/plain/], sent: { contentType: 'text/plain', body: JSON.stringify(good) } },
    { name: 'a missing topic', routes: ['acl'], problem: [/topic/], sent: { contentType: JSON_TYPE, body: JSON.stringify({ ...good, topic: undefined }) } },
    { name: 'a missing action', routes: ['acl'], problem: [/action/], sent: { contentType: JSON_TYPE, body: JSON.stringify({ ...good, action: undefined }) } },
    { name: `a body of 64 KiB + 1 byte`, routes: both, problem: [/body/, /64 KiB/], sent: { contentType: JSON_TYPE, body: padded(MAX_BODY_BYTES + 1) } },
    { name: `a body of 65 KiB + 1 byte`, routes: both, problem: [/body/, /64 KiB/], sent: { contentType: JSON_TYPE, body: padded(65 * 1024 + 1) } },
    { name: `a base64 body of 64 KiB + 1 byte`, routes: both, problem: [/body/, /64 KiB/], sent: { contentType: JSON_TYPE, body: padded(MAX_BODY_BYTES + 1), base64: true } },
    {
      name: 'invalid UTF-8 in a base64 body',
      routes: both,
      problem: [/UTF-8/],
      event: (route, format) => ({ ...apiEvent(PATH[route], { contentType: JSON_TYPE, body: '{}', base64: true, format }), body: invalidUtf8.toString('base64') }),
    },
    { name: 'a lone surrogate in a text body', routes: both, problem: [/UTF-8/], sent: { contentType: JSON_TYPE, body: `{"username":"u\ud8001","password":"pw","topic":"t/1","action":"publish"}` } },
    { name: 'a JSON array under a JSON content type', routes: both, problem: [/JSON body must be an object/], sent: { contentType: JSON_TYPE, body: '["u1","pw"]' } },
    { name: 'JSON null under a JSON content type', routes: both, problem: [/JSON body must be an object/], sent: { contentType: JSON_TYPE, body: 'null' } },
    { name: 'a lone surrogate escaped in JSON', routes: both, problem: [/username/, /Unicode/], sent: { contentType: JSON_TYPE, body: '{"username":"\\ud800","password":"pw","topic":"t/1","action":"publish"}' } },
    { name: 'a lone surrogate in a flat client_attrs key', routes: both, problem: [/client_attrs\.g/, /Unicode/], sent: { contentType: JSON_TYPE, body: '{"username":"u1","password":"pw","topic":"t/1","action":"publish","client_attrs.g":"\\ud800"}' } },
    { name: 'an empty body under a JSON content type', routes: both, problem: [/empty/], sent: { contentType: JSON_TYPE, body: ' ' } },
    { name: 'qos "x"', routes: ['acl'], problem: [/qos/], sent: { contentType: JSON_TYPE, body: JSON.stringify({ ...good, qos: 'x' }) } },
    {
      name: 'method PUT',
      routes: both,
      problem: [/method/, /PUT/],
      event: (route, format) => withMethod(apiEvent(PATH[route], { contentType: JSON_TYPE, body: JSON.stringify(good), format }), 'PUT'),
    },
    { name: 'a username containing NUL (JSON)', routes: both, problem: [/username/, /NUL/], sent: { contentType: JSON_TYPE, body: JSON.stringify({ ...good, username: 'u1\u0000evil' }) } },
    { name: 'a username containing NUL (form)', routes: both, problem: [/username/, /NUL/], sent: { contentType: FORM, body: 'username=u1%00evil&password=pw&topic=t%2F1&action=publish' } },
    { name: 'a username given twice in a form body', routes: both, problem: [/body has "username" more than once/], sent: { contentType: FORM, body: 'username=u1&password=pw&topic=t%2F1&action=publish&username=root' } },
    { name: 'a username given twice, once encoded, in a form body', routes: both, problem: [/body has "username" more than once/], sent: { contentType: FORM, body: 'username=u1&password=pw&topic=t%2F1&action=publish&%75sername=root' } },
    { name: 'a username given twice in a GET query string', routes: both, problem: [/query string has "username" more than once/], sent: { method: 'GET', query: 'username=root&password=pw&topic=t%2F1&action=publish&username=u1', format: 'v2' } },
    {
      name: 'a username given twice in a REST API query string (multiValueQueryStringParameters)',
      routes: both,
      problem: [/query string has "username" more than once/],
      event: (route, format) => {
        const event = apiEvent(PATH[route], { method: 'GET', query: 'username=u1&password=pw&topic=t%2F1&action=publish', format });
        return 'httpMethod' in event ? { ...event, multiValueQueryStringParameters: { username: ['root', 'u1'], password: ['pw'] } } : { ...event, rawQueryString: `username=root&${event.rawQueryString}` };
      },
    },
  ];

  for (const format of FORMATS) {
    it(`${format}: allows the well-formed request these cases spoil, on both routes`, async () => {
      const h = permissive();
      const authAnswer = await h.auth(good, { format });
      expectDecision(authAnswer, 'allow');
      expect(authAnswer.body['is_superuser']).toBe(false);
      expectDecision(await h.acl(good, { format }), 'allow');
      expectDecision(await h.raw('auth', { contentType: JSON_TYPE, body: padded(MAX_BODY_BYTES), format }), 'allow');
    });

    for (const bad of cases) {
      if (bad.sent?.format !== undefined && bad.sent.format !== format) continue;
      for (const route of bad.routes) {
        it(`${format} ${route}: ${bad.name}`, async () => {
          const h = permissive();
          const answer = bad.event ? await h.event(route, bad.event(route, format)) : await h.raw(route, { ...bad.sent, format });
          expectBadRequest(answer, ...bad.problem);
        });
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------

interface WireResponse {
  status: number;
  contentType: string | null;
  body: string;
}

/**
 * How EMQX 5 reads a reply, after field case B40's emqx5_interpretation: 204 is allow; a 200 counts
 * only with a JSON content type and then says what its `result` says (anything else: ignore); every
 * other status is ignore.
 */
function emqx5Reads(r: WireResponse): Decision {
  if (r.status === 204) return 'allow';
  if (r.status !== 200) return 'ignore';
  if (!/^application\/json\s*(;|$)/i.test(r.contentType ?? '')) return 'ignore';
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.body);
  } catch {
    return 'ignore';
  }
  const result = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)['result'] : undefined;
  return result === 'allow' || result === 'deny' ? result : 'ignore';
}

const wire = (a: Answer): WireResponse => ({ status: a.status, contentType: a.contentType ?? null, body: JSON.stringify(a.body) });

describe('EMQX 5 response reader (field case B40), applied to every answer above', () => {
  it('reads B40 responses as emqx5_interpretation says', () => {
    const c = fieldCase('B40');
    const responses = c.input['responses_under_test'] as Array<{ status: number; content_type?: string; body: string | Record<string, unknown> }>;
    const read = responses.map((r) => emqx5Reads({ status: r.status, contentType: r.content_type ?? null, body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body) }));
    expect(read).toEqual(c.expected['emqx5_interpretation']);
  });

  it('reads every 200 decision these tests produced as the decision intended, with is_superuser only on an auth allow', () => {
    const decided = produced.filter((p) => p.answer.status === 200);
    expect(decided.length).toBeGreaterThan(0);
    for (const p of decided) {
      expect({ route: p.route, contentType: p.answer.contentType, read: emqx5Reads(wire(p.answer)), superuser: 'is_superuser' in p.answer.body }).toEqual({
        route: p.route,
        contentType: JSON_TYPE,
        read: p.intended,
        superuser: p.route === 'auth' && p.intended === 'allow',
      });
      if ('is_superuser' in p.answer.body) expect(typeof p.answer.body['is_superuser']).toBe('boolean');
    }
  });

  it('reads every 400 these tests produced as ignore, never allow', () => {
    const rejected = produced.filter((p) => p.answer.status !== 200);
    expect(rejected.length).toBeGreaterThan(0);
    for (const p of rejected) {
      expect(p.answer.status).toBe(400);
      expect(emqx5Reads(wire(p.answer))).toBe('ignore');
    }
  });
});
