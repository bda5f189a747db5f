import { BackendError } from '../../shared/errors.js';
import type { Row } from '../../shared/types.js';
import { containerFor, FakeStore, handlersFor, memoryLogger, type Answer } from '../helpers/harness.js';
import { fieldCase, vectorsOf, type Vector } from '../helpers/vectors.js';

/** The fields of an `authz` vector (emqx-vectors.json, kind authz, 5.x and 6.x forms). */
interface AuthzVector {
  id: string;
  query: string | null;
  rows: Row[];
  client: { username: string; clientid: string; peerhost: string };
  request: { action: 'publish' | 'subscribe'; topic: string; qos: number; retain?: boolean };
  no_match: 'allow' | 'deny';
  expect: 'allow' | 'deny';
  applies_when?: string;
}

const authzVector = (v: Vector): AuthzVector => v as unknown as AuthzVector;

/** An ACL request body as EMQX 5 sends it: every value a string, retain "false" for subscribe. */
function emqxAclBody(client: { username?: string | null; clientid?: string | null; peerhost?: string }, request: { action: string; topic: string; qos?: number; retain?: boolean }): Record<string, string> {
  return {
    username: client.username ?? '',
    clientid: client.clientid ?? '',
    ...(client.peerhost === undefined ? {} : { peerhost: client.peerhost }),
    action: request.action,
    topic: request.topic,
    qos: String(request.qos ?? 0),
    retain: String(request.retain ?? false),
  };
}

/** Every ACL answer is a 200 JSON decision; returns the decision. */
function decisionOf(answer: Answer): unknown {
  expect(answer.status).toBe(200);
  expect(answer.contentType).toBe('application/json');
  expect(Object.keys(answer.body)).toEqual(['result']);
  return answer.body['result'];
}

