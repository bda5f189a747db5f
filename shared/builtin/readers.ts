import { parse as parseCsv } from 'csv-parse/sync';
import { pipeline, Readable } from 'node:stream';
import streamArray from 'stream-json/streamers/stream-array.js';

/**
 * Streaming readers for bulk import. Each yields records one at a time with where they came from
 * (a line for CSV and JSON Lines, an element number for a JSON array), so a bad record is reported
 * and skipped while the rest go on. Memory stays bounded by one group of records.
 */

/** One input record: its fields by column name, or why it cannot be read. */
export type InputRecord =
  | { readonly at: string; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly at: string; readonly invalid: string };

/** The file cannot be read at all (bad header, broken JSON array): nothing after this point is imported. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

export type Format = 'csv' | 'json' | 'jsonl';

/** A physical line: its number, its bytes (no line break) and its text when valid UTF-8. */
interface Line {
  readonly n: number;
  readonly bytes: Buffer;
}

const QUOTE = 0x22;
/** A quoted field may span lines, but no further than this: an unclosed quote must not swallow the file. */
const MAX_RECORD_LINES = 20;
const MAX_RECORD_BYTES = 64 * 1024;
const GROUP = 500;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Splits a byte stream into lines on LF, dropping a CR before it and a UTF-8 byte order mark at the
 * start of the first line; bytes are decoded later, per line.
 */
