import { hashPassword, storedHashProblem, type HashConfig } from '../hash.js';
import { parseRow } from '../rules.js';

/**
 * The records of the built-in store and how input (a CSV line, a JSON object, command-line options)
 * becomes one: every check happens here, before anything is written, and a failure is a reason
 * an operator can act on. Reasons never quote a password, hash or salt.
 */

export interface BuiltinUser {
  readonly userId: string;
  readonly passwordHash: string;
  readonly salt: string;
  readonly isSuperuser: boolean;
}

export type WhoType = 'clientid' | 'username' | 'all';

/** One ACL rule as stored: qos '0,1,2' and retain 'all' mean no condition. */
export interface BuiltinRule {
  readonly whoType: WhoType;
  /** The client id or username; '' for rules that apply to all. */
  readonly who: string;
  readonly permission: 'allow' | 'deny';
  readonly action: 'publish' | 'subscribe' | 'all';
  readonly topic: string;
  readonly qos: string;
  readonly retain: 'true' | 'false' | 'all';
}

export type Checked<T> = { readonly ok: T } | { readonly invalid: string };

/** The column names of EMQX's built-in user import, plus this project's `password` and `algorithm`. */
export const USER_FIELDS = ['user_id', 'password_hash', 'salt', 'is_superuser', 'password', 'algorithm'] as const;
/** The columns of the rule import and export (EMQX's rule fields, with the owner as a column). */
export const RULE_FIELDS = ['clientid', 'username', 'permission', 'action', 'topic', 'qos', 'retain'] as const;

const ALGORITHMS = ['plain', 'md5', 'sha', 'sha256', 'sha512', 'bcrypt', 'pbkdf2'];
const MAX_ID = 255;
const MAX_HASH = 1024;

/** A field as text: strings as they are, numbers and booleans spelt out, absent or null as undefined. */
function textOf(value: unknown): string | undefined | { wrong: string } {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return { wrong: Array.isArray(value) ? 'a list' : 'an object' };
}

function identifier(name: string, value: unknown): Checked<string> {
  const t = textOf(value);
  if (t === undefined || t === '') return { invalid: `${name} is empty` };
  if (typeof t !== 'string') return { invalid: `${name} must be text, got ${t.wrong}` };
  if (t.length > MAX_ID) return { invalid: `${name} is longer than ${MAX_ID} characters` };
  if (/[\u0000-\u001f\u007f]/.test(t)) return { invalid: `${name} contains a control character` };
  return { ok: t };
}

function flag(value: unknown): boolean | undefined {
  if (value === undefined || value === null || value === '' || value === false || value === 0) return false;
  if (value === true || value === 1) return true;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
  }
  return undefined;
}

/**
 * Checks one user record and produces its stored form. `password` (plain text) is hashed with
 * PASSWORD_HASH (with the record's salt if it gives one); `password_hash` must already have the
 * form of that algorithm. An `algorithm` column, when present, must name the configured one.
 */
export async function checkUser(fields: Readonly<Record<string, unknown>>, hash: HashConfig): Promise<Checked<BuiltinUser>> {
  const id = identifier('user_id', fields['user_id']);
  if ('invalid' in id) return id;
  const algorithm = textOf(fields['algorithm']);
  if (typeof algorithm === 'object') return { invalid: `algorithm must be text, got ${algorithm.wrong}` };
  if (algorithm !== undefined && algorithm !== '') {
    if (!ALGORITHMS.includes(algorithm)) return { invalid: `unknown algorithm ${JSON.stringify(algorithm.slice(0, 20))}; expected one of ${ALGORITHMS.join(', ')}` };
    if (algorithm !== hash.name) return { invalid: `algorithm ${algorithm} is not the configured PASSWORD_HASH (${hash.name})` };
  }
  const isSuperuser = flag(fields['is_superuser']);
  if (isSuperuser === undefined) return { invalid: 'is_superuser must be true, false, 1, 0 or empty' };
  const saltText = textOf(fields['salt']);
  if (typeof saltText === 'object') return { invalid: `salt must be text, got ${saltText.wrong}` };
  const salt = saltText ?? '';
  if (salt.length > MAX_ID) return { invalid: `salt is longer than ${MAX_ID} characters` };
  const password = textOf(fields['password']);
  const stored = textOf(fields['password_hash']);
  if (typeof password === 'object') return { invalid: `password must be text, got ${password.wrong}` };
  if (typeof stored === 'object') return { invalid: `password_hash must be text, got ${stored.wrong}` };
  const hasPassword = password !== undefined && password !== '';
  const hasHash = stored !== undefined && stored !== '';
  if (hasPassword && hasHash) return { invalid: 'give password or password_hash, not both' };
  if (hasPassword) {
    const made = await hashPassword(hash, password, salt === '' ? undefined : salt);
    return { ok: { userId: id.ok, passwordHash: made.hash, salt: made.salt, isSuperuser } };
  }
  if (!hasHash) return { invalid: 'password_hash (or password) is empty' };
  if (stored.length > MAX_HASH) return { invalid: `password_hash is longer than ${MAX_HASH} characters` };
  const problem = storedHashProblem(hash, stored);
  if (problem !== undefined) return { invalid: `password_hash is ${problem} (PASSWORD_HASH is ${hash.name})` };
  // bcrypt carries its salt inside the hash; a salt column is not used.
  return { ok: { userId: id.ok, passwordHash: stored, salt: hash.name === 'bcrypt' ? '' : salt, isSuperuser } };
}

