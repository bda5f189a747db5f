import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import * as v from 'valibot';
import * as schema from './schema.js';
import { ConfigError } from './errors.js';

/**
 * The one password hasher. `PASSWORD_HASH` is EMQX 5's `password_hash_algorithm` object, an EMQX
 * 4.x option string (`salt,sha256`, `pbkdf2,sha256,1000,20`, …) or `{"name":"auto"}`, which reads
 * the format from each stored string (bcrypt, go-auth and Django PBKDF2, PHC Argon2, mosquitto_passwd). Every form
 * parses into one `HashConfig`, verified in constant time.
 */

/** @internal shared with `hash-foreign.ts` */
export const pbkdf2Async = promisify(pbkdf2);

/** bcryptjs, loaded on first use: only bcrypt (and auto) configurations and stored strings need it. */
const loadBcrypt = async () => (await import('bcryptjs')).default;

const SIMPLE = ['plain', 'md5', 'sha', 'sha256', 'sha512'] as const;
/** The PBKDF2 MACs EMQX 5 can run. */
const MAC_FUNS = ['sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
/** EMQX 4.x also accepts md5 and ripemd160 (md4 is absent from Node's OpenSSL 3). */
const LEGACY_MAC_FUNS = [...MAC_FUNS, 'md5', 'ripemd160'] as const;
type Simple = (typeof SIMPLE)[number];
type MacFun = (typeof LEGACY_MAC_FUNS)[number];
type SaltPosition = 'disable' | 'prefix' | 'suffix';

/** EMQX 5's algorithm objects, one schema per `name`, each built only when a configuration names it. */
const HASH_BRANCHES = {
  simple: () => schema.strictObject({ name: schema.picklist(SIMPLE), salt_position: v.optional(schema.picklist(['disable', 'prefix', 'suffix']), 'prefix') }),
  bcrypt: () => schema.strictObject({ name: schema.literal('bcrypt'), salt_rounds: v.optional(v.pipe(schema.number(), schema.integer(), schema.gte(4), schema.lte(31)), 10) }),
  pbkdf2: () =>
    schema.strictObject({
      name: schema.literal('pbkdf2'),
      mac_fun: schema.string(),
      iterations: v.pipe(schema.number(), schema.integer(), schema.gt(0)),
      dk_length: v.optional(v.pipe(schema.number(), schema.integer(), schema.gt(0), schema.lte(2 ** 32 - 1))),
    }),
  auto: () => schema.strictObject({ name: schema.literal('auto'), salt_encoding: v.optional(schema.picklist(['base64', 'utf8', 'utf-8']), 'base64') }),
};

/** What an algorithm object parses into. */
type HashObject = { [K in keyof typeof HASH_BRANCHES]: v.InferOutput<ReturnType<(typeof HASH_BRANCHES)[K]>> }[keyof typeof HASH_BRANCHES];

/**
 * The schema for an algorithm object: the branch its `name` selects (the other branches are not
 * built at cold start); for a missing or unknown name, one that refuses it as the union of all
 * branches would.
 */
function hashSchemaFor(value: unknown): v.GenericSchema<unknown, HashObject> {
  const name: unknown = typeof value === 'object' && value !== null && !Array.isArray(value) ? Reflect.get(value, 'name') : undefined;
  if (name === 'bcrypt' || name === 'pbkdf2' || name === 'auto') return HASH_BRANCHES[name]();
  if (SIMPLE.some((simple) => simple === name)) return HASH_BRANCHES.simple();
  return schema.variant('name', [HASH_BRANCHES.simple(), HASH_BRANCHES.bcrypt(), HASH_BRANCHES.pbkdf2(), HASH_BRANCHES.auto()], [...SIMPLE, 'bcrypt', 'pbkdf2', 'auto']);
}

export type HashConfig =
  | { readonly name: Simple; readonly salt_position: SaltPosition }
  /** `salt_column`: EMQX 4.x `salt,bcrypt` — the salt column is the bcrypt salt the stored hash must be made with. */
  | { readonly name: 'bcrypt'; readonly salt_rounds: number; readonly salt_column?: true }
  | { readonly name: 'pbkdf2'; readonly mac_fun: MacFun; readonly iterations: number; readonly dk_length?: number }
  /** `salt_encoding` applies to go-auth `PBKDF2$…` strings only: how their salt field is read. */
  | { readonly name: 'auto'; readonly salt_encoding: 'base64' | 'utf8' };

/** Node's digest name and output length for each algorithm name. */
/** @internal shared with `hash-foreign.ts` */
export const DIGESTS: Record<Exclude<Simple, 'plain'> | MacFun | 'sha1', { node: string; bytes: number }> = {
  md5: { node: 'md5', bytes: 16 },
  sha: { node: 'sha1', bytes: 20 },
  sha1: { node: 'sha1', bytes: 20 },
  sha224: { node: 'sha224', bytes: 28 },
  sha256: { node: 'sha256', bytes: 32 },
  sha384: { node: 'sha384', bytes: 48 },
  sha512: { node: 'sha512', bytes: 64 },
  ripemd160: { node: 'ripemd160', bytes: 20 },
};

const FORMS_HINT =
  'expected EMQX 5\'s JSON object (e.g. {"name":"sha256","salt_position":"prefix"}), {"name":"auto"}, or an EMQX 4.x string: plain, md5, sha, sha256, sha512, salt,<hash>, <hash>,salt, pbkdf2,<mac>,<iterations>,<dklen>, bcrypt, salt,bcrypt';

/**
 * Parses `PASSWORD_HASH`: EMQX 5's algorithm object (as JSON text or an object), `{"name":"auto"}`,
 * or an EMQX 4.x option string. Throws a ConfigError naming `setting`.
 */
export function parseHashConfig(input: unknown, setting = 'PASSWORD_HASH'): HashConfig {
  let value = input;
  if (typeof input === 'string') {
    const text = input.trim();
    if (!text.startsWith('{')) return parseLegacy(text, setting);
    try {
      value = JSON.parse(text);
    } catch {
      throw new ConfigError(setting, `not valid JSON; ${FORMS_HINT}`);
    }
  }
  const parsed = v.safeParse(hashSchemaFor(value), value);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = schema.issuePath(issue);
    const where = path.length ? `${path.join('.')}: ` : '';
    throw new ConfigError(setting, `${where}${issue.message}`);
  }
  const cfg = parsed.output;
  if (cfg.name === 'auto') return Object.freeze({ name: 'auto', salt_encoding: cfg.salt_encoding === 'base64' ? 'base64' : 'utf8' });
  if (cfg.name !== 'pbkdf2') return Object.freeze(cfg);
  const mac = MAC_FUNS.find((m) => m === cfg.mac_fun);
  if (mac === undefined) {
    throw new ConfigError(setting, `mac_fun "${cfg.mac_fun}" is not supported for pbkdf2 (EMQX 5 cannot run it either); use one of ${MAC_FUNS.join(', ')}`);
  }
  return Object.freeze({ name: 'pbkdf2', mac_fun: mac, iterations: cfg.iterations, ...(cfg.dk_length === undefined ? {} : { dk_length: cfg.dk_length }) });
}

