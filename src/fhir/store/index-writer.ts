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
  /**
   * What readers of `content` will need to know, found when it was written (RepositoryOptions.
   * disclosureFacts). Kept in the row only if PostgreSQL prints the stored jsonb back as exactly
   * `content` (jsonb-text.ts): the facts' positions are positions in that text.
   */
  facts?: string | null;
}

/**
 * The row's disclosure_facts from a text parameter `raw` (the content as sent) and `facts`: the
 * facts when the jsonb made of `raw` prints back as `raw`, else NULL. `raw` must be typed text
 * everywhere in the statement: were it typed jsonb, `raw::text` would be the printed form itself
 * and every comparison true.
 */
const keptFacts = (raw: string, facts: string): string => `CASE WHEN ${facts} IS NOT NULL AND (${raw})::jsonb::text = ${raw} THEN ${facts} END`;

/**
 * One statement that writes a version: the resource row (inserted, or updated when `replace`),
 * its history row, and its search-index rows (old ones deleted when replacing). On PGlite every
 * statement has a fixed cost, so one statement instead of nine is most of the write throughput.
 * Sibling CTEs see the same snapshot: the DELETEs remove only the previous version's rows.
 * Returns `n = 0` when an insert found the id taken (ON CONFLICT DO NOTHING).
 */