const ACTIONS: Record<string, BuiltinRule['action']> = { publish: 'publish', pub: 'publish', subscribe: 'subscribe', sub: 'subscribe', all: 'all' };

function qosOf(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return '0,1,2';
  const items: unknown[] = Array.isArray(value) ? value : typeof value === 'number' ? [value] : typeof value === 'string' ? value.split(',').map((s) => s.trim()) : [];
  if (items.length === 0) return undefined;
  const set = new Set<number>();
  for (const item of items) {
    const n = typeof item === 'number' ? item : typeof item === 'string' && /^[0-2]$/.test(item) ? Number(item) : NaN;
    if (n !== 0 && n !== 1 && n !== 2) return undefined;
    set.add(n);
  }
  return [...set].sort().join(',');
}

function retainOf(value: unknown): BuiltinRule['retain'] | undefined {
  if (value === undefined || value === null || value === '' || value === 'all') return 'all';
  if (value === true || value === 1 || value === 'true' || value === '1') return 'true';
  if (value === false || value === 0 || value === 'false' || value === '0') return 'false';
  return undefined;
}

/**
 * Checks one rule record: whose rule it is (`clientid`, `username`, or neither for all clients),
 * permission, action (publish, subscribe, all; pub and sub accepted), a topic the evaluator
 * accepts (a filter, `eq <topic>`, placeholders), qos (a list of 0–2; empty for any) and retain
 * (true, false, all; empty for any).
 */
export function checkRule(fields: Readonly<Record<string, unknown>>): Checked<BuiltinRule> {
  const clientid = textOf(fields['clientid']);
  const username = textOf(fields['username']);
  const hasClient = clientid !== undefined && clientid !== '';
  const hasUser = username !== undefined && username !== '';
  if (hasClient && hasUser) return { invalid: 'give clientid or username (or neither, for all clients), not both' };
  let whoType: WhoType = 'all';
  let who = '';
  if (hasClient || hasUser) {
    const id = identifier(hasClient ? 'clientid' : 'username', hasClient ? clientid : username);
    if ('invalid' in id) return id;
    whoType = hasClient ? 'clientid' : 'username';
    who = id.ok;
  }
  const permission = textOf(fields['permission']);
  if (permission !== 'allow' && permission !== 'deny') return { invalid: 'permission must be allow or deny' };
  const actionText = textOf(fields['action']);
  const action = typeof actionText === 'string' ? ACTIONS[actionText] : undefined;
  if (action === undefined) return { invalid: 'action must be publish, subscribe or all' };
  const topic = textOf(fields['topic']);
  if (typeof topic !== 'string' || topic === '') return { invalid: 'topic is empty' };
  if (topic.length > MAX_ID) return { invalid: `topic is longer than ${MAX_ID} characters` };
  const qos = qosOf(fields['qos']);
  if (qos === undefined) return { invalid: 'qos must be 0, 1, 2 or a list of them (empty for any)' };
  const retain = retainOf(fields['retain']);
  if (retain === undefined) return { invalid: 'retain must be true, false or all (empty for any)' };
  // The evaluator's own reading decides whether the topic is usable.
  const parsed = parseRow({ permission, action, topic, qos: null, retain: null });
  if ('invalid' in parsed) return { invalid: parsed.invalid };
  return { ok: { whoType, who, permission, action, topic, qos, retain } };
}

/** A rule in the export/import record shape (EMQX's rule fields, owner as a field). */
export function ruleRecord(rule: BuiltinRule): Record<string, string> {
  return {
    clientid: rule.whoType === 'clientid' ? rule.who : '',
    username: rule.whoType === 'username' ? rule.who : '',
    permission: rule.permission,
    action: rule.action,
    topic: rule.topic,
    qos: rule.qos,
    retain: rule.retain,
  };
}