/**
 * EMQX 4.x `password_hash`: split on `,` (spaces around words trimmed, as the Cloud console prints
 * them); one word is an algorithm, two words a salted form, four words PBKDF2.
 */
function parseLegacy(text: string, setting: string): HashConfig {
  const words = text.split(',').map((w) => w.trim());
  const simple = (w: string | undefined): Simple | undefined => SIMPLE.find((s) => s === w);
  const [first, second] = words;
  if (words.length === 1) {
    if (first === 'bcrypt') return Object.freeze({ name: 'bcrypt', salt_rounds: 10 });
    const name = simple(first);
    if (name) return Object.freeze({ name, salt_position: 'disable' });
  }
  if (words.length === 2 && (first === 'salt' || second === 'salt')) {
    const other = first === 'salt' ? second : first;
    const salt_position = first === 'salt' ? 'prefix' : 'suffix';
    if (other === 'bcrypt') return Object.freeze({ name: 'bcrypt', salt_rounds: 10, salt_column: true });
    const name = simple(other);
    if (name) return Object.freeze({ name, salt_position });
  }
  if (words.length === 4 && first === 'pbkdf2') {
    const [, mac, iterations, dklen] = words;
    if (mac === 'md4') throw new ConfigError(setting, `"${text}": md4 is not available (OpenSSL 3 dropped it); rehash with sha256`);
    const mac_fun = LEGACY_MAC_FUNS.find((m) => m === mac);
    if (mac_fun === undefined) throw new ConfigError(setting, `"${text}": pbkdf2 mac "${mac}" is not one of ${LEGACY_MAC_FUNS.join(', ')}`);
    const count = positiveInt(iterations, 2 ** 31 - 1);
    const length = positiveInt(dklen, 2 ** 32 - 1);
    if (count === undefined) throw new ConfigError(setting, `"${text}": iterations must be a positive integer`);
    if (length === undefined) throw new ConfigError(setting, `"${text}": dklen (the key length in bytes) must be a positive integer`);
    return Object.freeze({ name: 'pbkdf2', mac_fun, iterations: count, dk_length: length });
  }
  throw new ConfigError(setting, `"${text}" is not a hash configuration; ${FORMS_HINT}`);
}

export type Verification = { readonly ok: boolean } | { readonly ok: false; readonly malformed: string };

