import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { ImportStopped, importRecords, type ImportKind, type ImportSummary } from '../../shared/builtin/bulk.js';
import { formatOf, type Format } from '../../shared/builtin/readers.js';
import type { SqlSession } from '../../shared/db/session.js';
import { ConfigError } from '../../shared/errors.js';
import type { Settings } from '../../shared/settings.js';
import { fail, say, withTables } from './builtin-common.js';

interface ImportOptions {
  format?: Format;
  dryRun?: boolean;
  batchSize: string;
  json?: boolean;
}

/** The summary an operator reads: counts, then each rejected record with where and why. */
export function summaryText(s: ImportSummary, source: string): string {
  const counts = s.dryRun
    ? `dry run, nothing written: ${s.inserted} would be inserted, ${s.updated} would be updated, ${s.rejected} rejected`
    : `${s.inserted} inserted, ${s.updated} updated, ${s.rejected} rejected`;
  const lines = [`import ${s.kind} from ${source}: ${counts} (${s.read} read)`];
  for (const r of s.rejects) lines.push(`  ${r.at}: ${r.reason}`);
  if (s.rejected > s.rejects.length) lines.push(`  … and ${s.rejected - s.rejects.length} more rejected`);
  return lines.join('\n');
}

/** A progress bar on a terminal (bytes of the file read, rows so far); nothing when stderr is not a TTY. */
function progress(total: number | undefined, file: { bytesRead: number } | undefined) {
  if (!process.stderr.isTTY || total === undefined || file === undefined) return { update: (_s: ImportSummary) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'importing {bar} {percentage}% | {rows} rows | {inserted} inserted, {updated} updated, {rejected} rejected | ETA {eta_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rows: 0, inserted: 0, updated: 0, rejected: 0 });
  return {
    update: (s: ImportSummary) => bar.update(file.bytesRead, { rows: s.read, inserted: s.inserted, updated: s.updated, rejected: s.rejected }),
    stop: () => bar.stop(),
  };
}

export interface RunOptions {
  readonly format: Format;
  readonly batchSize: number;
  readonly dryRun: boolean;
  /** Print the summary as one JSON object. */
  readonly json: boolean;
  /** False: return the summary without printing it (the bench prints its own figures). */
  readonly print?: boolean;
}

/**
 * Import remembers the records it has seen in a temporary table that outlives each batch's
 * transaction; over the RDS Data API the next call may find it gone, so import refuses to start.
 */
function requireSessionState(session: SqlSession): void {
  if (session.keepsSessionState) return;
  throw new ConfigError(
    'DB_DRIVER',
    'import keeps a temporary table across its batches, which the RDS Data API does not keep between calls; run mqtt-auth import with DATABASE_URL (or DB_DRIVER=proxy and DB_HOST) pointing at the cluster',
  );
}

/**
 * What `mqtt-auth import` does once its arguments are checked: stream `file` (or stdin for `-`)
 * into the built-in tables with a progress bar on a terminal, print the summary, and set the exit
 * code (1 when a record was rejected or the import stopped). Returns the summary.
 */
export async function runImport(session: SqlSession, settings: Settings, kind: ImportKind, file: string, opts: RunOptions): Promise<ImportSummary> {
  const stream = file === '-' ? undefined : createReadStream(file);
  const input: Readable = stream ?? process.stdin;
  const bar = progress(stream ? (await stat(file)).size : undefined, stream);
  const report = (s: ImportSummary) => opts.print === false ? undefined : (opts.json ? say(JSON.stringify(s)) : say(summaryText(s, file === '-' ? 'standard input' : file)));
  try {
    const summary = await importRecords(session, input, { kind, format: opts.format, hash: settings.passwordHash, dryRun: opts.dryRun, batchSize: opts.batchSize, onBatch: bar.update });
    bar.stop();
    report(summary);
    if (summary.rejected > 0) process.exitCode = 1;
    return summary;
  } catch (err) {
    bar.stop();
    if (!(err instanceof ImportStopped)) throw err;
    report(err.summary);
    fail(`import stopped: ${err.message}; the batches before it are committed and a re-run updates them`);
    return err.summary;
  } finally {
    stream?.destroy();
  }
}

/** `mqtt-auth import users|rules <file>`: streaming bulk import, CSV, JSON or JSON Lines. */
export function register(program: Command): void {
  program
    .command('import')
    .description('import users or rules from CSV, JSON (an array) or JSON Lines; re-running updates what exists')
    .addArgument(new Command().createArgument('<kind>', 'users or rules').choices(['users', 'rules']))
    .argument('<file>', 'the file to read, or - for standard input')
    .addOption(new Option('--format <format>', 'csv, json or jsonl (default: from the file name)').choices(['csv', 'json', 'jsonl']))
    .option('--dry-run', 'check and count every record, write nothing')
    .option('--batch-size <n>', 'records per transaction', '1000')
    .option('--json', 'print the summary as JSON')
    .action(async (kind: ImportKind, file: string, opts: ImportOptions) => {
      const format = opts.format ?? formatOf(file);
      if (format === undefined) {
        fail('cannot tell the format from the file name; give --format csv, json or jsonl');
        return;
      }
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000) {
        fail('--batch-size must be a whole number from 1 to 5000');
        return;
      }
      await withTables((session, settings) => runImport(session, settings, kind, file, { format, batchSize, dryRun: opts.dryRun ?? false, json: opts.json ?? false }), requireSessionState);
    });
}
