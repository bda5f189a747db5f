import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import * as z from 'zod';
import { ConfigError } from './errors.js';

/**
 * The one password hasher: EMQX 5's `password_hash_algorithm` object, verified exactly as EMQX
 * does (hex digests case-insensitively, plain text case-sensitively, both in constant time).
 */

const pbkdf2Async = promisify(pbkdf2);

const SIMPLE = ['plain', 'md5', 'sha', 'sha256', 'sha512'] as const;
const MAC_FUNS = ['sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
type Simple = (typeof SIMPLE)[number];
type MacFun = (typeof MAC_FUNS)[number];

const HashSchema = z.discriminatedUnion('name', [
  z.strictObject({ name: z.enum(SIMPLE), salt_position: z.enum(['disable', 'prefix', 'suffix']).default('prefix') }),
  z.strictObject({ name: z.literal('bcrypt'), salt_rounds: z.number().int().min(4).max(31).default(10) }),
  z.strictObject({
    name: z.literal('pbkdf2'),
    mac_fun: z.string(),
    iterations: z.number().int().positive(),
    dk_length: z.number().int().positive().max(2 ** 32 - 1).optional(),
  }),
]);

export type HashConfig =
  | { readonly name: Simple; readonly salt_position: 'disable' | 'prefix' | 'suffix' }
  | { readonly name: 'bcrypt'; readonly salt_rounds: number }
  | { readonly name: 'pbkdf2'; readonly mac_fun: MacFun; readonly iterations: number; readonly dk_length?: number };

/** Node's digest name and output length for each EMQX algorithm name. */
const DIGESTS: Record<Exclude<Simple, 'plain'> | MacFun, { node: string; bytes: number }> = {
  md5: { node: 'md5', bytes: 16 },
  sha: { node: 'sha1', bytes: 20 },
  sha224: { node: 'sha224', bytes: 28 },
  sha256: { node: 'sha256', bytes: 32 },
  sha384: { node: 'sha384', bytes: 48 },
  sha512: { node: 'sha512', bytes: 64 },
};

/** Parses and validates EMQX 5's algorithm object (given as JSON text or an object). */
export function parseHashConfig(input: unknown, setting = 'PASSWORD_HASH'): HashConfig {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new ConfigError(setting, 'not valid JSON; expected e.g. {"name":"sha256","salt_position":"prefix"}');
    }
  }
  const parsed = HashSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new ConfigError(setting, `${where}${issue?.message ?? 'invalid'}`);
  }
  const cfg = parsed.data;
  if (cfg.name !== 'pbkdf2') return Object.freeze(cfg);
  if (!(MAC_FUNS as readonly string[]).includes(cfg.mac_fun)) {
    throw new ConfigError(setting, `mac_fun "${cfg.mac_fun}" is not supported for pbkdf2 (EMQX 5 cannot run it either); use one of ${MAC_FUNS.join(', ')}`);
  }
  const { dk_length, ...rest } = cfg;
  return Object.freeze({ ...rest, mac_fun: cfg.mac_fun as MacFun, ...(dk_length === undefined ? {} : { dk_length }) });
}

export type Verification = { readonly ok: boolean } | { readonly ok: false; readonly malformed: string };

const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;
const HEX = /^[0-9a-fA-F]*$/;

/**
 * Checks a password against a stored hash. `malformed` explains a stored value that cannot be a
 * hash of this algorithm (a deny, logged by the caller). Never throws for bad stored data.
 */
export async function verifyPassword(cfg: HashConfig, password: string, stored: string, salt: string | null | undefined): Promise<Verification> {
  const saltText = salt ?? '';
  switch (cfg.name) {
    case 'plain':
      return { ok: safeEqual(Buffer.from(stored, 'utf8'), Buffer.from(salted(cfg.salt_position, password, saltText), 'utf8')) };
    case 'bcrypt': {
      if (!BCRYPT.test(stored)) return { ok: false, malformed: 'stored value is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)' };
      try {
        return { ok: await bcrypt.compare(password, stored) };
      } catch {
        return { ok: false, malformed: 'bcrypt could not read the stored hash' };
      }
    }
    case 'pbkdf2': {
      const keylen = cfg.dk_length ?? DIGESTS[cfg.mac_fun].bytes;
      if (stored.length !== keylen * 2 || !HEX.test(stored)) {
        return { ok: false, malformed: `stored value is not a ${keylen}-byte hex PBKDF2 key` };
      }
      const key = await pbkdf2Async(Buffer.from(password, 'utf8'), Buffer.from(saltText, 'utf8'), cfg.iterations, keylen, DIGESTS[cfg.mac_fun].node);
      return { ok: safeEqual(key, Buffer.from(stored, 'hex')) };
    }
    default: {
      const { bytes, node } = DIGESTS[cfg.name];
      if (stored.length !== bytes * 2 || !HEX.test(stored)) {
        return { ok: false, malformed: `stored value is not a ${bytes * 2}-character hex ${cfg.name} digest` };
      }
      const digest = createHash(node).update(salted(cfg.salt_position, password, saltText), 'utf8').digest();
      return { ok: safeEqual(digest, Buffer.from(stored, 'hex')) };
    }
  }
}

/**
 * Produces the stored form of a password (for seeding and user management). Salted algorithms get
 * a random salt unless one is given; the salt to store is returned with the hash.
 */
export async function hashPassword(cfg: HashConfig, password: string, salt?: string): Promise<{ hash: string; salt: string }> {
  switch (cfg.name) {
    case 'bcrypt':
      return { hash: await bcrypt.hash(password, cfg.salt_rounds), salt: '' };
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

function salted(position: 'disable' | 'prefix' | 'suffix', password: string, salt: string): string {
  if (position === 'prefix') return salt + password;
  if (position === 'suffix') return password + salt;
  return password;
}

/** Constant-time equality that does not reveal the length of either side. */
function safeEqual(a: Buffer, b: Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