const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;
const BCRYPT_SALT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{22}$/;
/**
 * Upper bound on a stored bcrypt cost: 16 takes ~7 s in bcryptjs and each step doubles it, so a
 * higher cost can never answer within EMQX's 5 s; checked before hashing, as one such row would
 * otherwise hold a core for hours (up to days at 31) per login attempt, long after the broker gave up.
 */
const MAX_BCRYPT_COST = 16;
const BCRYPT_TOO_COSTLY = `bcrypt cost above ${MAX_BCRYPT_COST}: one check would take longer than the broker waits`;
const bcryptCost = (s: string): number => Number(s.slice(4, 6));
const HEX = /^[0-9a-fA-F]*$/;

/**
 * Checks a password against a stored hash. `malformed` explains a stored value that cannot be a
 * hash of this algorithm (a deny, logged by the caller; it never quotes the value). Never throws
 * for bad stored data.
 */
export async function verifyPassword(cfg: HashConfig, password: string, stored: string, salt: string | null | undefined): Promise<Verification> {
  const saltText = salt ?? '';
  switch (cfg.name) {
    case 'plain':
      return { ok: safeEqual(Buffer.from(stored, 'utf8'), Buffer.from(salted(cfg.salt_position, password, saltText), 'utf8')) };
    case 'bcrypt':
      return cfg.salt_column ? verifyBcryptWithSalt(password, stored, saltText) : verifyBcrypt(password, stored);
    case 'pbkdf2': {
      const problem = storedHashProblem(cfg, stored);
      if (problem) return { ok: false, malformed: `stored value is ${problem}` };
      const keylen = cfg.dk_length ?? DIGESTS[cfg.mac_fun].bytes;
      const key = await pbkdf2Async(Buffer.from(password, 'utf8'), Buffer.from(saltText, 'utf8'), cfg.iterations, keylen, DIGESTS[cfg.mac_fun].node);
      return { ok: safeEqual(key, Buffer.from(stored, 'hex')) };
    }
    case 'auto':
      return verifyAuto(cfg.salt_encoding, password, stored);
    default: {
      const problem = storedHashProblem(cfg, stored);
      if (problem) return { ok: false, malformed: `stored value is ${problem}` };
      const digest = createHash(DIGESTS[cfg.name].node).update(salted(cfg.salt_position, password, saltText), 'utf8').digest();
      return { ok: safeEqual(digest, Buffer.from(stored, 'hex')) };
    }
  }
}

async function verifyBcrypt(password: string, stored: string): Promise<Verification> {
  if (!BCRYPT.test(stored)) return { ok: false, malformed: 'stored value is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)' };
  if (bcryptCost(stored) > MAX_BCRYPT_COST) return { ok: false, malformed: BCRYPT_TOO_COSTLY };
  const bcrypt = await loadBcrypt();
  try {
    return { ok: await bcrypt.compare(password, stored) };
  } catch {
    return { ok: false, malformed: 'bcrypt could not read the stored hash' };
  }
}

/** EMQX 4.x `salt,bcrypt`: bcrypt of the password made with the salt column must equal the stored hash. */
async function verifyBcryptWithSalt(password: string, stored: string, salt: string): Promise<Verification> {
  if (!BCRYPT.test(stored)) return { ok: false, malformed: 'stored value is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)' };
  if (!BCRYPT_SALT.test(salt)) return { ok: false, malformed: 'salt,bcrypt needs a bcrypt salt in the salt column ($2b$<cost>$ and 22 characters)' };
  if (bcryptCost(salt) > MAX_BCRYPT_COST) return { ok: false, malformed: BCRYPT_TOO_COSTLY };
  const bcrypt = await loadBcrypt();
  try {
    return { ok: safeEqual(Buffer.from(await bcrypt.hash(password, salt), 'utf8'), Buffer.from(stored, 'utf8')) };
  } catch {
    return { ok: false, malformed: 'bcrypt could not use the salt column' };
  }
}

const AUTO_HINT =
  'not a format auto recognises: bcrypt ($2a$/$2b$/$2y$), go-auth PBKDF2$<digest>$<iterations>$<salt>$<key>, Django pbkdf2_sha256$/pbkdf2_sha1$ or argon2$, PHC $argon2id$/$argon2i$/$argon2d$, mosquitto_passwd $7$/$6$ (for hex digests set PASSWORD_HASH to their algorithm)';

type AutoVerifier = (saltEncoding: 'base64' | 'utf8', password: string, stored: string) => Promise<Verification>;

/** The foreign formats' verifiers, loaded on first use (a stage whose hash is not auto never needs them). */
const foreign = () => import('./hash-foreign.js');

