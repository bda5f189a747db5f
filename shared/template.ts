import { ConfigError } from './errors.js';
import type { AuthnRequest } from './types.js';

/**
 * The one template renderer. A template is compiled once at start-up; client values only ever
 * become bound parameters (SQL) or literal level text (ACL rule topics), never template text.
 */

export type TemplateContext = 'authn' | 'authz' | 'topic';
export type Dialect = 'postgres' | 'mysql';

const COMMON = ['username', 'clientid', 'peerhost', 'cert_common_name', 'cert_subject', 'zone'] as const;
const ALLOWED: Record<TemplateContext, ReadonlySet<string>> = {
  authn: new Set([...COMMON, 'password', 'cert_pem']),
  authz: new Set(COMMON),
  topic: new Set(['username', 'clientid', 'cert_common_name', 'zone']),
};
const NAME = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;
const ATTR_PREFIX = 'client_attrs.';

/** Is `${name}` a placeholder this context fills with client data? */
function isAllowed(context: TemplateContext, name: string): boolean {
  return NAME.test(name) && (ALLOWED[context].has(name) || name.startsWith(ATTR_PREFIX));
}

/** The placeholders a context accepts, for error messages and the README. */
export function allowedPlaceholders(context: TemplateContext): string[] {
  return [...ALLOWED[context], 'client_attrs.NAME'].map((n) => `\${${n}}`);
}

/** A placeholder at `start` (which must point at `${`), or a description of why it is malformed. */
type Scanned = { kind: 'dollar'; end: number } | { kind: 'name'; name: string; end: number };

function scanPlaceholder(text: string, start: number, setting: string, context: TemplateContext): Scanned {
  const close = text.indexOf('}', start + 2);
  if (close < 0) throw new ConfigError(setting, `unterminated placeholder at character ${start + 1}: "${text.slice(start, start + 20)}"`);
  const name = text.slice(start + 2, close);
  if (name === '$') return { kind: 'dollar', end: close + 1 };
  if (!NAME.test(name)) throw new ConfigError(setting, `malformed placeholder \${${name}} at character ${start + 1}`);
  if (!isAllowed(context, name)) {
    throw new ConfigError(setting, `placeholder \${${name}} is not allowed here; allowed: ${allowedPlaceholders(context).join(', ')}, \${$}`);
  }
  return { kind: 'name', name, end: close + 1 };
}

/**
 * The value a placeholder takes for a client; undefined when unset. (An ACL request is an
 * AuthnRequest without credentials, so both kinds are accepted.)
 */
