/**
 * The one topic matcher: MQTT names and filters as EMQX 5.8.2+ matches them in authorization,
 * plus the stricter subscription rules of this project (allow needs coverage, deny needs overlap).
 */

export type Levels = readonly string[];

export const split = (topic: string): Levels => topic.split('/');

const isWild = (level: string | undefined): boolean => level === '+' || level === '#';
const isDollar = (level: string | undefined): boolean => level !== undefined && level.startsWith('$');

/** A valid topic name (what a PUBLISH targets): non-empty, no wildcards, no NUL. */
export function isValidName(topic: string): boolean {
  return topic.length > 0 && !/[+#\u0000]/.test(topic);
}

/** A valid filter: non-empty, no NUL, `+` and `#` occupy whole levels, `#` only last. */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = split(filter);
  return levels.every((level, i) => {
    if (level === '#') return i === levels.length - 1;
    return level === '+' || !/[+#]/.test(level);
  });
}

/**
 * Strips `$share/<group>/` and `$queue/` from a subscription. Returns undefined for a malformed
 * shared subscription (empty or wildcard group, nothing after the group, another share inside).
 */
export function stripShare(filter: string): string | undefined {
  let inner: string;
  if (filter.startsWith('$queue/')) inner = filter.slice('$queue/'.length);
  else if (!filter.startsWith('$share/')) return filter;
  else {
    const rest = filter.slice('$share/'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return undefined;
    const group = rest.slice(0, slash);
    if (/[+#]/.test(group)) return undefined;
    inner = rest.slice(slash + 1);
  }
  // A share inside a share is malformed, as EMQX parses it; left as it is, it would be judged as a
  // `$` filter, which no `#` deny rule reaches.
  if (inner === '' || inner.startsWith('$share/') || inner.startsWith('$queue/')) return undefined;
  return inner;
}

/** Does topic name `topic` match `filter`? A leading wildcard never matches a `$` topic. */
export function matches(topic: string, filter: string): boolean {
  return matchLevels(split(topic), split(filter));
}

function matchLevels(t: Levels, f: Levels): boolean {
  if (isWild(f[0]) && isDollar(t[0])) return false;
  for (let i = 0; i < f.length; i += 1) {
    const fl = f[i]!;
    if (fl === '#') return true;
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return t.length === f.length;
}

/**
 * Is every topic that `requested` can match also matched by `rule`? (`rule` `t/+` covers `t/+`
 * and `t/1` but not `t/#`; `x/#` covers `x`.) Both must be valid filters.
 */
export function covers(rule: string, requested: string): boolean {
  const r = split(rule);
  const q = split(requested);
  // A rule starting with a wildcard reaches no `$` topic; a request that is pinned to one is not covered.
  if (isWild(r[0]) && isDollar(q[0])) return false;
  for (let i = 0; i < q.length; i += 1) {
    const rl = r[i];
    const ql = q[i]!;
    if (rl === '#') return true;
    if (rl === undefined) return false;
    if (ql === '#') return false;
    if (ql === '+') {
      if (rl !== '+') return false;
      continue;
    }
    if (rl !== '+' && rl !== ql) return false;
  }
  return r.length === q.length || (r.length === q.length + 1 && r[q.length] === '#');
}

/** Can some topic name match both filters? */
export function overlaps(a: string, b: string): boolean {
  const x = split(a);
  const y = split(b);
  if ((isWild(x[0]) && isDollar(y[0]) && !isWild(y[0])) || (isWild(y[0]) && isDollar(x[0]) && !isWild(x[0]))) return false;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i += 1) {
    const xl = x[i];
    const yl = y[i];
    if (xl === '#' || yl === '#') return true;
    if (xl === undefined || yl === undefined) return false;
    if (xl === '+' || yl === '+') continue;
    if (xl !== yl) return false;
  }
  return true;
}
