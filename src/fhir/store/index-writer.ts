// Writes and removes the search-index rows of one resource: one multi-row INSERT per index
// table (unnest of parallel arrays), inside the caller's transaction.
import type { Sql } from './database.js';
import type { IndexRows } from './index-extraction.js';

const TABLES = ['idx_token', 'idx_string', 'idx_date', 'idx_reference', 'idx_number', 'idx_uri'];

export async function deleteIndexRows(tx: Sql, resourceType: string, id: string): Promise<void> {
  for (const t of TABLES) await tx.query(`DELETE FROM ${t} WHERE resource_type = $1 AND id = $2`, [resourceType, id]);
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export async function insertIndexRows(tx: Sql, resourceType: string, id: string, rows: IndexRows): Promise<void> {
  const n = (k: keyof IndexRows): number => rows[k].length;
  if (n('token')) {
    await tx.query(
      `INSERT INTO idx_token (resource_type, id, param, system, code)
       SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])`,
      [resourceType, id, rows.token.map((r) => r.param), rows.token.map((r) => r.system), rows.token.map((r) => r.code)],
    );
  }
  if (n('string')) {
    await tx.query(
      `INSERT INTO idx_string (resource_type, id, param, norm, exact)
       SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])`,
      [resourceType, id, rows.string.map((r) => r.param), rows.string.map((r) => r.norm), rows.string.map((r) => r.exact)],
    );
  }
  if (n('date')) {
    await tx.query(
      `INSERT INTO idx_date (resource_type, id, param, low, high)
       SELECT $1, $2, * FROM unnest($3::text[], $4::timestamptz[], $5::timestamptz[])`,
      [resourceType, id, rows.date.map((r) => r.param), rows.date.map((r) => iso(r.low)), rows.date.map((r) => iso(r.high))],
    );
  }
  if (n('reference')) {
    await tx.query(
      `INSERT INTO idx_reference (resource_type, id, param, target_type, target_id, target_version, url)
       SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
      [
        resourceType,
        id,
        rows.reference.map((r) => r.param),
        rows.reference.map((r) => r.targetType),
        rows.reference.map((r) => r.targetId),
        rows.reference.map((r) => r.targetVersion),
        rows.reference.map((r) => r.url),
      ],
    );
  }
  if (n('number')) {
    await tx.query(
      `INSERT INTO idx_number (resource_type, id, param, value, system, code)
       SELECT $1, $2, * FROM unnest($3::text[], $4::numeric[], $5::text[], $6::text[])`,
      [
        resourceType,
        id,
        rows.number.map((r) => r.param),
        rows.number.map((r) => String(r.value)),
        rows.number.map((r) => r.system),
        rows.number.map((r) => r.code),
      ],
    );
  }
  if (n('uri')) {
    await tx.query(
      `INSERT INTO idx_uri (resource_type, id, param, value) SELECT $1, $2, * FROM unnest($3::text[], $4::text[])`,
      [resourceType, id, rows.uri.map((r) => r.param), rows.uri.map((r) => r.value)],
    );
  }
}
