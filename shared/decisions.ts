import { createHash } from 'node:crypto';
import { stdout, type Logger } from './log.js';
import type { Trace } from './sources/chain.js';
import type { AclRequest, ClientInfo } from './types.js';

/**
 * One structured record per decision, and its count and latency as CloudWatch Embedded Metric
 * Format (one JSON line with `_aws.CloudWatchMetrics`, turned into metrics by CloudWatch Logs with
 * no agent and no API call). The username appears only as a short SHA-256 prefix; passwords, hashes
 * and tokens never reach either line.
 */

export interface DecisionLogOptions {
  readonly log: Logger;
  /** `emf`: write one metrics line per decision with `write`; `off`: none. */
  readonly metrics: 'emf' | 'off';
  readonly namespace: string;
  /** Where metric lines go (stdout in Lambda, where CloudWatch Logs reads them). */
  readonly write?: (line: string) => void;
  /** Wall clock for the EMF timestamp; injected by tests. */
  readonly nowMs?: () => number;
}

/** A username as the logs show it: the first 12 hex digits of its SHA-256. */
export const userTag = (username: string): string => createHash('sha256').update(username, 'utf8').digest('hex').slice(0, 12);

/** Which rule or row decided, as one short text. */
function ruleOf(trace: Trace): string | undefined {
  const step = trace.steps.find((s) => s.source === trace.source && s.result !== 'ignore');
  if (step === undefined) return undefined;
  if (step.rule !== undefined) return step.rule;
  return step.row === undefined ? undefined : `row ${step.row}`;
}

export function decisionLog(opts: DecisionLogOptions): (trace: Trace, client: ClientInfo, req?: AclRequest) => void {
  const write = opts.write ?? ((line: string) => void stdout.write(line));
  const now = opts.nowMs ?? Date.now;
  return (trace, client, req) => {
    const rule = ruleOf(trace);
    const algorithm = trace.steps.find((s) => s.source === trace.source)?.algorithm;
    opts.log.info(
      {
        kind: trace.kind,
        ...(client.clientid === undefined ? {} : { clientid: client.clientid }),
        ...(client.username === undefined ? {} : { user: userTag(client.username) }),
        ...(req === undefined ? {} : { action: req.action, topic: req.topic }),
        decision: trace.decision,
        source: trace.source ?? 'none',
        ...(rule === undefined ? {} : { rule }),
        ...(algorithm === undefined ? {} : { algorithm }),
        reason: trace.reason,
        ms: trace.ms,
        steps: trace.steps.map((s) => ({ source: s.source, result: s.result, ms: s.ms, ...(s.failure ? { failure: true } : {}) })),
      },
      'decision',
    );
    if (opts.metrics === 'off') return;
    const emf = {
      _aws: {
        Timestamp: now(),
        CloudWatchMetrics: [
          {
            Namespace: opts.namespace,
            Dimensions: [['Kind', 'Decision']],
            Metrics: [
              { Name: 'Decisions', Unit: 'Count' },
              { Name: 'Latency', Unit: 'Milliseconds' },
            ],
          },
        ],
      },
      Kind: trace.kind,
      Decision: trace.decision,
      Source: trace.source ?? 'none',
      Decisions: 1,
      Latency: trace.ms,
    };
    write(`${JSON.stringify(emf)}\n`);
  };
}