async function* lines(input: AsyncIterable<Buffer | string>): AsyncGenerator<Line> {
  let rest: Buffer = Buffer.alloc(0);
  let n = 0;
  for await (const chunk of input) {
    let buf = rest.length === 0 ? (typeof chunk === 'string' ? Buffer.from(chunk) : chunk) : Buffer.concat([rest, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
    let at = buf.indexOf(0x0a);
    while (at >= 0) {
      n += 1;
      yield lineOf(n, buf.subarray(0, at));
      buf = buf.subarray(at + 1);
      at = buf.indexOf(0x0a);
    }
    rest = Buffer.from(buf); // copy: never pin the whole chunk for a short tail
  }
  if (rest.length > 0) yield lineOf(n + 1, rest);
}

const lineOf = (n: number, raw: Buffer): Line => {
  const bytes = trimCr(raw);
  return { n, bytes: n === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes };
};

const trimCr = (b: Buffer): Buffer => (b.length > 0 && b[b.length - 1] === 0x0d ? b.subarray(0, b.length - 1) : b);

function countQuotes(b: Buffer): number {
  let count = 0;
  for (let i = b.indexOf(QUOTE); i >= 0; i = b.indexOf(QUOTE, i + 1)) count += 1;
  return count;
}

/** A CSV record's raw text (one or more lines joined by LF), or a reason it cannot be one. */
type RawRecord = { readonly line: number; readonly text: string } | { readonly line: number; readonly invalid: string };

/**
 * Groups lines into CSV records: a record ends at a line break outside quotes (an even number of
 * `"` so far). A quote left open past {@link MAX_RECORD_LINES} lines or the end of the file
 * rejects only the line that opened it; the lines after it are read again as records of their own.
 */
async function* csvRawRecords(input: AsyncIterable<Buffer | string>): AsyncGenerator<RawRecord> {
  const source = lines(input)[Symbol.asyncIterator]();
  const replay: Line[] = [];
  const next = async (): Promise<Line | undefined> => replay.shift() ?? (await source.next()).value ?? undefined;
  for (;;) {
    const first = await next();
    if (first === undefined) return;
    const head = first.bytes;
    if (head.length === 0) continue; // blank lines are not records
    const group: Line[] = [{ n: first.n, bytes: head }];
    let quotes = countQuotes(head);
    let size = head.length;
    let closed = quotes % 2 === 0;
    while (!closed && group.length < MAX_RECORD_LINES && size < MAX_RECORD_BYTES) {
      const line = await next();
      if (line === undefined) break;
      group.push(line);
      quotes += countQuotes(line.bytes);
      size += line.bytes.length + 1;
      closed = quotes % 2 === 0;
    }
    if (!closed) {
      replay.unshift(...group.slice(1));
      yield { line: first.n, invalid: 'a quoted field is not closed' };
      continue;
    }
    const texts: string[] = [];
    let bad: number | undefined;
    for (const line of group) {
      try {
        texts.push(utf8.decode(line.bytes));
      } catch {
        bad ??= line.n;
      }
    }
    if (bad !== undefined) yield { line: first.n, invalid: bad === first.n ? 'not valid UTF-8' : `not valid UTF-8 (line ${bad})` };
    else yield { line: first.n, text: texts.join('\n') };
  }
}

/** csv-parse on one record (or a group of them): fields of each record, in order. */
function parseFields(text: string): string[][] {
  return parseCsv(text, { relax_column_count: true, record_delimiter: '\n', skip_empty_lines: false }) as string[][];
}

function csvReason(err: unknown): string {
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  if (code === 'CSV_INVALID_CLOSING_QUOTE') return 'bad quoting: a closing quote is followed by text';
  if (code === 'CSV_QUOTE_NOT_CLOSED') return 'bad quoting: a quoted field is not closed';
  if (code === 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE') return 'bad quoting: text after a closing quote';
  return `unreadable CSV (${code || 'parse error'})`;
}

/**
 * CSV records keyed by the header's column names. The header must name only `allowed` columns
 * and all `required` ones (else the file is refused before anything is written); a record with
 * another number of fields than the header is rejected.
 */
export async function* csvRecords(input: AsyncIterable<Buffer | string>, allowed: readonly string[], required: readonly string[]): AsyncGenerator<InputRecord> {
  let header: string[] | undefined;
  let pending: Array<{ line: number; text: string }> = [];

  function* flush(): Generator<InputRecord> {
    if (pending.length === 0 || header === undefined) return;
    const cols = header;
    let parsed: string[][] | undefined;
    try {
      parsed = parseFields(pending.map((p) => p.text).join('\n'));
      if (parsed.length !== pending.length) parsed = undefined;
    } catch {
      parsed = undefined;
    }
    for (const [i, p] of pending.entries()) {
      let fields: string[] | undefined = parsed?.[i];
      if (fields === undefined) {
        try {
          const one = parseFields(p.text);
          if (one.length !== 1) {
            yield { at: `line ${p.line}`, invalid: 'unreadable CSV (not one record)' };
            continue;
          }
          fields = one[0];
        } catch (err) {
          yield { at: `line ${p.line}`, invalid: csvReason(err) };
          continue;
        }
      }
      if (fields === undefined) continue;
      if (fields.length !== cols.length) {
        yield { at: `line ${p.line}`, invalid: `expected ${cols.length} fields (${cols.join(',')}), got ${fields.length}` };
        continue;
      }
      const record: Record<string, string> = {};
      for (const [j, name] of cols.entries()) record[name] = fields[j] ?? '';
      yield { at: `line ${p.line}`, fields: record };
    }
    pending = [];
  }

  for await (const raw of csvRawRecords(input)) {
    if (header === undefined) {
      if ('invalid' in raw) throw new InputError(`line ${raw.line}: the header is unreadable: ${raw.invalid}`);
      header = readHeader(raw.text, raw.line, allowed, required);
      continue;
    }
    if ('invalid' in raw) {
      yield* flush();
      yield { at: `line ${raw.line}`, invalid: raw.invalid };
      continue;
    }
    pending.push(raw);
    if (pending.length >= GROUP) yield* flush();
  }
  if (header === undefined) throw new InputError('the file is empty (no header line)');
  yield* flush();
}

function readHeader(text: string, line: number, allowed: readonly string[], required: readonly string[]): string[] {
  let cols: string[];
  try {
    cols = parseFields(text)[0] ?? [];
  } catch (err) {
    throw new InputError(`line ${line}: the header is unreadable: ${csvReason(err)}`);
  }
  cols = cols.map((c) => c.trim());
  const unknown = cols.filter((c) => !allowed.includes(c));
  if (unknown.length > 0) throw new InputError(`line ${line}: unknown column ${unknown.map((c) => JSON.stringify(c)).join(', ')}; expected ${allowed.join(', ')}`);
  const twice = cols.filter((c, i) => cols.indexOf(c) !== i);
  if (twice.length > 0) throw new InputError(`line ${line}: column ${JSON.stringify(twice[0])} appears twice`);
  const missing = required.filter((c) => !cols.includes(c));
  if (missing.length > 0) throw new InputError(`line ${line}: missing column ${missing.join(', ')}`);
  return cols;
}

/** JSON Lines: one JSON object per line; a line that does not parse is rejected on its own. */
export async function* jsonlRecords(input: AsyncIterable<Buffer | string>): AsyncGenerator<InputRecord> {
  for await (const line of lines(input)) {
    const bytes = line.bytes;
    if (bytes.length === 0 || /^\s*$/.test(bytes.toString('latin1'))) continue;
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      yield { at: `line ${line.n}`, invalid: 'not valid UTF-8' };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      yield { at: `line ${line.n}`, invalid: 'not valid JSON' };
      continue;
    }
    yield objectRecord(`line ${line.n}`, value);
  }
}

function objectRecord(at: string, value: unknown): InputRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { at, invalid: 'not a JSON object' };
  return { at, fields: value as Record<string, unknown> };
}

/**
 * A JSON array of objects, element by element (stream-json); element numbers count from 1. Bytes
 * that are not UTF-8, or JSON that breaks off, end the file with an InputError naming the last good
 * element: what came before stays imported.
 */
export async function* jsonArrayRecords(input: Readable): AsyncGenerator<InputRecord> {
  async function* decode(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for await (const chunk of chunks) {
      try {
        yield decoder.decode(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, { stream: true });
      } catch {
        throw new InputError('the file is not valid UTF-8');
      }
    }
  }
  const decoded = Readable.from(decode(input));
  // pipeline (not pipe): a decoding error must reach the element stream and end the loop below.
  const elements = pipeline(decoded, streamArray.withParserAsStream(), () => {});
  let last = 0;
  try {
    for await (const item of elements as AsyncIterable<{ key: number; value: unknown }>) {
      last = item.key + 1;
      yield objectRecord(`element ${last}`, item.value);
    }
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${err.message} (after element ${last})`);
    throw new InputError(`the JSON array breaks off after element ${last}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    decoded.destroy();
  }
}

/** The format named by a file's extension. */
export function formatOf(path: string): Format | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.json')) return 'json';
  return undefined;
}