/** The formats `{"name":"auto"}` recognises, by the stored string's prefix. */
const AUTO_FORMATS: ReadonlyArray<readonly [prefix: string, verify: AutoVerifier]> = [
  ['$2', (_, password, stored) => verifyBcrypt(password, stored)],
  ['PBKDF2$', async (encoding, password, stored) => (await foreign()).verifyGoAuth(encoding, password, stored)],
  ['pbkdf2_', async (_, password, stored) => (await foreign()).verifyDjango(password, stored)],
  ['$argon2', async (_, password, stored) => (await foreign()).verifyArgon2(password, stored)],
  ['$6$', async (_, password, stored) => (await foreign()).verifyMosquitto(password, stored)],
  ['$7$', async (_, password, stored) => (await foreign()).verifyMosquitto(password, stored)],
  // Django's Argon2PasswordHasher stores "argon2" followed by the PHC string.
  ['argon2$argon2', async (_, password, stored) => (await foreign()).verifyArgon2(password, stored.slice('argon2'.length))],
];

const autoFormatOf = (stored: string): AutoVerifier | undefined => AUTO_FORMATS.find(([prefix]) => stored.startsWith(prefix))?.[1];

/** `{"name":"auto"}`: the stored string names its own format; anything else is malformed, never an allow. */
async function verifyAuto(saltEncoding: 'base64' | 'utf8', password: string, stored: string): Promise<Verification> {
  const verify = autoFormatOf(stored);
  return verify === undefined ? { ok: false, malformed: AUTO_HINT } : verify(saltEncoding, password, stored);
}

/** @internal A decimal integer from 1 to `max` (no sign, no leading zero); shared with `hash-foreign.ts`. */
export function positiveInt(text: string | undefined, max: number): number | undefined {
  if (text === undefined || !/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/**
 * Produces the stored form of a password (for seeding and user management). Salted algorithms get
 * a random salt unless one is given; the salt to store is returned with the hash. `auto` makes
 * bcrypt hashes (cost 10), a format it recognises.
 */
export async function hashPassword(cfg: HashConfig, password: string, salt?: string): Promise<{ hash: string; salt: string }> {
  switch (cfg.name) {
    case 'bcrypt': {
      const bcrypt = await loadBcrypt();
      if (!cfg.salt_column) return { hash: await bcrypt.hash(password, cfg.salt_rounds), salt: '' };
      const s = salt ?? (await bcrypt.genSalt(cfg.salt_rounds));
      return { hash: await bcrypt.hash(password, s), salt: s };
    }
    case 'auto':
      return { hash: await (await loadBcrypt()).hash(password, 10), salt: '' };
    case 'pbkdf2': {
      const s = salt ?? randomBytes(12).toString('hex');
      const keylen = cfg.dk_length ?? DIGESTS[cfg.mac_fun].bytes;
      const key = await pbkdf2Async(Buffer.from(password, 'utf8'), Buffer.from(s, 'utf8'), cfg.iterations, keylen, DIGESTS[cfg.mac_fun].node);
      return { hash: key.toString('hex'), salt: s };
    }
    default: {
      const s = cfg.salt_position === 'disable' ? '' : (salt ?? randomBytes(12).toString('hex'));
      const text = salted(cfg.salt_position, password, s);
      return { hash: cfg.name === 'plain' ? text : createHash(DIGESTS[cfg.name].node).update(text, 'utf8').digest('hex'), salt: s };
    }
  }
}

function salted(position: SaltPosition, password: string, salt: string): string {
  if (position === 'prefix') return salt + password;
  if (position === 'suffix') return password + salt;
  return password;
}

/** Constant-time equality that does not reveal the length of either side. */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * Why `stored` cannot be a hash of this algorithm (the same checks {@link verifyPassword} makes
 * before hashing), or undefined when its form fits. For bulk imports: it computes no hash.
 */
export function storedHashProblem(cfg: HashConfig, stored: string): string | undefined {
  switch (cfg.name) {
    case 'plain':
      return undefined;
    case 'auto':
      return autoFormatOf(stored) === undefined ? AUTO_HINT : undefined;
    case 'bcrypt':
      if (!BCRYPT.test(stored)) return 'not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)';
      return bcryptCost(stored) > MAX_BCRYPT_COST ? BCRYPT_TOO_COSTLY : undefined;
    case 'pbkdf2': {
      const keylen = cfg.dk_length ?? DIGESTS[cfg.mac_fun].bytes;
      return stored.length === keylen * 2 && HEX.test(stored) ? undefined : `not a ${keylen}-byte hex PBKDF2 key`;
    }
    default: {
      const { bytes } = DIGESTS[cfg.name];
      return stored.length === bytes * 2 && HEX.test(stored) ? undefined : `not a ${bytes * 2}-character hex ${cfg.name} digest`;
    }
  }
}
