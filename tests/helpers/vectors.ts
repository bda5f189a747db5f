import { readFileSync } from 'node:fs';

/** The vector files, loaded as data (never retyped). */
export type Vector = Record<string, unknown> & { kind: string; id: string; emqx?: string };
export type FieldCase = Record<string, unknown> & { id: string; owner: string; input: Record<string, any>; expected: Record<string, any> };

const load = (name: string): unknown => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8'));

export const vectors = load('emqx-vectors.json') as Vector[];
export const fieldCases = load('field-cases.json') as FieldCase[];

/** Vectors of one kind that state EMQX 5.x behaviour (or the 6.x hardened profile where asked). */
export function vectorsOf(kind: string, opts: { hardened?: boolean } = {}): Vector[] {
  return vectors.filter((v) => v.kind === kind && (v.emqx === undefined || v.emqx === '5.x' || (opts.hardened === true && v.emqx?.startsWith('6.x') === true)));
}

export function fieldCase(id: string): FieldCase {
  const found = fieldCases.find((c) => c.id === id);
  if (!found) throw new Error(`no field case ${id}`);
  return found;
}
