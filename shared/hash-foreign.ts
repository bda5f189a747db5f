import { createHash } from 'node:crypto';
import type { Argon2Variant } from './argon2.js';
import { DIGESTS, pbkdf2Async, positiveInt, safeEqual, type Verification } from './hash.js';

/**
 * The foreign stored-hash formats `{"name":"auto"}` reads (go-auth and Django PBKDF2,
 * mosquitto_passwd, PHC Argon2). Loaded by `hash.ts` on first use, so the Lambda bundle of a stage
 * whose PASSWORD_HASH is not auto leaves them out.
 */

/** Upper bound on PBKDF2 iterations read from a stored string (Django 6 uses 1.2 million). */
const MAX_STORED_ITERATIONS = 10_000_000;
/** Upper bound on Argon2 memory read from a stored string: 1 GiB. */
const MAX_ARGON2_KIB = 1_048_576;
/**
 * Upper bound on Argon2 work, memory × passes (KiB): libsodium's "sensitive" 1 GiB × 4, seconds of
 * CPU. The derivation runs on the event loop, so a row asking for more would stall every request.
 */
const MAX_ARGON2_WORK = 4 * MAX_ARGON2_KIB;
/** A shorter key is taken for a truncated column rather than a real hash. */
const MIN_KEY_BYTES = 16;

/**
 * mosquitto-go-auth: `PBKDF2$sha256|sha512$<iterations>$<salt>$<base64 key>`, the key length read
 * from the key. The salt is base64 as go-auth writes it, or the text itself (`salt_encoding`
 * `utf8`, go-auth's `utf-8`), as the jpmens plugin and its `np` tool wrote it.
 */
export async function verifyGoAuth(saltEncoding: 'base64' | 'utf8', password: string, stored: string): Promise<Verification> {
  const fields = stored.split('$');
  const [, digest, iterations, saltField, keyField] = fields;
  if (fields.length !== 5 || saltField === undefined || keyField === undefined) {
    return { ok: false, malformed: 'go-auth PBKDF2 string needs 5 $-separated fields' };
  }
  if (digest !== 'sha256' && digest !== 'sha512') return { ok: false, malformed: 'go-auth PBKDF2 digest must be sha256 or sha512' };
  const count = positiveInt(iterations, MAX_STORED_ITERATIONS);
  if (count === undefined) return { ok: false, malformed: `go-auth PBKDF2 iterations must be an integer from 1 to ${MAX_STORED_ITERATIONS}` };
  const salt = saltEncoding === 'utf8' ? Buffer.from(saltField, 'utf8') : base64(saltField, true);
  if (salt === undefined) return { ok: false, malformed: 'go-auth PBKDF2 salt is not base64 (salts stored as text need "salt_encoding":"utf8")' };
  const key = base64(keyField, true);
  if (key === undefined || key.length < MIN_KEY_BYTES) return { ok: false, malformed: `go-auth PBKDF2 key is not base64 of at least ${MIN_KEY_BYTES} bytes (a truncated column?)` };
  const derived = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, count, key.length, DIGESTS[digest].node);
  return { ok: safeEqual(derived, key) };
}

/** Django: `pbkdf2_sha256$<iterations>$<salt text>$<base64 key of the digest's length>` (also `pbkdf2_sha1`). */
export async function verifyDjango(password: string, stored: string): Promise<Verification> {
  const fields = stored.split('$');
  const [algorithm, iterations, saltField, keyField] = fields;
  const digest = algorithm === 'pbkdf2_sha256' ? 'sha256' : algorithm === 'pbkdf2_sha1' ? 'sha1' : undefined;
  if (digest === undefined) return { ok: false, malformed: 'Django PBKDF2 must be pbkdf2_sha256 or pbkdf2_sha1' };
  if (fields.length !== 4 || saltField === undefined || saltField === '' || keyField === undefined) {
    return { ok: false, malformed: 'Django PBKDF2 string needs 4 $-separated fields' };
  }
  const count = positiveInt(iterations, MAX_STORED_ITERATIONS);
  if (count === undefined) return { ok: false, malformed: `Django PBKDF2 iterations must be an integer from 1 to ${MAX_STORED_ITERATIONS}` };
  const key = base64(keyField, true);
  const { bytes, node } = DIGESTS[digest];
  if (key === undefined || key.length !== bytes) return { ok: false, malformed: `Django ${algorithm} key is not base64 of ${bytes} bytes` };
  const derived = await pbkdf2Async(Buffer.from(password, 'utf8'), Buffer.from(saltField, 'utf8'), count, bytes, node);
  return { ok: safeEqual(derived, key) };
}

