import { readFileSync } from 'node:fs';
import { parseHashConfig, verifyPassword } from '../../shared/hash.js';

/**
 * The Argon2 module is loaded on first use; requests arriving together while it loads must each
 * get their own right answer. Kept in its own file so this is the first Argon2 use of the module registry.
 */

interface ForeignVector {
  id: string;
  format: string;
  password: string;
  stored_hash: string;
  expect: string;
}

const argon2 = (JSON.parse(readFileSync(new URL('../vectors/foreign-hashes.json', import.meta.url), 'utf8')) as ForeignVector[]).filter(
  (v) => v.format.endsWith('argon2') && v.expect !== 'malformed',
);

describe('Argon2 loaded lazily under concurrent requests', () => {
  it('answers every vector exactly when all arrive before the module has loaded', async () => {
    expect(argon2).toHaveLength(7);
    const auto = parseHashConfig({ name: 'auto' });
    // A wrong password only against the cheap (4 MiB) vectors: the 64 MiB ones cost ~0.2 s each.
    const attempts = argon2.flatMap((v) => [
      { id: v.id, password: v.password, stored: v.stored_hash, want: v.expect === 'match' },
      ...(v.stored_hash.includes('m=4096') ? [{ id: `${v.id} (wrong)`, password: `${v.password}!`, stored: v.stored_hash, want: false }] : []),
    ]);
    expect(attempts).toHaveLength(10);
    const results = await Promise.all(attempts.map((a) => verifyPassword(auto, a.password, a.stored, null)));
    expect(results.map((r, i) => ({ id: attempts[i]?.id, ok: r.ok }))).toEqual(attempts.map((a) => ({ id: a.id, ok: a.want })));
    expect(results.every((r) => !('malformed' in r))).toBe(true);
  });
});
