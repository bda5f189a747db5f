import { verneSubscribe } from '../../shared/brokers.js';
import { connectAcl, withConnectAcl } from '../../shared/connectacl.js';
import { BackendError } from '../../shared/errors.js';
import { rabbitAnswer, topicOfRoutingKey } from '../../shared/http/rabbitmq.js';
import { ConfigError, loadSettings } from '../../shared/settings.js';
import type { Row } from '../../shared/types.js';
import { FakeStore, containerFor, memoryLogger } from '../helpers/harness.js';
import { thrownBy } from '../helpers/errors.js';
import { fieldCase } from '../helpers/vectors.js';

const alice = { username: 'alice', clientid: 'c-alice', client_attrs: {} };

async function authzDeps(rows: Row[] | Error, env: Record<string, string> = {}) {
  const logger = memoryLogger();
  const c = containerFor(env, new FakeStore(rows), logger.log);
  return { deps: await c.authzDeps(), lines: logger.lines };
}

describe('RabbitMQ routing keys back to MQTT topics (brokers.md §2.3)', () => {
  it.each([
    ['alice.x', 'alice/x'],
    ['alice.#', 'alice/#'],
    ['a.*.c', 'a/+/c'],
    ['.lead', '/lead'],
    ['*', '+'],
    ['plain', 'plain'],
  ])('%s → %s', (key, topic) => expect(topicOfRoutingKey(key)).toBe(topic));
});

describe('field case B44: what RabbitMQ reads in our answers', () => {
  const b44 = fieldCase('B44');
  const bodies = b44.input['bodies'] as string[];
  const readings = b44.expected['rabbitmq_user_path_reads_as'] as string[];
  const readingOf = (body: string) => readings[bodies.indexOf(body)];

  it('allow and deny are bodies RabbitMQ reads as allow and deny, status 200, text/plain', () => {
    expect(rabbitAnswer('allow')).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'allow' });
    expect(readingOf(rabbitAnswer('allow').body)).toBe('allow');
    expect(readingOf(rabbitAnswer('deny').body)).toBe('deny');
  });

  it('the superuser answer has the shape of B44\'s tagged allow: "allow" and space-separated tags, no newline', () => {
    expect(readingOf('allow management policymaker')).toBe('allow, tags [management, policymaker]');
    expect(rabbitAnswer('allow administrator').body).toMatch(/^allow( [a-z]+)+$/);
  });

  it('never any of the bodies RabbitMQ refuses or mangles', () => {
    const bad = bodies.filter((_, i) => /^bad response|junk tag/.test(readings[i] ?? ''));
    expect(bad).toEqual(['"allow"', '{"result":"allow"}', 'allow\n', '']);
    for (const answer of ['allow', 'deny', 'allow administrator'] as const) expect(bad).not.toContain(rabbitAnswer(answer).body);
  });
});