/**
 * A `mosquitto_passwd` file entry: `$7$<iterations>$<base64 salt>$<base64 key>` (PBKDF2-HMAC-SHA512,
 * 64-byte key) or `$6$<base64 salt>$<base64 SHA-512(password ‖ salt)>`. glibc's sha512-crypt also
 * starts with `$6$` but uses another alphabet and no padding, so it fails the base64 check.
 */
export async function verifyMosquitto(password: string, stored: string): Promise<Verification> {
  const fields = stored.split('$');
  const pbkdf = fields[1] === '7';
  if (fields.length !== (pbkdf ? 5 : 4)) return { ok: false, malformed: `mosquitto_passwd $${fields[1]}$ string needs ${pbkdf ? 5 : 4} $-separated fields (sha512-crypt is not supported)` };
  const salt = base64(fields[pbkdf ? 3 : 2] ?? '', true);
  const key = base64(fields[pbkdf ? 4 : 3] ?? '', true);
  if (salt === undefined || salt.length === 0 || key === undefined || key.length !== 64) {
    return { ok: false, malformed: 'mosquitto_passwd string needs a base64 salt and a base64 64-byte SHA-512 value (sha512-crypt is not supported)' };
  }
  if (!pbkdf) return { ok: safeEqual(createHash('sha512').update(password, 'utf8').update(salt).digest(), key) };
  const count = positiveInt(fields[2], MAX_STORED_ITERATIONS);
  if (count === undefined) return { ok: false, malformed: `mosquitto_passwd iterations must be an integer from 1 to ${MAX_STORED_ITERATIONS}` };
  return { ok: safeEqual(await pbkdf2Async(Buffer.from(password, 'utf8'), salt, count, 64, 'sha512'), key) };
}

const PHC_ARGON2 = /^\$(argon2id|argon2i|argon2d)\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** PHC Argon2 (`$argon2id$v=19$m=…,t=…,p=…$<salt>$<key>`, unpadded base64), as the reference tool writes it. */
export async function verifyArgon2(password: string, stored: string): Promise<Verification> {
  const m = PHC_ARGON2.exec(stored);
  if (m === null) return { ok: false, malformed: 'not a PHC Argon2 string ($argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>)' };
  const [, variant, version, mem, passes, lanes, saltField, keyField] = m;
  if (version !== '19') return { ok: false, malformed: 'only Argon2 version 19 (v=19) is supported' };
  const parallelism = positiveInt(lanes, 2 ** 24 - 1);
  const iterations = positiveInt(passes, 2 ** 32 - 1);
  const memoryKiB = positiveInt(mem, MAX_ARGON2_KIB);
  if (parallelism === undefined || iterations === undefined || memoryKiB === undefined || memoryKiB < 8 * parallelism) {
    return { ok: false, malformed: `Argon2 parameters out of range (t ≥ 1, p ≥ 1, 8·p ≤ m ≤ ${MAX_ARGON2_KIB} KiB)` };
  }
  if (memoryKiB * iterations > MAX_ARGON2_WORK) return { ok: false, malformed: `Argon2 work out of range (m·t ≤ ${MAX_ARGON2_WORK} KiB)` };
  const salt = base64(saltField ?? '', false);
  const key = base64(keyField ?? '', false);
  if (salt === undefined || salt.length < 8) return { ok: false, malformed: 'Argon2 salt is not unpadded base64 of at least 8 bytes' };
  if (key === undefined || key.length < MIN_KEY_BYTES) return { ok: false, malformed: `Argon2 key is not unpadded base64 of at least ${MIN_KEY_BYTES} bytes (a truncated column?)` };
  const kind: Argon2Variant = variant === 'argon2i' ? 'argon2i' : variant === 'argon2d' ? 'argon2d' : 'argon2id';
  // Outside the try: a module that cannot load is a backend failure, not a malformed hash.
  const { deriveArgon2 } = await import('./argon2.js');
  try {
    const derived = await deriveArgon2(password, { variant: kind, memoryKiB, iterations, parallelism, salt, length: key.length });
    return { ok: safeEqual(Buffer.from(derived), key) };
  } catch {
    return { ok: false, malformed: 'Argon2 could not run with the stored parameters (memory?)' };
  }
}

const BASE64_PADDED = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64_RAW = /^[A-Za-z0-9+/]*$/;

/** Strict standard base64 (Node's own decoder skips what it cannot read, hiding truncation). */
function base64(text: string, padded: boolean): Buffer | undefined {
  const valid = padded ? BASE64_PADDED.test(text) : BASE64_RAW.test(text) && text.length % 4 !== 1;
  return valid ? Buffer.from(text, 'base64') : undefined;
}
