import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Command, Option } from 'commander';
import type { ImportKind } from '../../shared/builtin/bulk.js';
import { exportRecords } from '../../shared/builtin/export.js';
import { formatOf, type Format } from '../../shared/builtin/readers.js';
import { warn, withSession } from './builtin-common.js';

interface ExportOptions {
  format?: Format;
  output?: string;
}

/** `mqtt-auth export users|rules`: the built-in tables in the formats import reads. */
export function register(program: Command): void {
  program
    .command('export')
    .description('export users (with their hashes and salts) or rules as CSV, JSON or JSON Lines')
    .addArgument(new Command().createArgument('<kind>', 'users or rules').choices(['users', 'rules']))
    .addOption(new Option('--format <format>', 'csv, json or jsonl (default: from --output, else csv)').choices(['csv', 'json', 'jsonl']))
    .option('--output <file>', 'write to this file instead of standard output')
    .action((kind: ImportKind, opts: ExportOptions) =>
      withSession(async (session) => {
        const format = opts.format ?? (opts.output === undefined ? 'csv' : (formatOf(opts.output) ?? 'csv'));
        // A hash export is created readable by its owner only.
        const out = opts.output === undefined ? process.stdout : createWriteStream(opts.output, { mode: 0o600 });
        const count = await exportRecords(session, kind, format, out);
        if (out !== process.stdout) {
          out.end();
          await finished(out);
        }
        warn(`exported ${count} ${kind}${opts.output === undefined ? '' : ` to ${opts.output}`}`);
      }),
    );
}
