// SQL that writes one version of a resource with its search-index rows (one multi-row INSERT
// per index table from unnest of parallel arrays), run inside the caller's transaction.
import type { IndexRows } from './index-extraction.js';

const TABLES = ['idx_token', 'idx_string', 'idx_date', 'idx_reference', 'idx_number', 'idx_uri'];

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface VersionRow {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  content: string;
}

/**
 * One statement that writes a version: the resource row (inserted, or updated when `replace`),
 * its history row, and its search-index rows (old ones deleted when replacing). On PGlite every
 * statement has a fixed cost, so one statement instead of nine is most of the write throughput.
 * Sibling CTEs see the same snapshot: the DELETEs remove only the previous version's rows.
 * Returns `n = 0` when an insert found the id taken (ON CONFLICT DO NOTHING).
 */
export function writeVersionSql(v: VersionRow, rows: IndexRows, replace: boolean): { text: string; values: unknown[] } {
  const values: unknown[] = [v.resourceType, v.id, v.versionId, v.lastUpdated, v.content];
  const add = (x: unknown): string => {
    values.push(x);
    return `$${values.length}`;
  };
  const ctes: string[] = [
    replace
      ? `r AS (UPDATE resource SET version_id = $3, last_updated = $4, deleted = false, content = $5::jsonb
           WHERE resource_type = $1 AND id = $2 RETURNING 1)`
      : `r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
           VALUES ($1, $2, $3, $4, false, $5::jsonb) ON CONFLICT (resource_type, id) DO NOTHING RETURNING 1)`,
    `h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content)
       SELECT $1, $2, $3, $4, false, $5::jsonb FROM r)`,
  ];
  if (replace) TABLES.forEach((t, i) => ctes.push(`d${i} AS (DELETE FROM ${t} WHERE resource_type = $1 AND id = $2)`));
  const ins = (name: string, table: string, cols: string, arrays: [unknown[], string][]): void => {
    if (!arrays[0][0].length) return;
    const args = arrays.map(([a, type]) => `${add(a)}::${type}[]`).join(', ');
    ctes.push(`${name} AS (INSERT INTO ${table} (resource_type, id, ${cols}) SELECT $1, $2, * FROM unnest(${args}) WHERE EXISTS (SELECT 1 FROM r))`);
  };
  ins('i_token', 'idx_token', 'param, system, code', [
    [rows.token.map((r) => r.param), 'text'],
    [rows.token.map((r) => r.system), 'text'],
    [rows.token.map((r) => r.code), 'text'],
  ]);
  ins('i_string', 'idx_string', 'param, norm, exact', [
    [rows.string.map((r) => r.param), 'text'],
    [rows.string.map((r) => r.norm), 'text'],
    [rows.string.map((r) => r.exact), 'text'],
  ]);
  ins('i_date', 'idx_date', 'param, low, high', [
    [rows.date.map((r) => r.param), 'text'],
    [rows.date.map((r) => iso(r.low)), 'timestamptz'],
    [rows.date.map((r) => iso(r.high)), 'timestamptz'],
  ]);
  ins('i_ref', 'idx_reference', 'param, target_type, target_id, target_version, url', [
    [rows.reference.map((r) => r.param), 'text'],
    [rows.reference.map((r) => r.targetType), 'text'],
    [rows.reference.map((r) => r.targetId), 'text'],
    [rows.reference.map((r) => r.targetVersion), 'text'],
    [rows.reference.map((r) => r.url), 'text'],
  ]);
  ins('i_number', 'idx_number', 'param, value, system, code', [
    [rows.number.map((r) => r.param), 'text'],
    [rows.number.map((r) => String(r.value)), 'numeric'],
    [rows.number.map((r) => r.system), 'text'],
    [rows.number.map((r) => r.code), 'text'],
  ]);
  ins('i_uri', 'idx_uri', 'param, value', [
    [rows.uri.map((r) => r.param), 'text'],
    [rows.uri.map((r) => r.value), 'text'],
  ]);
  return { text: `WITH ${ctes.join(',\n')}\nSELECT count(*)::int AS n FROM r`, values };
}

/** One statement: every index row of a resource (used when it is deleted). */
export function deleteIndexSql(resourceType: string, id: string): { text: string; values: unknown[] } {
  const ctes = TABLES.slice(1).map((t, i) => `d${i} AS (DELETE FROM ${t} WHERE resource_type = $1 AND id = $2)`);
  return { text: `WITH ${ctes.join(', ')} DELETE FROM ${TABLES[0]} WHERE resource_type = $1 AND id = $2`, values: [resourceType, id] };
}
