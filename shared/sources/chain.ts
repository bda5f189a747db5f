import { attachConnectAcl, type AuthnAnswer, type EmqxAclRule } from '../connectacl.js';
import type { AuthzOutcome } from '../authz.js';
import type { Logger } from '../log.js';
import type { AclRequest, AuthnRequest, ClientInfo } from '../types.js';
import type { Source, SourceAuthn, SourceAuthz, SourceDetail, SourceName } from './port.js';
import { superuserAnswer } from './sql.js';

/**
 * The chain set by `SOURCES`, with EMQX 5's semantics (emqx.md §10): sources are asked in order and
 * the first answer other than ignore wins. Authentication: when every source ignores, the answer
 * stays ignore. Authorization: when no source matched, AUTHZ_NO_MATCH answers — unless a source
 * failed with policy ignore, then the answer is ignore (the broker decides), so an outage never
 * meets AUTHZ_NO_MATCH=allow. A source that throws answers its own failure policy.
 */

/** One source's part in a decision, for `explain`, the x-auth-explain header and the decision log. */
export interface Step extends SourceDetail {
  readonly source: SourceName;
  readonly result: 'allow' | 'deny' | 'ignore';
  readonly reason: string;
  readonly ms: number;
}

/** How one decision was reached. Carries no password, hash, salt or token. */
export interface Trace {
  readonly kind: 'authn' | 'authz' | 'superuser';
  readonly decision: 'allow' | 'deny' | 'ignore';
  /** The source whose answer stood; absent when none answered (all ignored, or AUTHZ_NO_MATCH). */
  readonly source?: SourceName;
  readonly reason: string;
  readonly steps: readonly Step[];
  readonly ms: number;
}

export interface Decided<O> {
  readonly outcome: O;
  readonly trace: Trace;
}

/** A source in the chain, with the failure policies it answers when it throws. */
export interface ChainLink {
  readonly source: Source;
  readonly authnFailure: 'ignore' | 'deny';
  readonly authzFailure: 'deny' | 'ignore';
}

export interface ChainOptions {
  readonly noMatch: 'allow' | 'deny' | 'ignore';
  /** EMQX 5.8+ connect-time ACL (CONNECT_ACL), when on. */
  readonly connectAcl?: { readonly ttlS: number };
  readonly log: Logger;
  /** Called once per decision (the decision log and metrics). */
  readonly decided?: (trace: Trace, client: ClientInfo, req?: AclRequest) => void;
  /** Milliseconds, monotonic; injected by tests for exact timings. */
  readonly clock?: () => number;
  /** Wall clock for `expire_at`; injected by tests. */
  readonly nowMs?: () => number;
}

export interface Chain {
  readonly names: readonly SourceName[];
  /** EMQX-style authentication; with `connectAcl`, an allow carries the client's rules. */
  authenticate(req: AuthnRequest, opts?: { readonly connectAcl?: boolean }): Promise<Decided<AuthnAnswer>>;
  authorize(req: AclRequest): Promise<Decided<AuthzOutcome>>;
  /**
   * Several of one client's requests (a VerneMQ subscribe's filters, go-auth's read-write), each
   * decided exactly as `authorize` decides it, in order. A source that can (SQL, built-in) is asked
   * once for all requests still undecided when the chain reaches it, so its rows are read once.
   */
  authorizeMany(reqs: readonly AclRequest[]): Promise<Array<Decided<AuthzOutcome>>>;
  /** mosquitto-go-auth's superuser check: the first source that knows the user answers. */
  superuser(client: ClientInfo): Promise<Decided<{ readonly is_superuser: boolean; readonly reason: string }>>;
}

/** An error's name and message for the log, read by shape (it may come from another realm). */
const describe = (err: unknown): { name: string; message: string } => {
  const get = (key: string): unknown => (typeof err === 'object' && err !== null ? Reflect.get(err, key) : undefined);
  const name = get('name');
  const message = get('message');
  return { name: typeof name === 'string' ? name : typeof err, message: typeof message === 'string' ? message : '' };
};

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