export function placeholderValue(client: AuthnRequest, name: string): string | undefined {
  if (name.startsWith(ATTR_PREFIX)) return nonEmpty(client.client_attrs[name.slice(ATTR_PREFIX.length)]);
  switch (name) {
    case 'username':
    case 'clientid':
    case 'peerhost':
    case 'cert_common_name':
    case 'cert_subject':
    case 'zone':
    case 'password':
    case 'cert_pem':
      return nonEmpty(client[name]);
    default:
      return undefined;
  }
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

// ---------------------------------------------------------------------------------------------
// SQL

/** EMQX 4's SQL placeholders, quotes included (emqx_auth_mysql_cli parse_query), and the value each takes. */
const LEGACY_SQL: Readonly<Record<string, string>> = {
  "'%u'": 'username',
  "'%c'": 'clientid',
  "'%a'": 'peerhost',
  "'%C'": 'cert_common_name',
  "'%d'": 'cert_subject',
};

/**
 * How bound values are marked in the statement text: the driver's own (`$n` for PostgreSQL, `?` for
 * MySQL) or named (`:p1`, `:p2`…, for the RDS Data API).
 */
export type MarkerStyle = 'native' | 'named';

/** A compiled SQL template: the statement text for one driver, and which value each marker takes. */
export interface SqlTemplate {
  readonly text: string;
  readonly params: readonly string[];
  /** True when a secret (`${password}`, `${cert_pem}`) is bound: the server's error text may quote it. */
  readonly bindsSecret: boolean;
  /** The bound values for one client, in marker order; an unset value binds as ''. */
  bind(client: AuthnRequest): string[];
}

/**
 * Compiles an operator's SQL template. `${x}`, `"${x}"` and `'${x}'` all become one bound
 * parameter per occurrence (`$n` for PostgreSQL, `?` for MySQL), and so do EMQX 4's quoted
 * `'%u'`, `'%c'`, `'%a'`, `'%C'`, `'%d'` (an unquoted `%u` stays text, as in EMQX 4); `${$}` is a
 * literal `$`.
 * Rejected, naming the problem: placeholders outside the context's list, malformed placeholder
 * syntax, a placeholder inside a longer quoted string (it could not be bound), and driver markers
 * (`?`, `$1`) written by hand. SQL syntax itself is left to the database.
 */
export function compileSql(template: string, opts: { dialect: Dialect; context: 'authn' | 'authz'; setting: string; markers?: MarkerStyle }): SqlTemplate {
  const { dialect, context, setting } = opts;
  const named = opts.markers === 'named';
  if (template.trim() === '') throw new ConfigError(setting, 'the query is empty');
  const params: string[] = [];
  let out = '';
  let i = 0;
  const marker = (): string => (named ? `:p${params.length}` : dialect === 'postgres' ? `$${params.length}` : '?');
  const n = template.length;

  while (i < n) {
    const c = template[i]!;
    const next = template[i + 1];
    if (c === '$' && next === '{') {
      const p = scanPlaceholder(template, i, setting, context);
      if (p.kind === 'dollar') {
        const after = template[p.end];
        if (dialect === 'postgres' && after !== undefined && after >= '0' && after <= '9') {
          throw new ConfigError(setting, `"\${$}${after}" at character ${i + 1} would be read as a positional parameter; use placeholders such as \${username}`);
        }
        out += '$';
      } else {
        params.push(p.name);
        out += marker();
      }
      i = p.end;
      continue;
    }
    // EMQX 4's '%u', '%c', '%a', '%C', '%d' (the quotes are part of the placeholder) are parameters too.
    const legacy = c === "'" && template[i + 4] !== "'" ? LEGACY_SQL[template.slice(i, i + 4)] : undefined;
    if (legacy !== undefined && isAllowed(context, legacy)) {
      params.push(legacy);
      out += marker();
      i += 4;
      continue;
    }
    // The quoted-placeholder forms '${x}' and "${x}" are parameters too.
    if ((c === "'" || c === '"') && template.startsWith('${', i + 1)) {
      const p = scanPlaceholder(template, i + 1, setting, context);
      if (p.kind === 'name' && template[p.end] === c) {
        params.push(p.name);
        out += marker();
        i = p.end + 1;
        continue;
      }
    }
    const section = sectionAt(template, i, dialect);
    if (section !== undefined) {
      if (section.end < 0) throw new ConfigError(setting, `unterminated ${section.opener} at character ${i + 1}`);
      const body = template.slice(i, section.end);
      out += section.kind === 'quote' ? quotedBody(body, setting, context) : body;
      i = section.end;
      continue;
    }
    if (named && c === ':' && next !== undefined && /[A-Za-z_]/.test(next) && template[i - 1] !== ':') {
      throw new ConfigError(setting, `":${next}" at character ${i + 1} would be read as a named parameter; use placeholders such as \${username}`);
    }
    if (dialect === 'mysql' && c === '?') {
      throw new ConfigError(setting, `a bare "?" at character ${i + 1} would be read as a bind marker; use placeholders such as \${username}`);
    }
    if (dialect === 'postgres' && c === '$' && next !== undefined && next >= '0' && next <= '9') {
      throw new ConfigError(setting, `"$${next}" at character ${i + 1} is a positional parameter; use placeholders such as \${username}`);
    }
    out += c;
    i += 1;
  }

  const names = Object.freeze([...params]);
  return Object.freeze({
    text: out,
    params: names,
    bindsSecret: names.some((n) => n === 'password' || n === 'cert_pem'),
    bind: (client: AuthnRequest) => names.map((name) => placeholderValue(client, name) ?? ''),
  });
}

/**
 * A quoted string or comment starting at `i`: its kind, what opened it, and the index just past its
 * end (-1 when unterminated); undefined when none starts there. Markers never sit inside one.
 */
function sectionAt(text: string, i: number, dialect: Dialect): { kind: 'quote' | 'comment'; opener: string; end: number } | undefined {
  const c = text[i];
  const next = text[i + 1];
  if (c === "'" || c === '"' || (c === '`' && dialect === 'mysql')) return { kind: 'quote', opener: `${c} quote`, end: quotedEnd(text, i, c, dialect) };
  if (dialect === 'postgres' && c === '$') {
    // PostgreSQL dollar-quoted string: $$…$$ or $tag$…$tag$.
    const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))?.[0];
    if (tag !== undefined) {
      const close = text.indexOf(tag, i + tag.length);
      return { kind: 'quote', opener: `${tag} quote`, end: close < 0 ? -1 : close + tag.length };
    }
  }
  // MySQL reads `--` as a comment only when whitespace follows it.
  const third = text[i + 2];
  const dashComment = c === '-' && next === '-' && (dialect === 'postgres' || third === undefined || /\s/.test(third));
  if (dashComment || (c === '#' && dialect === 'mysql')) {
    const end = text.indexOf('\n', i);
    return { kind: 'comment', opener: 'comment', end: end < 0 ? text.length : end };
  }
  if (c === '/' && next === '*') {
    const end = text.indexOf('*/', i + 2);
    return { kind: 'comment', opener: 'comment', end: end < 0 ? -1 : end + 2 };
  }
  return undefined;
}

