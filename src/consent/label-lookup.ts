// Labels already stored, read inside the write transaction: of resources a new resource refers
// to (propagation), and of the version being replaced (labels are sticky).
import type { Coding } from '@medplum/fhirtypes';
import type { Sql } from '../fhir/store/database.js';

export type StoredLabels = Map<string, Coding[]>;

/** meta.security of the current, non-deleted versions of `keys` ("Type/id"). */
export async function storedLabels(tx: Sql, keys: string[]): Promise<StoredLabels> {
  const out: StoredLabels = new Map();
  if (!keys.length) return out;
  const types = keys.map((k) => k.split('/')[0]);
  const ids = keys.map((k) => k.split('/')[1]);
  const r = await tx.query<{ resource_type: string; id: string; security: Coding[] | string | null }>(
    `SELECT r.resource_type, r.id, r.content->'meta'->'security' AS security
     FROM resource r JOIN unnest($1::text[], $2::text[]) AS k(t, i) ON r.resource_type = k.t AND r.id = k.i
     WHERE NOT r.deleted`,
    [types, ids],
  );
  for (const row of r.rows) {
    const sec = typeof row.security === 'string' ? (JSON.parse(row.security) as Coding[]) : row.security;
    if (Array.isArray(sec)) out.set(`${row.resource_type}/${row.id}`, sec);
  }
  return out;
}
