import type { Row } from '../types.js';

/**
 * Reading a query plan: which tables the lookup searches without an index. A table scanned with
 * a filter and no index condition is read whole on every request; one read whole without a filter
 * (a small table of rules for everyone) is what the query asked for.
 */

interface FullScan {
  readonly table: string;
  /** The index the optimizer could have used but did not (a table too small to bother), if any. */
  readonly unusedIndex?: string;
}

export interface PlanReading {
  readonly fullScans: readonly FullScan[];
  /** Indexes the plan reads. */
  readonly indexes: readonly string[];
}

const SCANS = new Set(['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Heap Scan']);

/** PostgreSQL `EXPLAIN (FORMAT JSON)`: scan nodes with a Filter and no Index Cond / Recheck Cond. */
export function postgresPlan(explainRows: readonly Row[]): PlanReading {
  const first = explainRows[0];
  const value: unknown = first === undefined ? undefined : Object.values(first)[0];
  const doc: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  const found: FullScan[] = [];
  const indexes = new Set<string>();
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    const type = n['Node Type'];
    const table = n['Relation Name'];
    if (typeof n['Index Name'] === 'string') indexes.add(n['Index Name']);
    if (typeof type === 'string' && SCANS.has(type) && typeof table === 'string' && n['Filter'] !== undefined && n['Index Cond'] === undefined && n['Recheck Cond'] === undefined) {
      found.push({ table });
    }
    const plans = n['Plans'];
    if (Array.isArray(plans)) plans.forEach(walk);
  };
  if (Array.isArray(doc)) for (const entry of doc) walk((entry as Record<string, unknown> | null)?.['Plan']);
  return { fullScans: found, indexes: [...indexes] };
}

/** MySQL / MariaDB `EXPLAIN`: access type ALL (table) or index (whole index) with a WHERE applied. */
export function mysqlPlan(explainRows: readonly Row[]): PlanReading {
  const found: FullScan[] = [];
  const indexes = new Set<string>();
  for (const row of explainRows) {
    if (typeof row['key'] === 'string' && row['type'] !== 'index') indexes.add(row['key']);
    // A unique-key lookup decided before execution ("no matching row in const table"): the index answered it.
    if (/const table/.test(String(row['Extra'] ?? ''))) indexes.add('(a unique key)');
    const type = row['type'];
    const table = row['table'];
    const extra = String(row['Extra'] ?? '');
    if ((type === 'ALL' || type === 'index') && typeof table === 'string' && /Using where/.test(extra)) {
      const possible = row['possible_keys'];
      found.push(typeof possible === 'string' && possible !== '' ? { table, unusedIndex: possible } : { table });
    }
  }
  return { fullScans: found, indexes: [...indexes] };
}

/**
 * The column a template compares with a client value (`username = ${username}`), for the
 * CREATE INDEX hint; the table qualifier is dropped.
 */
export function lookupColumn(template: string): string | undefined {
  const m = /([A-Za-z_][A-Za-z0-9_.`"]*)\s*=\s*['"]?\$\{(username|clientid|cert_common_name|client_attrs\.[A-Za-z0-9_]+)\}/.exec(template);
  const qualified = m?.[1]?.replace(/[`"]/g, '');
  return qualified?.split('.').pop();
}
