import * as v from 'valibot';

/**
 * The project's valibot building blocks. valibot is small and cheap to start (a Lambda bundle pays
 * for each schema it builds at a cold start), but its default messages differ from the ones the
 * settings, the request parsers and the hash configuration have always shown ("Invalid option:
 * expected one of …", "Too small: expected number to be >=1", "Unrecognized key: …"). These
 * builders give valibot's schemas those messages; a missing key gets the message its schema gives
 * `undefined`, and {@link objectOnly} refuses arrays where valibot would take one for an object.
 * Import valibot and this module as namespaces so the bundler keeps only what is used.
 */

/** The name a value's type is shown by in "received …" (NaN and the infinities by their value). */
export function typeName(input: unknown): string {
  if (typeof input === 'number') return Number.isFinite(input) ? 'number' : String(input);
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  if (typeof input === 'object' && Object.getPrototypeOf(input) !== Object.prototype && 'constructor' in input && typeof input.constructor === 'function') return input.constructor.name;
  return typeof input;
}

type Message = (issue: v.BaseIssue<unknown>) => string;

/** `Invalid input: expected <type>, received <type of the input>`. */
export const expected =
  (type: string): Message =>
  (issue) =>
    `Invalid input: expected ${type}, received ${typeName(issue.input)}`;

/** The message for a value outside `options`. */
export const oneOf = (options: readonly string[]): string =>
  options.length === 1 ? `Invalid input: expected "${options[0]}"` : `Invalid option: expected one of ${options.map((o) => `"${o}"`).join('|')}`;

export const string = () => v.string(expected('string'));
/** A finite number (NaN and the infinities are refused as not numbers). */
export const number = () => v.custom<number>((x) => typeof x === 'number' && Number.isFinite(x), expected('number'));
export const integer = () => v.integer(expected('int'));
export const gte = (min: number) => v.minValue<number, number, string>(min, `Too small: expected number to be >=${min}`);
export const gt = (min: number) => v.gtValue<number, number, string>(min, `Too small: expected number to be >${min}`);
export const lte = (max: number) => v.maxValue<number, number, string>(max, `Too big: expected number to be <=${max}`);
export const picklist = <const T extends readonly [string, ...string[]]>(options: T) => v.picklist(options, oneOf(options));
export const literal = <const T extends string>(value: T) => v.literal(value, oneOf([value]));

/** Not null, not an array: what an object schema accepts (valibot's own would take an array). */
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const objectInput = () => v.custom<unknown>(isObject, expected('object'));

/**
 * The object schemas' messages for their own issues: a missing key gets what its schema says of
 * `undefined`; unknown keys (strict objects) are listed, all of them.
 */
function keyMessage(entries: v.ObjectEntries): Message {
  return (issue) => {
    const at = issue.path?.[issue.path.length - 1];
    if (issue.expected === 'never' && at !== undefined && isObject(at.input)) {
      const unknown = Object.keys(at.input).filter((k) => !Object.hasOwn(entries, k));
      return `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${unknown.map((k) => `"${k}"`).join(', ')}`;
    }
    const schema = at === undefined ? undefined : entries[String(at.key)];
    if (schema !== undefined) return v.safeParse(schema, undefined).issues?.[0]?.message ?? 'Invalid input';
    return expected('object')(issue);
  };
}

/**
 * An object; unknown keys are dropped. Like valibot's, it takes an array for an object: wrap it in
 * {@link objectOnly} where an array may come.
 */
export const object = <const E extends v.ObjectEntries>(entries: E) => v.object(entries, keyMessage(entries));

/** An object that refuses unknown keys (an array: see {@link object}). */
export const strictObject = <const E extends v.ObjectEntries>(entries: E) => v.strictObject(entries, keyMessage(entries));

/** `schema` for objects only: anything else, an array included, is `Invalid input: expected object, …`. */
export const objectOnly = <S extends v.GenericSchema>(schema: S) => v.pipe(objectInput(), schema);

/**
 * One of several objects, chosen by the value of `key`; `names` are the discriminator values shown
 * when it matches none.
 */
export const variant = <const K extends string, const O extends v.VariantOptions<K>>(key: K, options: O, names: readonly string[]) =>
  objectOnly(v.variant(key, options, `Invalid discriminator value. Expected ${names.map((n) => `'${n}'`).join(' | ')}`));

/**
 * A plain object whose every value passes `value`: all its own keys are kept (valibot's record
 * drops `constructor` and `prototype`), except `__proto__`. `message` is for anything that is not
 * such an object.
 */
export const record = <T>(value: v.GenericSchema<unknown, T>, message: string) =>
  v.pipe(
    v.custom<Record<string, unknown>>(isObject, message),
    v.transform((o: Record<string, unknown>) => new Map(Object.entries(o).filter(([k]) => k !== '__proto__'))),
    v.map(v.string(), value),
    v.transform((m: Map<string, T>) => Object.fromEntries(m)),
  );

/**
 * Where an issue is, as key names: an unknown key is an issue of the object that has it, so its
 * path is the object's.
 */
export function issuePath(issue: v.BaseIssue<unknown>): string[] {
  const keys = (issue.path ?? []).map((p) => String(p.key));
  return issue.type === 'strict_object' && issue.expected === 'never' ? keys.slice(0, -1) : keys;
}