/** One bind marker in a compiled statement: where it is and which value (0-based) it takes. */
export interface Marker {
  readonly start: number;
  readonly end: number;
  readonly index: number;
}

/**
 * The bind markers of a statement compiled by {@link compileSql}, found with the same reading of
 * quotes and comments (a `?` or `:p1` inside a string literal is text). For drivers that bind on
 * the client (mysql2 `query`) and for the Data API test endpoint.
 */
export function findMarkers(text: string, dialect: Dialect, style: MarkerStyle): Marker[] {
  const found: Marker[] = [];
  let i = 0;
  while (i < text.length) {
    const section = sectionAt(text, i, dialect);
    if (section !== undefined) {
      i = section.end < 0 ? text.length : section.end;
      continue;
    }
    const c = text[i];
    if (style === 'named' && c === ':' && text[i - 1] !== ':') {
      const m = /^:p(\d+)/.exec(text.slice(i, i + 12));
      if (m) {
        found.push({ start: i, end: i + m[0].length, index: Number(m[1]) - 1 });
        i += m[0].length;
        continue;
      }
    }
    if (style === 'native' && dialect === 'mysql' && c === '?') found.push({ start: i, end: i + 1, index: found.length });
    if (style === 'native' && dialect === 'postgres' && c === '$') {
      const m = /^\$(\d+)/.exec(text.slice(i, i + 12));
      if (m) {
        found.push({ start: i, end: i + m[0].length, index: Number(m[1]) - 1 });
        i += m[0].length;
        continue;
      }
    }
    i += 1;
  }
  return found;
}

/** Index just past the closing quote of the quoted section opening at `start`, or -1. */
function quotedEnd(text: string, start: number, quote: string, dialect: Dialect): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && dialect === 'mysql' && quote !== '`') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  return -1;
}

