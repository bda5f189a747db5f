import type { Trace } from '../sources/chain.js';
import type { ApiEvent } from './event.js';
import type { HttpResult } from './middleware.js';

/** The request header that asks for a decision's trace, and the response header that carries it. */
export const EXPLAIN_HEADER = 'x-auth-explain';

/** Did the caller ask for the trace (`x-auth-explain: 1`, header names in any case)? */
export function wantsExplain(event: ApiEvent): boolean {
  for (const [name, value] of Object.entries(event.headers ?? {})) if (name.toLowerCase() === EXPLAIN_HEADER && value?.trim() === '1') return true;
  return false;
}

/** Compact JSON, ASCII only so it is a valid header value whatever a reason quotes. */
export function explainValue(traces: readonly Trace[]): string {
  return JSON.stringify(traces).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Adds the decision's trace to a response when EXPLAIN=on and the request asked for it. The trace
 * names sources, rows, algorithms and timings; it never carries a password, hash or token.
 */
export function explained(enabled: boolean, event: ApiEvent, res: HttpResult, traces: readonly Trace[] | undefined): HttpResult {
  if (!enabled || traces === undefined || !wantsExplain(event)) return res;
  return { ...res, headers: { ...res.headers, [EXPLAIN_HEADER]: explainValue(traces) } };
}
