/**
 * EMQX 5's truthiness rule for `is_superuser` (`emqx_authn_utils:to_bool`): true, "true", an
 * integer ≥ 1 or a string holding one. Everything else is false. MySQL BIT(1) arrives here already
 * as a number (the mysql2 adapter converts it); PostgreSQL booleans as booleans.
 */
export function toBool(value: unknown): boolean {
  if (value === true) return true;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1;
  if (typeof value === 'bigint') return value >= 1n;
  if (typeof value === 'string') {
    if (value === 'true') return true;
    return /^[+-]?[0-9]+$/.test(value) && BigInt(value) >= 1n;
  }
  return false;
}