const stepOf = (source: SourceName, o: SourceAuthn | SourceAuthz, ms: number): Step => ({ source, result: o.result, reason: o.reason, ms: round(ms), ...(o.detail ?? {}) });

export function createChain(links: readonly ChainLink[], opts: ChainOptions): Chain {
  if (links.length === 0) throw new Error('a chain needs at least one source');
  const clock = opts.clock ?? (() => performance.now());
  const log = opts.log;

  /** Runs one source, turning an exception into its failure policy (logged without a stack). */
  async function run<O>(link: ChainLink, kind: 'authn' | 'authz', call: () => Promise<O>, failure: (reason: string) => O): Promise<{ o: O; ms: number }> {
    const start = clock();
    let o: O;
    try {
      o = await call();
    } catch (err) {
      const policy = kind === 'authn' ? link.authnFailure : link.authzFailure;
      log.error({ source: link.source.name, kind, error: describe(err), policy }, 'source failed');
      o = failure(`source ${link.source.name} failed`);
    }
    return { o, ms: clock() - start };
  }

  /**
   * One source's answers to several requests: one call when it answers many at once (each request's
   * step then takes that call's time), else one call per request. A call that throws, or answers a
   * different number of requests, answers the source's failure policy for all of them.
   */
  async function runAuthz(link: ChainLink, reqs: readonly AclRequest[]): Promise<Array<{ o: SourceAuthz; ms: number }>> {
    const failure = (reason: string): SourceAuthz => ({ result: link.authzFailure, reason, detail: { failure: true } });
    const many = link.source.authorizeMany?.bind(link.source);
    if (many === undefined || reqs.length === 1) {
      const out: Array<{ o: SourceAuthz; ms: number }> = [];
      for (const req of reqs) out.push(await run(link, 'authz', () => link.source.authorize(req), failure));
      return out;
    }
    const batch = async (): Promise<readonly SourceAuthz[]> => {
      const answers = await many(reqs);
      if (answers.length !== reqs.length) throw new Error(`answered ${answers.length} of ${reqs.length} requests`);
      return answers;
    };
    const { o: answers, ms } = await run(link, 'authz', batch, (reason) => reqs.map(() => failure(reason)));
    return answers.map((o) => ({ o, ms }));
  }

  async function connectRules(req: AuthnRequest, outcome: SourceAuthn & { result: 'allow' }, ttlS: number): Promise<AuthnAnswer> {
    const policyOf = (link: ChainLink) => ({ ttlS, authnFailure: link.authnFailure, authzFailure: link.authzFailure, log, ...(opts.nowMs ? { nowMs: opts.nowMs() } : {}) });
    const acl: EmqxAclRule[] = [];
    let dropped = 0;
    let asked = 0;
    // Only a leading run of sources that can export their rules: EMQX checks the list before
    // asking /mqtt/acl, so rules of a later source must not jump ahead of an earlier one.
    for (const link of links) {
      if (link.source.connectAcl === undefined) break;
      asked += 1;
      const rules = await link.source.connectAcl(req);
      if ('failed' in rules) return attachConnectAcl(rules, policyOf(link), req, outcome);
      acl.push(...rules.acl);
      dropped += rules.dropped;
    }
    if (asked === 0) return outcome;
    return attachConnectAcl({ acl, dropped }, policyOf(links[0]!), req, outcome);
  }

  return {
    names: links.map((l) => l.source.name),

    async authenticate(req, call = {}) {
      const start = clock();
      const steps: Step[] = [];
      let answer: AuthnAnswer = { result: 'ignore', reason: 'no source knew the client' };
      let source: SourceName | undefined;
      for (const link of links) {
        const { o, ms } = await run(link, 'authn', () => link.source.authenticate(req), (reason) => ({ result: link.authnFailure, reason, detail: { failure: true } }));
        steps.push(stepOf(link.source.name, o, ms));
        if (o.result === 'ignore') continue;
        source = link.source.name;
        const { detail: _detail, ...outcome } = o;
        answer = outcome;
        if (outcome.result === 'allow' && !outcome.is_superuser && call.connectAcl === true && opts.connectAcl) answer = await connectRules(req, outcome, opts.connectAcl.ttlS);
        break;
      }
      const trace: Trace = { kind: 'authn', decision: answer.result, ...(source ? { source } : {}), reason: answer.reason, steps, ms: round(clock() - start) };
      opts.decided?.(trace, req);
      return { outcome: answer, trace };
    },

    async authorize(req) {
      const [decided] = await this.authorizeMany([req]);
      return decided!;
    },

    async authorizeMany(reqs) {
      const start = clock();
      const steps: Step[][] = reqs.map(() => []);
      const answers: Array<{ outcome: AuthzOutcome; source: SourceName } | undefined> = reqs.map(() => undefined);
      for (const link of links) {
        const pending = [...reqs.keys()].filter((i) => answers[i] === undefined);
        if (pending.length === 0) break;
        const ran = await runAuthz(link, pending.map((i) => reqs[i]!));
        for (const [k, i] of pending.entries()) {
          const { o, ms } = ran[k]!;
          steps[i]!.push(stepOf(link.source.name, o, ms));
          if (o.result !== 'ignore') answers[i] = { outcome: { result: o.result, reason: o.reason }, source: link.source.name };
        }
      }
      const ms = round(clock() - start);
      return reqs.map((req, i) => {
        const decided = answers[i];
        let answer: AuthzOutcome = decided?.outcome ?? { result: opts.noMatch, reason: 'no source matched (AUTHZ_NO_MATCH)' };
        // An outage is never a "no match": AUTHZ_NO_MATCH=allow must not let it through.
        const failed = steps[i]!.find((s) => s.failure === true);
        if (decided === undefined && failed !== undefined) answer = { result: 'ignore', reason: `no source matched and ${failed.source} failed (${failed.reason})` };
        const trace: Trace = { kind: 'authz', decision: answer.result, ...(decided ? { source: decided.source } : {}), reason: answer.reason, steps: steps[i]!, ms };
        opts.decided?.(trace, req, req);
        return { outcome: answer, trace };
      });
    },

    async superuser(client) {
      const start = clock();
      const steps: Step[] = [];
      let answer = { is_superuser: false, reason: 'no source knew the user' };
      let source: SourceName | undefined;
      for (const link of links) {
        // A source that cannot answer without a password may be where the client logged in: a later
        // source must not grant superuser to a name it does not know came from it.
        if (link.source.superuser === undefined) {
          steps.push({ source: link.source.name, result: 'deny', reason: `${link.source.name} cannot answer superuser checks: not a superuser`, ms: 0 });
          source = link.source.name;
          answer = { is_superuser: false, reason: `${link.source.name} cannot answer superuser checks` };
          break;
        }
        const t0 = clock();
        let a;
        try {
          a = await link.source.superuser(client);
        } catch (err) {
          // As a backend failure: under `deny` the chain stops with no, so a later source never
          // makes a superuser of someone this one could not look up.
          log.error({ source: link.source.name, kind: 'superuser', error: describe(err), policy: link.authnFailure }, 'source failed');
          a = superuserAnswer({ yes: false, known: false, failure: true, reason: `source ${link.source.name} failed` }, link.authnFailure);
        }
        steps.push({ source: link.source.name, result: a.known ? (a.is_superuser ? 'allow' : 'deny') : 'ignore', reason: a.reason, ms: round(clock() - t0) });
        if (!a.known) continue;
        source = link.source.name;
        answer = { is_superuser: a.is_superuser, reason: a.reason };
        break;
      }
      const trace: Trace = { kind: 'superuser', decision: answer.is_superuser ? 'allow' : 'deny', ...(source ? { source } : {}), reason: answer.reason, steps, ms: round(clock() - start) };
      opts.decided?.(trace, client);
      return { outcome: answer, trace };
    },
  };
}