/** Inside a quoted section only `${$}` is rendered; a real placeholder there cannot be bound. */
function quotedBody(section: string, setting: string, context: 'authn' | 'authz'): string {
  let out = '';
  let i = 0;
  while (i < section.length) {
    if (section.startsWith('${', i)) {
      const p = scanPlaceholder(section, i, setting, context);
      if (p.kind === 'name') {
        throw new ConfigError(setting, `placeholder \${${p.name}} sits inside a quoted string and cannot be bound; write it unquoted (or as '\${${p.name}}' alone)`);
      }
      out += '$';
      i = p.end;
      continue;
    }
    out += section[i];
    i += 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ACL rule topics

type TopicPart = { literal: string } | { name: string };

/**
 * How an ACL rule topic takes a client's values.
 * - `strict` (allow rules): an unset value, or one containing `+`, `#` or `/`, makes the rule
 *   inapplicable (undefined): a client can never widen what it is allowed.
 * - `literal` (deny rules): values are substituted as they are, an unset one as ''; a deny can only
 *   grow, never be dodged by choosing an odd client id.
 * - `probe`: every placeholder as `x`, to check the rule's own syntax.
 */
export type TopicMode = 'strict' | 'literal' | 'probe';

/**
 * Renders the placeholders of an ACL rule topic for one client; undefined when a `strict` rule
 * cannot apply or the topic has malformed placeholder syntax. Both spellings are placeholders:
 * `${username}` anywhere, and EMQX 4's `%u` / `%c` as a whole level. Placeholders outside the
 * rule-topic list stay literal text, as in EMQX.
 */
export function renderTopic(topic: string, client: AuthnRequest, mode: TopicMode = 'strict'): string | undefined {
  const parts = parseTopic(topic);
  if (parts === undefined) return undefined;
  let out = '';
  for (const part of parts) {
    if ('literal' in part) {
      out += part.literal;
      continue;
    }
    if (mode === 'probe') {
      out += 'x';
      continue;
    }
    const value = placeholderValue(client, part.name);
    if (mode === 'literal') out += value ?? '';
    else if (value === undefined || /[+#/\u0000]/.test(value)) return undefined;
    // A value may not turn the first level into a `$` topic ('${clientid}/#' with client id '$SYS').
    else if (out === '' && value.startsWith('$')) return undefined;
    else out += value;
  }
  return out;
}

const topicCache = new Map<string, TopicPart[] | undefined>();

/** EMQX 4's rule-topic placeholders: only a whole level `%u` or `%c` (`t/%c-x` stays text). */
const LEGACY_LEVEL: Readonly<Record<string, string>> = { '%u': 'username', '%c': 'clientid' };

function parseTopic(topic: string): TopicPart[] | undefined {
  if (topicCache.has(topic)) return topicCache.get(topic);
  let parts: TopicPart[] | undefined = [];
  let i = 0;
  let literal = '';
  while (i < topic.length) {
    const legacy = topic[i] === '%' && (i === 0 || topic[i - 1] === '/') && (i + 2 === topic.length || topic[i + 2] === '/') ? LEGACY_LEVEL[topic.slice(i, i + 2)] : undefined;
    if (legacy !== undefined) {
      if (literal) parts.push({ literal });
      literal = '';
      parts.push({ name: legacy });
      i += 2;
      continue;
    }
    if (topic.startsWith('${', i)) {
      const close = topic.indexOf('}', i + 2);
      if (close < 0) {
        parts = undefined;
        break;
      }
      const name = topic.slice(i + 2, close);
      if (name === '$') literal += '$';
      else if (isAllowed('topic', name)) {
        if (literal) parts.push({ literal });
        literal = '';
        parts.push({ name });
      } else literal += topic.slice(i, close + 1);
      i = close + 1;
      continue;
    }
    literal += topic[i];
    i += 1;
  }
  if (parts && literal) parts.push({ literal });
  if (topicCache.size > 10_000) topicCache.clear();
  topicCache.set(topic, parts);
  return parts;
}
