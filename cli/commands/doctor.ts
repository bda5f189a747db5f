import { InvalidArgumentError, type Command } from 'commander';
import { exitCode, formatReport, reportJson } from '../../shared/doctor/report.js';

/**
 * `mqtt-auth doctor [--json] [--timeout ms] [--samples n]`: checks the configuration the service
 * would run with (the same environment) and prints one line per check. Exit code 1 when any check
 * failed, 0 otherwise (warnings alone included).
 */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('check the database settings end to end (DNS, TCP, TLS, login, database, queries, indexes, pinning, latency) and explain each failure')
    .option('--json', 'print the report as JSON')
    .option('--timeout <ms>', 'budget for each network step', (v) => positive(v, '--timeout'), 3000)
    .option('--samples <n>', 'lookups timed for the latency check', (v) => positive(v, '--samples'), 5)
    .action(async (opts: { json?: boolean; timeout: number; samples: number }) => {
      const { runDoctor } = await import('../../shared/doctor/doctor.js');
      const report = await runDoctor(process.env, { timeoutMs: opts.timeout, samples: opts.samples });
      process.stdout.write(opts.json === true ? reportJson(report) : formatReport(report));
      process.exitCode = exitCode(report);
    });
}

function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive whole number`);
  return n;
}