describe('new settings', () => {
  it('defaults: connect-time ACL off with a 3600 s lifetime, go-auth status mode', () => {
    const s = loadSettings({});
    expect(s.connectAcl).toEqual({ enabled: false, ttlS: 3600 });
    expect(s.mosquittoResponseMode).toBe('status');
    expect(loadSettings({ CONNECT_ACL: 'on', CONNECT_ACL_TTL: '600', MOSQUITTO_RESPONSE_MODE: 'json' })).toMatchObject({ connectAcl: { enabled: true, ttlS: 600 }, mosquittoResponseMode: 'json' });
  });

  it.each([
    ['CONNECT_ACL', 'yes'],
    ['CONNECT_ACL_TTL', 'hour'],
    ['CONNECT_ACL_TTL', '5'],
    ['MOSQUITTO_RESPONSE_MODE', 'xml'],
  ])('a bad %s (%s) stops start-up naming it', (name, value) => {
    const err = thrownBy(() => loadSettings({ [name]: value }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe(name);
  });
});

describe('connect-time ACL rules (EMQX 5.8+ `acl` format)', () => {
  it('renders placeholders, keeps order, converts qos, retain and eq', async () => {
    const { deps } = await authzDeps([
      { permission: 'allow', action: 'publish', topic: 'devices/${clientid}/up', qos: '0,1', retain: 0 },
      { permission: 'allow', action: 'sub', topic: 'eq cmd/#', qos: null, retain: null },
      { permission: 'deny', action: 'all', topic: 'users/${username}/secret/#', qos: null, retain: true },
      { permission: 'allow', action: 'subscribe', topic: 'news/#', qos: null, retain: true },
    ]);
    expect(await connectAcl(deps, alice)).toEqual({
      acl: [
        { permission: 'allow', action: 'publish', topic: 'devices/c-alice/up', qos: [0, 1], retain: false },
        { permission: 'allow', action: 'subscribe', topic: 'eq cmd/#' },
        { permission: 'deny', action: 'all', topic: 'users/alice/secret/#', retain: true },
        { permission: 'allow', action: 'subscribe', topic: 'news/#' },
      ],
      dropped: 0,
    });
  });

  it('drops an allow rule a client value would widen or cannot fill, as the evaluator never matches it', async () => {
    const rows = [
      { permission: 'allow', action: 'all', topic: '${clientid}/#' },
      { permission: 'allow', action: 'all', topic: 'shared/#' },
    ];
    for (const clientid of ['+', '#', 'a/b', '$SYS', undefined]) {
      const { deps } = await authzDeps(rows);
      const client = { username: 'alice', client_attrs: {}, ...(clientid === undefined ? {} : { clientid }) };
      expect(await connectAcl(deps, client)).toEqual({ acl: [{ permission: 'allow', action: 'all', topic: 'shared/#' }], dropped: 1 });
    }
  });

  it('drops an allow rule whose text EMQX would render again; fails on such a deny rule', async () => {
    const allow = await authzDeps([{ permission: 'allow', action: 'all', topic: 'x/${peerhost}/#' }]);
    expect(await connectAcl(allow.deps, alice)).toEqual({ acl: [], dropped: 1 });
    const sneaky = await authzDeps([{ permission: 'allow', action: 'all', topic: 'x/${username}' }]);
    expect(await connectAcl(sneaky.deps, { ...alice, username: '${clientid}' })).toEqual({ acl: [], dropped: 1 });
    const deny = await authzDeps([{ permission: 'deny', action: 'all', topic: 'x/${username}' }]);
    expect(await connectAcl(deny.deps, { ...alice, username: '${clientid}' })).toEqual({ failed: 'ACL row 0: a deny rule rendered for this client is not a plain MQTT filter' });
  });

  it('fails on a deny rule a client value made malformed, and on an invalid row', async () => {
    const deny = await authzDeps([{ permission: 'deny', action: 'all', topic: 'x/${clientid}/y' }]);
    expect(await connectAcl(deny.deps, { ...alice, clientid: '#' })).toEqual({ failed: 'ACL row 0: a deny rule rendered for this client is not a plain MQTT filter' });
    const invalid = await authzDeps([{ permission: 'allow', action: 'all', topic: 'a/#' }, { permission: 'maybe', action: 'all', topic: '#' }]);
    expect(await connectAcl(invalid.deps, alice)).toEqual({ failed: 'invalid ACL row 1: permission must be allow or deny, got "maybe"' });
  });

  const allowed = { result: 'allow', is_superuser: false, reason: 'password verified' } as const;
  const opts = { ttlS: 3600, authnFailure: 'ignore', nowMs: 1_800_000_000_500 } as const;

  it('an allow carries the rules and expire_at in Unix seconds', async () => {
    const { deps } = await authzDeps([{ permission: 'allow', action: 'all', topic: 'a/#' }]);
    expect(await withConnectAcl(deps, opts, alice, allowed)).toEqual({
      ...allowed,
      acl: [{ permission: 'allow', action: 'all', topic: 'a/#' }],
      expire_at: 1_800_003_600,
      reason: 'password verified; 1 ACL rule(s)',
    });
  });

  it('a superuser, a deny and an ignore carry no rules and make no query', async () => {
    const store = new FakeStore([]);
    const deps = await containerFor({}, store).authzDeps();
    const su = { result: 'allow', is_superuser: true, reason: 'ok' } as const;
    expect(await withConnectAcl(deps, opts, alice, su)).toEqual(su);
    expect(await withConnectAcl(deps, opts, alice, { result: 'deny', reason: 'wrong password' })).toEqual({ result: 'deny', reason: 'wrong password' });
    expect(store.calls).toEqual([]);
  });

  it('rules that cannot be read: AUTHZ_BACKEND_FAILURE deny → the login gets AUTHN_BACKEND_FAILURE; ignore → allow without acl', async () => {
    const down = new BackendError('connection refused', 'ECONNREFUSED');
    const closed = await authzDeps(down);
    expect(await withConnectAcl(closed.deps, opts, alice, allowed)).toEqual({ result: 'ignore', reason: 'connect-time ACL unavailable: backend failure: connection refused' });
    expect(await withConnectAcl(closed.deps, { ...opts, authnFailure: 'deny' }, alice, allowed)).toMatchObject({ result: 'deny' });
    expect(closed.lines().join('\n')).toContain('connect-time ACL unavailable');
    const open = await authzDeps(down, { AUTHZ_BACKEND_FAILURE: 'ignore' });
    const answer = await withConnectAcl(open.deps, opts, alice, allowed);
    expect(answer).toEqual({ ...allowed, reason: 'password verified; no connect-time ACL (backend failure: connection refused)' });
  });
});

describe('connect-time ACL from EMQX 4 / Cloud v4 rows', () => {
  /** A legacy row with the columns the 4.x acl_query returns, NULL where not given. */
  const legacyRow = (r: Record<string, unknown>): Row => ({ allow: 1, ipaddr: null, username: null, clientid: null, access: 3, ...r });
  const cloud = [
    legacyRow({ allow: 0, username: '$all', access: 1, topic: '$SYS/#' }),
    legacyRow({ allow: 1, ipaddr: '10.59.1.100', access: 1, topic: '$SYS/#' }),
    legacyRow({ allow: 0, username: '$all', access: 1, topic: '/smarthome/+/temperature' }),
    legacyRow({ allow: 1, username: '$all', access: 1, topic: '/smarthome/%c/temperature' }),
  ];
  const dev1 = (peerhost?: string) => ({ username: 'emqx', clientid: 'dev1', client_attrs: {}, ...(peerhost === undefined ? {} : { peerhost }) });

  it("the Cloud v4 sample rows: this client's rows only, last row first, %c rendered, access as the action", async () => {
    const { deps } = await authzDeps(cloud);
    expect(await connectAcl(deps, dev1('10.59.1.100'))).toEqual({
      acl: [
        { permission: 'allow', action: 'subscribe', topic: '/smarthome/dev1/temperature' },
        { permission: 'deny', action: 'subscribe', topic: '/smarthome/+/temperature' },
        { permission: 'allow', action: 'subscribe', topic: '$SYS/#' },
        { permission: 'deny', action: 'subscribe', topic: '$SYS/#' },
      ],
      dropped: 0,
    });
    // From any other address the ipaddr row is not this client's.
    expect(await connectAcl(deps, dev1('10.0.0.7'))).toEqual({
      acl: [
        { permission: 'allow', action: 'subscribe', topic: '/smarthome/dev1/temperature' },
        { permission: 'deny', action: 'subscribe', topic: '/smarthome/+/temperature' },
        { permission: 'deny', action: 'subscribe', topic: '$SYS/#' },
      ],
      dropped: 0,
    });
  });

  it('LEGACY_ROW_ORDER=top-down sends them as returned', async () => {
    const { deps } = await authzDeps(cloud, { LEGACY_ROW_ORDER: 'top-down' });
    expect(await connectAcl(deps, dev1('10.0.0.7'))).toEqual({
      acl: [
        { permission: 'deny', action: 'subscribe', topic: '$SYS/#' },
        { permission: 'deny', action: 'subscribe', topic: '/smarthome/+/temperature' },
        { permission: 'allow', action: 'subscribe', topic: '/smarthome/dev1/temperature' },
      ],
      dropped: 0,
    });
  });

  it('who-columns are AND-ed, CIDR and IPv4-mapped peers match, an all-NULL row matches nobody (logged)', async () => {
    const rows = [
      legacyRow({ username: 'u1', clientid: 'c1', access: 2, topic: 'both/#' }),
      legacyRow({ ipaddr: '192.168.1.0/24', access: 1, topic: 'lan/#' }),
      legacyRow({ topic: 'nobody/#' }),
      legacyRow({ username: 'u2', topic: 'u2/#' }),
    ];
    const { deps, lines } = await authzDeps(rows, { LEGACY_ROW_ORDER: 'top-down' });
    expect(await connectAcl(deps, { username: 'u1', clientid: 'c1', peerhost: '::ffff:192.168.1.9', client_attrs: {} })).toEqual({
      acl: [
        { permission: 'allow', action: 'publish', topic: 'both/#' },
        { permission: 'allow', action: 'subscribe', topic: 'lan/#' },
      ],
      dropped: 0,
    });
    expect(await connectAcl(deps, { username: 'u1', clientid: 'c2', peerhost: '192.168.2.9', client_attrs: {} })).toEqual({ acl: [], dropped: 0 });
    expect(lines().join('\n')).toContain('ACL row matches nobody');
  });

  it('a %u / %c value that would widen an allow row drops it; a deny row it made malformed fails the list', async () => {
    const allow = await authzDeps([legacyRow({ username: '$all', topic: 'users/%u/#' }), legacyRow({ username: '$all', topic: 'public/#' })]);
    for (const username of ['+', '#', 'a/b'])
      expect(await connectAcl(allow.deps, { username, clientid: 'c1', client_attrs: {} })).toEqual({ acl: [{ permission: 'allow', action: 'all', topic: 'public/#' }], dropped: 1 });
    const deny = await authzDeps([legacyRow({ allow: 0, username: '$all', topic: 'x/%c/y' })]);
    expect(await connectAcl(deny.deps, { username: 'u1', clientid: '#', client_attrs: {} })).toEqual({ failed: 'ACL row 0: a deny rule rendered for this client is not a plain MQTT filter' });
  });

  it('without the peer address an ipaddr allow row is dropped and an ipaddr deny row fails the list', async () => {
    const allow = await authzDeps([legacyRow({ ipaddr: '10.0.0.0/8', username: 'u1', topic: 'a/#' }), legacyRow({ ipaddr: '10.0.0.0/8', username: 'u2', topic: 'b/#' })]);
    expect(await connectAcl(allow.deps, { username: 'u1', client_attrs: {} })).toEqual({ acl: [], dropped: 1 });
    const deny = await authzDeps([legacyRow({ allow: 0, ipaddr: '10.0.0.0/8', topic: 'a/#' }), legacyRow({ allow: 0, ipaddr: '10.0.0.1', username: 'u2', topic: 'b/#' })]);
    expect(await connectAcl(deny.deps, { username: 'u2', client_attrs: {} })).toEqual({ failed: 'ACL row 1: a deny row names an ipaddr and the authentication request has no peerhost' });
    // A row whose other columns already exclude the client does not need the address.
    expect(await connectAcl(deny.deps, { username: 'u1', client_attrs: {}, peerhost: '192.168.0.1' })).toEqual({ acl: [], dropped: 0 });
  });

  it("an AUTHZ_QUERY that binds the peer address ('%a', ${peerhost}) fails the list when the login has none, without querying", async () => {
    for (const query of ["select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u'", 'SELECT permission, action, topic FROM acl WHERE ip = ${peerhost}']) {
      const store = new FakeStore([legacyRow({ username: '$all', topic: 'a/#' })]);
      const deps = await containerFor({ AUTHZ_QUERY: query }, store).authzDeps();
      expect(await connectAcl(deps, alice)).toEqual({ failed: 'AUTHZ_QUERY binds the peer address and the authentication request has no peerhost' });
      expect(store.calls).toEqual([]);
      expect(await connectAcl(deps, { ...alice, peerhost: '10.0.0.1' })).toEqual({ acl: [{ permission: 'allow', action: 'all', topic: 'a/#' }], dropped: 0 });
    }
  });

  it('an allow for a $ topic after a legacy deny # is dropped: EMQX 5 would not let that deny reach $ topics', async () => {
    const rows = [legacyRow({ username: '$all', access: 1, topic: '$SYS/#' }), legacyRow({ username: '$all', access: 2, topic: 'eq $SYS/x' }), legacyRow({ allow: 0, username: '$all', access: 1, topic: '#' })];
    const { deps } = await authzDeps(rows);
    // Last first: deny subscribe #, then the publish allow (another action, kept), then the subscribe allow (dropped).
    expect(await connectAcl(deps, alice)).toEqual({
      acl: [
        { permission: 'deny', action: 'subscribe', topic: '#' },
        { permission: 'allow', action: 'publish', topic: 'eq $SYS/x' },
      ],
      dropped: 1,
    });
  });

  it('an invalid legacy row, a row of unknown shape and ACL_ROW_SHAPE=emqx5 over legacy rows fail the list', async () => {
    const invalid = await authzDeps([legacyRow({ username: '$all', access: 4, topic: '#' })]);
    expect(await connectAcl(invalid.deps, alice)).toEqual({ failed: 'invalid ACL row 0: access must be 1 (subscribe), 2 (publish) or 3 (both), got 4' });
    const both = await authzDeps([{ permission: 'allow', action: 'all', allow: 1, access: 3, topic: '#' }]);
    expect(await connectAcl(both.deps, alice)).toEqual({ failed: 'invalid ACL row 0: the row has both permission/action and allow/access columns; set ACL_ROW_SHAPE' });
    const five = await authzDeps([legacyRow({ username: '$all', topic: 'a/#' })], { ACL_ROW_SHAPE: 'emqx5' });
    expect(await connectAcl(five.deps, alice)).toEqual({ failed: 'invalid ACL row 0: permission must be allow or deny, got NULL' });
  });
});

describe('VerneMQ subscribe verdicts', () => {
  it('a filter nobody rules on is rejected alone when another is allowed; all unruled → next', async () => {
    const chain = await containerFor({}, new FakeStore([{ permission: 'allow', action: 'subscribe', topic: 'a/#' }])).chain();
    const both = [
      { topic: 'a/x', qos: 1 as const },
      { topic: 'b/x', qos: 0 as const },
    ];
    expect((await verneSubscribe(chain, alice, both, false)).answer).toEqual({ result: 'ok', v5: false, topics: [{ topic: 'a/x', qos: 1 }, { topic: 'b/x', qos: 128 }] });
    expect((await verneSubscribe(chain, alice, [both[1]!], false)).answer).toEqual({ result: 'next' });
  });
});
