import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * The bulk-import "done when" at CI size: bench/import.ts run for real on 20,000 generated users
 * (PostgreSQL), with exact counts, every sampled user authenticating, and memory that does not grow
 * with the rows (the heap after the import, after a full GC, is within 3 MiB of before; holding
 * 20,000 user records would take several times that).
 */
const run = promisify(execFile);

describe('bench/import.ts at 20,000 rows', () => {
  it('imports every row, authenticates the sample and keeps memory flat', async () => {
    const root = new URL('../../', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/import.ts', '--rows', '20000', '--sample', '300', '--json', '--database', 'maf_it_import_bench'], {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'silent' },
      timeout: 120_000,
    });
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, number | null>;
    expect(result).toMatchObject({ rows: 20000, inserted: 20000, updated: 0, rejected: 0, sample: 300, sampleAuthenticated: 300, wrongPasswordsTried: 50, wrongPasswordsDenied: 50 });
    expect(result['heapGrowthMiB']).not.toBeNull();
    expect(result['heapGrowthMiB']).toBeLessThan(3);
    expect(result['peakRssMiB']).toBeLessThan(400);
  }, 150_000);
});
