import { Command, CommanderError } from 'commander';
import { ConfigError } from '../shared/errors.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerExplain } from './commands/explain.js';
import { register as registerExport } from './commands/export.js';
import { register as registerImport } from './commands/import.js';
import { register as registerMigrate } from './commands/migrate.js';
import { register as registerRule } from './commands/rule.js';
import { register as registerUser } from './commands/user.js';

/**
 * `mqtt-auth`: one program for operators, reading the same settings (environment) as the service.
 * Each command lives in `cli/commands/<name>.ts` and exports `register(program)`.
 */
export function buildProgram(): Command {
  const program = new Command('mqtt-auth')
    .description('Operate mqtt-auth-functions: built-in users and rules, bulk import/export, diagnostics')
    .showHelpAfterError()
    .exitOverride();
  registerDoctor(program);
  registerExplain(program);
  registerMigrate(program);
  registerUser(program);
  registerRule(program);
  registerImport(program);
  registerExport(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