export function writeVersionSql(v: VersionRow, rows: IndexRows, replace: boolean): { text: string; values: unknown[] } {
  const values: unknown[] = [v.resourceType, v.id, v.versionId, v.lastUpdated, v.content, v.facts ?? null];
  const add = (x: unknown): string => {
    values.push(x);
    return `$${values.length}`;
  };
  const facts = keptFacts('$5::text', '$6::text');
  const ctes: string[] = [
    replace
      ? `r AS (UPDATE resource SET version_id = $3, last_updated = $4, deleted = false, content = $5::text::jsonb, disclosure_facts = ${facts}
           WHERE resource_type = $1 AND id = $2 RETURNING 1)`
      : `r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content, disclosure_facts)
           VALUES ($1, $2, $3, $4, false, $5::text::jsonb, ${facts}) ON CONFLICT (resource_type, id) DO NOTHING RETURNING 1)`,
    `h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content)
       SELECT $1, $2, $3, $4, false, $5::text::jsonb FROM r)`,
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

export interface VersionWrite extends VersionRow {
  /** The row exists (locked by the caller): update it and replace its index rows; else insert. */
  replace: boolean;
  rows: IndexRows;
}

/**
 * One statement for several versions (an ingest record's resources): the same rows as
 * writeVersionSql for each, from arrays, so a record costs one round trip instead of one per
 * resource. Run unprepared: a generic plan would not know how few rows the arrays hold. Returns the rows written: an insert
 * whose id was taken meanwhile is missing from them (ON CONFLICT DO NOTHING), as with `n = 0`.
 */
export function writeVersionsSql(versions: VersionWrite[]): { text: string; values: unknown[] } {
  const values: unknown[] = [
    versions.map((v) => v.resourceType),
    versions.map((v) => v.id),
    versions.map((v) => v.versionId),
    versions.map((v) => v.lastUpdated),
    versions.map((v) => v.replace),
    // One JSON array: no escaping of each content as an element of a PostgreSQL array literal.
    // Parsed as json, not jsonb: json_array_elements gives each element's text as sent.
    `[${versions.map((v) => v.content).join(',')}]`,
    versions.map((v) => v.facts ?? null),
  ];
  const ctes: string[] = [
    `v AS (SELECT v.resource_type, v.id, v.version_id, v.last_updated, v.replace, c.raw::text::jsonb AS content,
             ${keptFacts('c.raw::text', 'v.given_facts')} AS facts
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::boolean[], $7::text[]) WITH ORDINALITY
             AS v(resource_type, id, version_id, last_updated, replace, given_facts, n)
           JOIN json_array_elements($6::json) WITH ORDINALITY AS c(raw, n) USING (n))`,
    `ins AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content, disclosure_facts)
             SELECT resource_type, id, version_id, last_updated, false, content, facts FROM v WHERE NOT replace
             ON CONFLICT (resource_type, id) DO NOTHING RETURNING resource_type, id)`,
    `upd AS (UPDATE resource r SET version_id = v.version_id, last_updated = v.last_updated, deleted = false, content = v.content,
               disclosure_facts = v.facts
             FROM v WHERE v.replace AND r.resource_type = v.resource_type AND r.id = v.id RETURNING r.resource_type, r.id)`,
    `w AS (SELECT resource_type, id FROM ins UNION ALL SELECT resource_type, id FROM upd)`,
    `h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content)
           SELECT v.resource_type, v.id, v.version_id, v.last_updated, false, v.content FROM v JOIN w USING (resource_type, id))`,
  ];
  TABLES.forEach((t, i) =>
    ctes.push(`d${i} AS (DELETE FROM ${t} x USING v WHERE v.replace AND x.resource_type = v.resource_type AND x.id = v.id)`),
  );
  ctes.push(...indexInsertCtes(versions, values));
  return { text: `WITH ${ctes.join(',\n')}\nSELECT resource_type, id FROM w`, values };
}

/**
 * The index rows of `versions` as one INSERT CTE per index table, from parallel arrays appended
 * to `values`; each joins `w` (resource_type, id of the versions actually written), so an insert
 * that found its id taken writes no index rows. Every table has its CTE, rows or not: the text
 * depends only on where the arrays start, so a statement built on it can be prepared.
 */
function indexInsertCtes(versions: (VersionRow & { rows: IndexRows })[], values: unknown[]): string[] {
  const ctes: string[] = [];
  const add = (x: unknown): string => {
    values.push(x);
    return `$${values.length}`;
  };
  const ins = (name: string, table: string, cols: string[], arrays: [(r: never) => unknown, string][], pick: (v: VersionRow & { rows: IndexRows }) => unknown[]): void => {
    const owner: [string[], string[]] = [[], []];
    const cells: unknown[][] = arrays.map(() => []);
    for (const v of versions) {
      for (const row of pick(v)) {
        owner[0].push(v.resourceType);
        owner[1].push(v.id);
        arrays.forEach(([get], k) => cells[k].push(get(row as never)));
      }
    }
    const args = [`${add(owner[0])}::text[]`, `${add(owner[1])}::text[]`, ...arrays.map(([, type], k) => `${add(cells[k])}::${type}[]`)].join(', ');
    ctes.push(
      `${name} AS (INSERT INTO ${table} (resource_type, id, ${cols.join(', ')})
        SELECT x.resource_type, x.id, ${cols.map((c) => `x.${c}`).join(', ')} FROM unnest(${args}) AS x(resource_type, id, ${cols.join(', ')})
        JOIN w USING (resource_type, id))`,
    );
  };
  type Tk = IndexRows['token'][number];
  type St = IndexRows['string'][number];
  type Dt = IndexRows['date'][number];
  type Rf = IndexRows['reference'][number];
  type Nm = IndexRows['number'][number];
  type Ur = IndexRows['uri'][number];
  ins('i_token', 'idx_token', ['param', 'system', 'code'], [[(r: Tk) => r.param, 'text'], [(r: Tk) => r.system, 'text'], [(r: Tk) => r.code, 'text']], (v) => v.rows.token);
  ins('i_string', 'idx_string', ['param', 'norm', 'exact'], [[(r: St) => r.param, 'text'], [(r: St) => r.norm, 'text'], [(r: St) => r.exact, 'text']], (v) => v.rows.string);
  ins('i_date', 'idx_date', ['param', 'low', 'high'], [[(r: Dt) => r.param, 'text'], [(r: Dt) => iso(r.low), 'timestamptz'], [(r: Dt) => iso(r.high), 'timestamptz']], (v) => v.rows.date);
  ins(
    'i_ref',
    'idx_reference',
    ['param', 'target_type', 'target_id', 'target_version', 'url'],
    [[(r: Rf) => r.param, 'text'], [(r: Rf) => r.targetType, 'text'], [(r: Rf) => r.targetId, 'text'], [(r: Rf) => r.targetVersion, 'text'], [(r: Rf) => r.url, 'text']],
    (v) => v.rows.reference,
  );
  ins('i_number', 'idx_number', ['param', 'value', 'system', 'code'], [[(r: Nm) => r.param, 'text'], [(r: Nm) => String(r.value), 'numeric'], [(r: Nm) => r.system, 'text'], [(r: Nm) => r.code, 'text']], (v) => v.rows.number);
  ins('i_uri', 'idx_uri', ['param', 'value'], [[(r: Ur) => r.param, 'text'], [(r: Ur) => r.value, 'text']], (v) => v.rows.uri);
  return ctes;
}
