import { authorize, authorizeMany } from '../../shared/authz.js';
import type { Container } from '../../shared/container.js';
import type { AclRequest } from '../../shared/types.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { containerFor } from '../helpers/harness.js';

/**
 * Property check against real PostgreSQL: random rule rows × random requests, the batched path
 * (authorizeMany, one query per distinct binding) answers every request exactly as the one-request
 * path does, in order — also when two clients' requests are mixed in one batch, and through the
 * chain. Seeded, so a failure repeats; bounded to a few hundred requests.
 */

/** mulberry32: a small seeded generator, so every run draws the same cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CLIENTS = [
  { username: 'alice', clientid: 'c-a' },
  { username: 'bob', clientid: 'c-b' },
  { username: 'alice', clientid: 'c-other' },
] as const;
const PERMISSIONS = ['allow', 'allow', 'deny', 'deny', 'maybe'];
const ACTIONS = ['publish', 'subscribe', 'all', 'all'];
const RULE_TOPICS = ['t/#', 't/+', 't/a', '#', '+/a', 'eq t/#', '${username}/#', '${clientid}/x', 'u/${username}', '$SYS/#', 't/+/b', 'eq $share/g/t/a'];
const QOS = [null, null, '0', '1', '0,1', '2', '1,2'];
const RETAIN = [null, null, 'true', 'false'];
const REQ_TOPICS = ['t/a', 't/b', 't/a/b', '#', 't/#', '+/a', 'alice/x', 'bob/#', 'c-a/x', 'u/alice', 'u/bob', '$SYS/x', '$share/g/t/a', 't/+/b', 'x/a', 't/a/#'];

describe('authorizeMany equals authorize per request (random rows × random requests, real PostgreSQL)', () => {
  let db: TestDatabase;
  const containers: Container[] = [];
  const make = (env: Record<string, string>) => {
    const c = containerFor({ DATABASE_URL: db.url, ...env });
    containers.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await freshDatabase('postgres', 'maf_it_authz_batch');
    await db.exec(`CREATE TABLE pacl (id SERIAL PRIMARY KEY, username VARCHAR(100), clientid VARCHAR(100), permission VARCHAR(10), action VARCHAR(10), topic VARCHAR(255), qos VARCHAR(10), retain VARCHAR(10))`);
  });
  afterAll(async () => {
    for (const c of containers) await c.close();
    await db.close();
  });

  const QUERIES = [
    'SELECT permission, action, topic, qos, retain FROM pacl WHERE username = ${username} ORDER BY id',
    'SELECT permission, action, topic, qos, retain FROM pacl WHERE username = ${username} AND (clientid IS NULL OR clientid = ${clientid}) ORDER BY id DESC',
  ];
  const POLICIES = [
    { AUTHZ_NO_MATCH: 'deny', AUTHZ_BACKEND_FAILURE: 'deny' },
    { AUTHZ_NO_MATCH: 'allow', AUTHZ_BACKEND_FAILURE: 'ignore' },
    { AUTHZ_NO_MATCH: 'ignore', AUTHZ_BACKEND_FAILURE: 'deny' },
  ];

  it('every request of every trial answers the same batched and alone, in order', async () => {
    const pick = rng(20261204);
    const one = <T>(xs: readonly T[]): T => xs[Math.floor(pick() * xs.length)]!;
    let compared = 0;
    const seen = new Set<string>();
    for (let trial = 0; trial < 24; trial += 1) {
      await db.exec('DELETE FROM pacl');
      for (let r = Math.floor(pick() * 10); r > 0; r -= 1) {
        const who = one(CLIENTS);
        await db.exec('INSERT INTO pacl (username, clientid, permission, action, topic, qos, retain) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
          who.username,
          pick() < 0.5 ? null : who.clientid,
          one(PERMISSIONS),
          one(ACTIONS),
          one(RULE_TOPICS),
          one(QOS),
          one(RETAIN),
        ]);
      }
      const c = make({ AUTHZ_QUERY: QUERIES[trial % QUERIES.length]!, ...POLICIES[trial % POLICIES.length]! });
      const deps = await c.authzDeps();
      const reqs: AclRequest[] = [];
      for (let q = 1 + Math.floor(pick() * 14); q > 0; q -= 1) {
        const who = one(CLIENTS);
        const action = pick() < 0.5 ? 'publish' : 'subscribe';
        const qos = one([0, 1, 2] as const);
        reqs.push({ ...who, client_attrs: {}, topic: one(REQ_TOPICS), action, qos, ...(action === 'publish' ? { retain: pick() < 0.5 } : {}) });
      }
      const batched = await authorizeMany(deps, reqs);
      expect(batched).toHaveLength(reqs.length);
      const chain = await c.chain();
      const chained = await chain.authorizeMany(reqs);
      expect(chained).toHaveLength(reqs.length);
      for (const [i, req] of reqs.entries()) {
        const alone = await authorize(deps, req);
        const label = { trial, i, req };
        expect({ ...label, outcome: batched[i]!.outcome }).toEqual({ ...label, outcome: alone });
        const chainAlone = await chain.authorize(req);
        expect({ ...label, outcome: chained[i]!.outcome, steps: chained[i]!.trace.steps.map((s) => [s.source, s.result, s.reason]) }).toEqual({
          ...label,
          outcome: chainAlone.outcome,
          steps: chainAlone.trace.steps.map((s) => [s.source, s.result, s.reason]),
        });
        seen.add(alone.result);
        compared += 1;
      }
    }
    // The draw reaches every answer, so the comparison is not over one kind only.
    expect([...seen].sort()).toEqual(['allow', 'deny', 'ignore']);
    expect(compared).toBeGreaterThan(100);
  }, 120_000);
});