describe('authz vectors (emqx-vectors.json, kind authz) through the ACL handler', () => {
  const fiveX = vectorsOf('authz');
  const withHardened = vectorsOf('authz', { hardened: true });
  const hardened = withHardened.filter((v) => !fiveX.includes(v));

  it('loads the 25 EMQX 5.x vectors and the one 6.x hardened vector', () => {
    expect(fiveX).toHaveLength(25);
    expect(hardened.map((v) => v.id)).toEqual(['authz-5-hardened-invalid-rule-1']);
  });

  for (const v of withHardened.map(authzVector)) {
    const policy = /AUTHZ_BACKEND_FAILURE=(deny|ignore)/.exec(v.applies_when ?? '')?.[1];
    const policyText = policy === undefined ? '' : ` with AUTHZ_BACKEND_FAILURE=${policy}`;
    it(`${v.id}: ${v.request.action} "${v.request.topic}" under no_match ${v.no_match}${policyText} is ${v.expect}`, async () => {
      // authz-5-invalid-query-1 is a SQL syntax error: the store fails as a real driver would.
      const store = v.id === 'authz-5-invalid-query-1' ? new FakeStore(new BackendError('syntax error at or near "FRO"', '42601')) : new FakeStore(v.rows);
      const env: Record<string, string> = { AUTHZ_NO_MATCH: v.no_match };
      if (v.query !== null) env['AUTHZ_QUERY'] = v.query;
      if (policy !== undefined) env['AUTHZ_BACKEND_FAILURE'] = policy;
      const { acl } = handlersFor(containerFor(env, store));

      const answer = await acl(emqxAclBody(v.client, v.request));

      expect(decisionOf(answer)).toBe(v.expect);
      expect(store.calls).toHaveLength(1);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Field cases, translated to EMQX 5 rows.

/** A 4.x-style `mqtt_acl` row as the field cases write it. */
interface LegacyRow {
  allow: number;
  username?: string | null;
  access: 1 | 2 | 3;
  topic: string;
}

interface FieldRequest {
  username?: string | null;
  clientid?: string | null;
  action: 'publish' | 'subscribe';
  topic: string;
}

const ACTION_OF_ACCESS = { 1: 'subscribe', 2: 'publish', 3: 'all' } as const;

/** The query the translated rows stand behind; the FakeStore below emulates its WHERE clause. */
const ACL_QUERY = "SELECT permission, action, topic FROM mqtt_acl WHERE username = ${username} OR username = '$all' ORDER BY id";

/** permission/action/topic rows; `%c`/`%u` become their EMQX 5 spellings `${clientid}`/`${username}`. */
function emqx5Rows(rows: readonly LegacyRow[]): Row[] {
  return rows.map((r) => ({
    username: r.username ?? null,
    permission: r.allow ? 'allow' : 'deny',
    action: ACTION_OF_ACCESS[r.access],
    topic: r.topic.replaceAll('%c', '${clientid}').replaceAll('%u', '${username}'),
  }));
}

/** A store answering `WHERE username = ${username} OR username = '$all'`, in stored order. */
function aclTable(rows: readonly Row[]): FakeStore {
  return new FakeStore((params) => rows.filter((r) => r['username'] === params[0] || r['username'] === '$all'));
}

/** Runs requests one by one through the ACL handler over the table; returns the decisions. */
async function decide(rows: readonly Row[], noMatch: string, requests: ReadonlyArray<FieldRequest>, client: { username?: string; clientid?: string } = {}): Promise<unknown[]> {
  const store = aclTable(rows);
  const { acl } = handlersFor(containerFor({ AUTHZ_QUERY: ACL_QUERY, AUTHZ_NO_MATCH: noMatch }, store));
  const decisions: unknown[] = [];
  for (const r of requests) {
    const who = { username: r.username ?? client.username ?? null, clientid: r.clientid ?? client.clientid ?? null };
    decisions.push(decisionOf(await acl(emqxAclBody(who, r))));
    expect(store.calls.at(-1)?.params).toEqual([who.username ?? '']);
  }
  return decisions;
}

describe('field cases as EMQX 5 rows (username = ${username} OR username = $all)', () => {
  it('B25: a client id or username containing + # or / never widens a pattern rule', async () => {
    const c = fieldCase('B25');
    expect(await decide(emqx5Rows(c.input['rows']), c.input['no_match'], c.input['requests'])).toEqual(c.expected['decisions']);
  });

  it('B26: a subscription is allowed only when the rule covers every topic it can match', async () => {
    const c = fieldCase('B26');
    expect(await decide(emqx5Rows(c.input['rows']), c.input['no_match'], c.input['requests'])).toEqual(c.expected['decisions']);
  });

  it('B27: rule foo/+ admits the identical filter, and a publish to a wildcard name is denied', async () => {
    const c = fieldCase('B27');
    expect(await decide(emqx5Rows(c.input['rows']), c.input['no_match'], c.input['requests'])).toEqual(c.expected['decisions']);
  });

  it('B28: a catch-all deny written as # does not reach $ topics, and no_match deny catches them', async () => {
    const c = fieldCase('B28');
    interface WhoRule {
      permission: 'allow' | 'deny';
      who: 'all' | { username: string };
      action: string;
      topics: string[];
    }
    const rules = c.input['rules'] as WhoRule[];
    const rows: Row[] = rules.flatMap((rule) =>
      rule.topics.map((topic) => ({ username: rule.who === 'all' ? '$all' : rule.who.username, permission: rule.permission, action: rule.action, topic })),
    );
    expect(await decide(rows, c.input['no_match'], c.input['requests'], c.input['client'])).toEqual(c.expected['decisions']);
  });

  it('B20: a row with every who-column NULL is not returned for user1, so no_match allow decides; the $all row denies', async () => {
    const c = fieldCase('B20');
    const request: FieldRequest = c.input['request'];
    // The expectation for the all-NULL row is prose ("allow (row matches nobody; …)"): its first word is the decision.
    const allNullExpected = String(c.expected['all_null_row']).split(' ')[0];
    expect(await decide(emqx5Rows(c.input['rows']), c.input['no_match'], [request])).toEqual([allNullExpected]);
    expect(await decide(emqx5Rows(c.input['rows_fixed']), c.input['no_match'], [request])).toEqual([c.expected['fixed_row']]);
  });

  it('B21: a username starting with $ ($MAIL$…) is an ordinary username', async () => {
    const c = fieldCase('B21');
    expect(await decide(emqx5Rows(c.input['rows']), c.input['no_match'], [c.input['request']])).toEqual([c.expected['decision']]);
  });

  it('B23: a $all row chmsg2/${clientid}/message admits the client its own topic', async () => {
    const c = fieldCase('B23');
    // Only the ${clientid} spelling is EMQX 5; the %c row and requests belong to the 4.x dialect.
    const rows = emqx5Rows((c.input['rows'] as LegacyRow[]).filter((r) => r.topic.includes('${clientid}')));
    const requests = c.input['requests'] as FieldRequest[];
    const picked = requests.map((r, i) => ({ r, i })).filter(({ r }) => r.topic.startsWith('chmsg2/'));
    expect(picked).toHaveLength(1);
    const expected = picked.map(({ i }) => (c.expected['decisions'] as string[])[i]);
    expect(await decide(rows, c.input['no_match'], picked.map(({ r }) => r))).toEqual(expected);
  });

  it('B23: another client id, or the literal pattern text, does not match the ${clientid} row', async () => {
    const c = fieldCase('B23');
    const rows = emqx5Rows((c.input['rows'] as LegacyRow[]).filter((r) => r.topic.includes('${clientid}')));
    const requests: FieldRequest[] = [
      { clientid: 'client1', action: 'subscribe', topic: 'chmsg2/client2/message' },
      { clientid: 'client1', action: 'subscribe', topic: 'chmsg2/${clientid}/message' },
    ];
    expect(await decide(rows, c.input['no_match'], requests)).toEqual(['deny', 'deny']);
  });

  it('B30: rows deny subscribe "eq #" then allow subscribe "#" refuse only the bare # subscription', async () => {
    const c = fieldCase('B30');
    const rows = emqx5Rows(c.input['rows']);
    expect(rows.map((r) => [r['permission'], r['action'], r['topic']])).toEqual([
      ['deny', 'subscribe', 'eq #'],
      ['allow', 'subscribe', '#'],
    ]);
    expect(await decide(rows, c.input['no_match'], c.input['requests'])).toEqual(c.expected['decisions']);
  });
});

// ---------------------------------------------------------------------------------------------
// Project decisions on subscriptions and topic names.

const row = (permission: string, action: string, topic: string): Row => ({ permission, action, topic });

async function decisionsFor(rows: Row[], noMatch: string, requests: ReadonlyArray<{ action: 'publish' | 'subscribe'; topic: string }>): Promise<unknown[]> {
  const { acl } = handlersFor(containerFor({ AUTHZ_NO_MATCH: noMatch }, new FakeStore(rows)));
  const out: unknown[] = [];
  for (const r of requests) out.push(decisionOf(await acl(emqxAclBody({ username: 'u1', clientid: 'c1' }, r))));
  return out;
}

describe('subscriptions: allow needs coverage, deny needs only overlap', () => {
  it('rows "deny subscribe a/b, allow subscribe #" refuse a/+ and a/# and admit a/c', async () => {
    const rows = [row('deny', 'subscribe', 'a/b'), row('allow', 'subscribe', '#')];
    const requests = ['a/+', 'a/#', 'a/c'].map((topic) => ({ action: 'subscribe' as const, topic }));
    expect(await decisionsFor(rows, 'deny', requests)).toEqual(['deny', 'deny', 'allow']);
  });

  it('judges $share/g/t/1 and $queue/t/1 on t/1', async () => {
    const requests = ['$share/g/t/1', '$queue/t/1', '$share/g/t/2'].map((topic) => ({ action: 'subscribe' as const, topic }));
    expect(await decisionsFor([row('allow', 'subscribe', 't/1')], 'deny', requests)).toEqual(['allow', 'allow', 'deny']);
    // Judged on the full string, "#" could never cover a $ filter; judged on t/2 it does.
    expect(await decisionsFor([row('deny', 'subscribe', 't/1'), row('allow', 'subscribe', '#')], 'deny', requests)).toEqual(['deny', 'deny', 'allow']);
  });

  it('denies a publish to a topic name containing a wildcard, even under allow rules and no_match allow', async () => {
    const requests = ['a/+', 'a/#', '#', '+'].map((topic) => ({ action: 'publish' as const, topic }));
    expect(await decisionsFor([row('allow', 'publish', '#'), row('allow', 'all', 'a/+')], 'allow', requests)).toEqual(['deny', 'deny', 'deny', 'deny']);
  });
});

describe('invalid rows and the failure policy', () => {
  const invalidThenAllow = [row('permit', 'publish', 'a'), row('allow', 'publish', 'a')];
  const request = emqxAclBody({ username: 'u1', clientid: 'c1' }, { action: 'publish', topic: 'a' });
  const logged = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

  it('skips an invalid row under AUTHZ_BACKEND_FAILURE=ignore, lets the next row decide, and logs it', async () => {
    const { log, lines } = memoryLogger();
    const { acl } = handlersFor(containerFor({ AUTHZ_BACKEND_FAILURE: 'ignore', AUTHZ_NO_MATCH: 'deny' }, new FakeStore(invalidThenAllow), log));

    expect(decisionOf(await acl(request))).toBe('allow');

    const warnings = logged(lines()).filter((l) => l['msg'] === 'invalid ACL row');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ row: 0, policy: 'ignore' });
    expect(String(warnings[0]?.['problem'])).toContain('permit');
  });

  it('denies on an invalid row under the default policy (deny), and logs it', async () => {
    const { log, lines } = memoryLogger();
    const { acl } = handlersFor(containerFor({ AUTHZ_NO_MATCH: 'allow' }, new FakeStore(invalidThenAllow), log));

    expect(decisionOf(await acl(request))).toBe('deny');
    expect(logged(lines()).filter((l) => l['msg'] === 'invalid ACL row')).toHaveLength(1);
  });

  it('under AUTHZ_BACKEND_FAILURE=ignore a skipped row with no other match is ignore, never AUTHZ_NO_MATCH=allow', async () => {
    // The invalid row (qos 3) was meant to deny secret/#: skipping it must not hand the topic to no_match.
    const rows = [{ permission: 'deny', action: 'all', topic: 'secret/#', qos: '3', retain: null }, row('allow', 'publish', 'ok/#')];
    const c = containerFor({ AUTHZ_BACKEND_FAILURE: 'ignore', AUTHZ_NO_MATCH: 'allow' }, new FakeStore(rows));
    const { acl } = handlersFor(c);
    const secret = emqxAclBody({ username: 'u1', clientid: 'c1' }, { action: 'publish', topic: 'secret/x' });
    expect(decisionOf(await acl(secret))).toBe('ignore');
    const { outcome, trace } = await (await c.chain()).authorize({ username: 'u1', clientid: 'c1', client_attrs: {}, topic: 'secret/x', action: 'publish' });
    expect(outcome).toEqual({ result: 'ignore', reason: 'no source matched and sql failed (invalid ACL row 0 skipped and no other row matched)' });
    expect(trace.steps).toEqual([{ source: 'sql', result: 'ignore', reason: 'invalid ACL row 0 skipped and no other row matched', ms: expect.any(Number), failure: true }]);
    // A valid row after the skipped one still decides; without a skipped row no_match answers.
    expect(decisionOf(await acl(emqxAclBody({ username: 'u1', clientid: 'c1' }, { action: 'publish', topic: 'ok/1' })))).toBe('allow');
    const { acl: clean } = handlersFor(containerFor({ AUTHZ_BACKEND_FAILURE: 'ignore', AUTHZ_NO_MATCH: 'allow' }, new FakeStore([row('allow', 'publish', 'ok/#')])));
    expect(decisionOf(await clean(secret))).toBe('allow');
  });

  it('answers ignore for a backend failure under AUTHZ_BACKEND_FAILURE=ignore, whatever no_match says', async () => {
    const store = new FakeStore(new BackendError('connection refused', 'ECONNREFUSED'));
    const { acl } = handlersFor(containerFor({ AUTHZ_BACKEND_FAILURE: 'ignore', AUTHZ_NO_MATCH: 'allow' }, store));
    expect(decisionOf(await acl(request))).toBe('ignore');
  });
});

describe('the log never contains a password', () => {
  it('keeps a password out of every log line of the ACL and authentication handlers', async () => {
    const secret = 'Pa55-w0rd-never-logged';
    const { log, lines } = memoryLogger();
    // The first row serves authentication; the second is an invalid ACL row that gets logged.
    const rows: Row[] = [{ permission: 'allow', action: 'all', topic: '#', password_hash: secret, salt: '', is_superuser: 0 }, { permission: 'permit', action: 'publish', topic: 'a' }];
    const env = { AUTHZ_BACKEND_FAILURE: 'ignore', PASSWORD_HASH: '{"name":"plain","salt_position":"disable"}' };
    const ok = handlersFor(containerFor(env, new FakeStore(rows), log));
    const failing = handlersFor(containerFor(env, new FakeStore(new BackendError(`cannot reach database`, 'ECONNREFUSED')), log));
    const aclFields = { username: 'u1', clientid: 'c1', password: secret, action: 'publish', topic: 'a', qos: '0', retain: 'false' };

    expect(decisionOf(await ok.acl(aclFields))).toBe('allow');
    expect(decisionOf(await failing.acl(aclFields))).toBe('ignore');
    expect((await ok.auth({ username: 'u1', clientid: 'c1', password: secret })).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await ok.auth({ username: 'u1', clientid: 'c1', password: `${secret}-wrong` })).body).toEqual({ result: 'deny' });
    expect((await failing.auth({ username: 'u1', clientid: 'c1', password: secret })).body).toEqual({ result: 'ignore' });
    expect((await ok.rawAuth({ contentType: 'application/json', body: `{"username":"u1","password":"${secret}"` })).status).toBe(400);
    expect((await ok.rawAcl({ contentType: 'application/x-www-form-urlencoded', body: `username=u1&password=${secret}%ZZ&topic=a&action=publish` })).status).toBe(400);

    expect(lines().length).toBeGreaterThan(5);
    for (const line of lines()) expect(line).not.toContain(secret);
  });
});

describe('doubt never opens a topic: unknown conditions and unusable placeholders', () => {
  const acl = (rows: Row[], noMatch = 'ignore') => handlersFor(containerFor({ AUTHZ_NO_MATCH: noMatch }, new FakeStore(rows))).acl;

  it('a deny rule takes the client id as it is, so "x/y" cannot slip past deny devices/${clientid}/cmd', async () => {
    const rows: Row[] = [
      { permission: 'deny', action: 'all', topic: 'devices/${clientid}/cmd' },
      { permission: 'allow', action: 'all', topic: 'devices/#' },
    ];
    const send = acl(rows);
    expect(decisionOf(await send({ username: 'u', clientid: 'x/y', topic: 'devices/x/y/cmd', action: 'publish' }))).toBe('deny');
    expect(decisionOf(await send({ username: 'u', topic: 'devices//cmd', action: 'publish' }))).toBe('deny');
    expect(decisionOf(await send({ username: 'u', clientid: 'x', topic: 'devices/x/cmd', action: 'publish' }))).toBe('deny');
    expect(decisionOf(await send({ username: 'u', clientid: 'x', topic: 'devices/x/data', action: 'publish' }))).toBe('allow');
  });

  it('a deny rule that a client value makes malformed (client id "a#") still denies', async () => {
    const send = acl([
      { permission: 'deny', action: 'all', topic: 'devices/${clientid}/cmd' },
      { permission: 'allow', action: 'all', topic: '#' },
    ]);
    expect(decisionOf(await send({ username: 'u', clientid: 'a#', topic: 'other', action: 'publish' }))).toBe('deny');
  });

  it('an allow rule with an unset or widening placeholder does not apply', async () => {
    const send = acl([{ permission: 'allow', action: 'all', topic: 'devices/${clientid}/#' }], 'deny');
    expect(decisionOf(await send({ username: 'u', topic: 'devices//x', action: 'publish' }))).toBe('deny');
    expect(decisionOf(await send({ username: 'u', clientid: '+', topic: 'devices/+/#', action: 'subscribe' }))).toBe('deny');
  });

  it('without qos in the request, an allow rule with a qos condition does not apply and a deny rule does', async () => {
    const allowQos = acl([{ permission: 'allow', action: 'publish', topic: 'q/#', qos: '0,1' }], 'deny');
    expect(decisionOf(await allowQos({ username: 'u', topic: 'q/1', action: 'publish' }))).toBe('deny');
    expect(decisionOf(await allowQos({ username: 'u', topic: 'q/1', action: 'publish', qos: '1' }))).toBe('allow');
    const denyQos = acl([
      { permission: 'deny', action: 'publish', topic: 'q/#', qos: '2' },
      { permission: 'allow', action: 'publish', topic: 'q/#' },
    ]);
    expect(decisionOf(await denyQos({ username: 'u', topic: 'q/1', action: 'publish' }))).toBe('deny');
    expect(decisionOf(await denyQos({ username: 'u', topic: 'q/1', action: 'publish', qos: '1' }))).toBe('allow');
  });

  it('without retain in a publish, an allow rule with a retain condition does not apply and a deny rule does', async () => {
    const denyRetained = acl([
      { permission: 'deny', action: 'publish', topic: 'r/#', retain: true },
      { permission: 'allow', action: 'publish', topic: 'r/#' },
    ]);
    expect(decisionOf(await denyRetained({ username: 'u', topic: 'r/1', action: 'publish' }))).toBe('deny');
    expect(decisionOf(await denyRetained({ username: 'u', topic: 'r/1', action: 'publish', retain: 'false' }))).toBe('allow');
    const allowPlain = acl([{ permission: 'allow', action: 'publish', topic: 'r/#', retain: false }], 'deny');
    expect(decisionOf(await allowPlain({ username: 'u', topic: 'r/1', action: 'publish' }))).toBe('deny');
  });

  it('a row whose own topic is not a valid filter is an invalid row (denied under the default policy)', async () => {
    const send = acl([
      { permission: 'allow', action: 'all', topic: 'a/#/b' },
      { permission: 'allow', action: 'all', topic: '#' },
    ]);
    expect(decisionOf(await send({ username: 'u', topic: 'a/x', action: 'publish' }))).toBe('deny');
  });
});

describe('a client value never turns an allow rule into one for $ topics', () => {
  it('client id "$SYS" gets nothing from allow ${clientid}/#, while an ordinary client id still does', async () => {
    const send = handlersFor(
      containerFor(
        { AUTHZ_NO_MATCH: 'deny' },
        new FakeStore([
          { permission: 'allow', action: 'all', topic: '${clientid}/#' },
          { permission: 'deny', action: 'all', topic: '#' },
        ]),
      ),
    ).acl;
    expect(decisionOf(await send({ username: 'u6', clientid: '$SYS', topic: '$SYS/#', action: 'subscribe', qos: '0' }))).toBe('deny');
    expect(decisionOf(await send({ username: 'u6', clientid: '$SYS', topic: '$SYS/brokers/+/clients/#', action: 'subscribe', qos: '0' }))).toBe('deny');
    expect(decisionOf(await send({ username: 'u6', clientid: '$SYS', topic: '$SYS/x', action: 'publish', qos: '0', retain: 'false' }))).toBe('deny');
    expect(decisionOf(await send({ username: 'u6', clientid: 'dev1', topic: 'dev1/#', action: 'subscribe', qos: '0' }))).toBe('allow');
  });

  it('a literal $ in the rule itself is the operator\'s choice and still works', async () => {
    const send = handlersFor(containerFor({ AUTHZ_NO_MATCH: 'deny' }, new FakeStore([{ permission: 'allow', action: 'subscribe', topic: '$SYS/clients/${clientid}/#' }]))).acl;
    expect(decisionOf(await send({ username: 'u', clientid: 'c9', topic: '$SYS/clients/c9/#', action: 'subscribe', qos: '0' }))).toBe('allow');
  });
});
