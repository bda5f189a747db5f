/**
 * The doctor's findings: one line per check, in plain words, with a hint when something is wrong.
 * A check that could not run because an earlier one failed is `skip`, with the reason.
 */

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

/** The checks, in the order they run (the order a connection is made). */
export const CHECK_NAMES = [
  'settings',
  'secret',
  'dns',
  'tcp',
  'tls',
  'login',
  'database',
  'authn-query',
  'authz-query',
  'authn-index',
  'authz-index',
  'pinning',
  'latency',
] as const;

export type CheckName = (typeof CHECK_NAMES)[number];

export interface Finding {
  readonly check: CheckName;
  readonly status: Status;
  /** What was found, in plain words. */
  readonly message: string;
  /** What to do about it (warn and fail only). */
  readonly hint?: string;
  /** Measured values worth a machine's attention (latencies, columns, plan nodes). */
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface Report {
  /** Which database the settings name, never a credential. */
  readonly target: string;
  readonly findings: readonly Finding[];
}

/** 0 when nothing failed (warnings alone included), 1 when any check failed. */
export function exitCode(report: Report): number {
  return report.findings.some((f) => f.status === 'fail') ? 1 : 0;
}

const LABEL: Record<Status, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };

/** The report as an operator reads it: one line per check, hints indented beneath. */
export function formatReport(report: Report): string {
  const width = Math.max(...report.findings.map((f) => f.check.length));
  const lines = [`mqtt-auth doctor: ${report.target}`];
  for (const f of report.findings) {
    lines.push(`${LABEL[f.status]}  ${f.check.padEnd(width)}  ${f.message}`);
    if (f.hint !== undefined) lines.push(`${' '.repeat(width + 8)}fix: ${f.hint}`);
  }
  const count = (s: Status): number => report.findings.filter((f) => f.status === s).length;
  lines.push(`${count('fail')} failed, ${count('warn')} warned, ${count('ok')} ok, ${count('skip')} skipped`);
  return `${lines.join('\n')}\n`;
}

/** The report for machines: `{ target, ok, findings: [...] }`. */
export function reportJson(report: Report): string {
  return `${JSON.stringify({ target: report.target, ok: exitCode(report) === 0, findings: report.findings }, null, 2)}\n`;
}
