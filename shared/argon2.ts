import { argon2d, argon2i, argon2id } from 'hash-wasm';

/**
 * Argon2 key derivation (WebAssembly, no native binary). Loaded with a dynamic import only when a
 * stored `$argon2…$` string needs it, so the default digest path never pays for it.
 */

export type Argon2Variant = 'argon2id' | 'argon2i' | 'argon2d';

export interface Argon2Params {
  readonly variant: Argon2Variant;
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
  readonly salt: Uint8Array;
  readonly length: number;
}

const DERIVE = { argon2id, argon2i, argon2d } as const;

/** The raw Argon2 (version 0x13) key of `password` under the given parameters. */
export async function deriveArgon2(password: string, p: Argon2Params): Promise<Uint8Array> {
  return DERIVE[p.variant]({
    password,
    salt: p.salt,
    iterations: p.iterations,
    parallelism: p.parallelism,
    memorySize: p.memoryKiB,
    hashLength: p.length,
    outputType: 'binary',
  });
}
