// The SQL of an export, per resource type. Pure: no database access. On PostgreSQL one
// cursor query (exportStreamSql); on PGlite, whose one connection a cursor would hold, two steps:
//
// 1. selectItemsSql: one set-based INSERT … SELECT picks the type's resources into
//    bulk_export_item — in the compartment of the job's patients (bulk_export_patient) through
//    the compartment parameters, changed after `_since` and not after transactionTime, matching
//    the `_typeFilter` criteria compiled by the REST search SQL (filterSql), so a filter means the
//    same thing in both places. PostgreSQL picks a hash join once instead of per page.
// 2. exportPageSql: keyset pages over bulk_export_item's primary key joined to resource — a
//    plan that stays a range scan plus key lookups whatever the table statistics say.
import { filterSql } from '../search/search-sql.js';
import type { SearchRequest } from '../search/search-request.js';
import { patientCompartmentParams } from './patient-compartment.js';

class Binds {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

export interface SelectItemsInput {
  jobId: string;
  resourceType: string;
  since?: string;
  transactionTime: string;
  /** `_typeFilter` criteria for this type, OR-ed (export.md); empty means no filter. */
  typeFilters: SearchRequest[];
  /** FHIR base URL, for absolute references inside filters. */
  baseUrl: string;
}

/** Fills bulk_export_item for one type; returns nothing (count with a separate query). */
export function selectItemsSql(q: SelectItemsInput): { text: string; values: unknown[] } {
  const b = new Binds();
  const job = b.add(q.jobId);
  const conds = [
    `r.resource_type = ${b.add(q.resourceType)}`,
    'NOT r.deleted',
    // transactionTime: everything committed up to it, nothing after (export.md "Response - Complete Status").
    `r.last_updated <= ${b.add(q.transactionTime)}::timestamptz`,
  ];
  if (q.since) conds.push(`r.last_updated > ${b.add(q.since)}::timestamptz`);
  // Joins from the index side with constants only (no correlated subquery): one hash or merge
  // join over the type's compartment references, whatever the planner's statistics.
  let from: string;
  if (q.resourceType === 'Patient') {
    from = `bulk_export_patient bp JOIN resource r ON r.resource_type = 'Patient' AND r.id = bp.patient_id`;
    conds.push(`bp.job_id = ${job}`);
  } else {
    const params = patientCompartmentParams().get(q.resourceType) ?? [];
    from = `idx_reference c JOIN bulk_export_patient bp ON bp.job_id = ${job} AND bp.patient_id = c.target_id
      JOIN resource r ON r.resource_type = c.resource_type AND r.id = c.id`;
    conds.push(`c.resource_type = ${b.add(q.resourceType)}`, `c.param = ANY(${b.add(params)}::text[])`, `c.target_type = 'Patient'`);
  }
  if (q.typeFilters.length) {
    const alts = q.typeFilters.map((s) => {
      const parts = s.filters.map((f) => filterSql(f, 'r', b, q.baseUrl));
      return parts.length ? `(${parts.join(' AND ')})` : 'true';
    });
    conds.push(`(${alts.join(' OR ')})`);
  }
  const text = `INSERT INTO bulk_export_item (job_id, resource_type, id)
    SELECT DISTINCT ${job}, r.resource_type, r.id FROM ${from} WHERE ${conds.join(' AND ')} ON CONFLICT DO NOTHING`;
  return { text, values: b.values };
}

/**
 * PostgreSQL only: the type's resources as one query for a server-side cursor — the same
 * conditions as selectItemsSql, as an uncorrelated semi-join PostgreSQL runs once (hash), no id
 * table, no sort, no key lookups per page. Each resource once (IN, not a join).
 */
export function exportStreamSql(q: SelectItemsInput): { text: string; values: unknown[] } {
  const b = new Binds();
  const job = b.add(q.jobId);
  const conds = [`r.resource_type = ${b.add(q.resourceType)}`, 'NOT r.deleted', `r.last_updated <= ${b.add(q.transactionTime)}::timestamptz`];
  if (q.since) conds.push(`r.last_updated > ${b.add(q.since)}::timestamptz`);
  if (q.resourceType === 'Patient') {
    conds.push(`r.id IN (SELECT bp.patient_id FROM bulk_export_patient bp WHERE bp.job_id = ${job})`);
  } else {
    const params = patientCompartmentParams().get(q.resourceType) ?? [];
    conds.push(
      `r.id IN (SELECT c.id FROM idx_reference c JOIN bulk_export_patient bp ON bp.job_id = ${job} AND bp.patient_id = c.target_id
        WHERE c.resource_type = ${b.add(q.resourceType)} AND c.param = ANY(${b.add(params)}::text[]) AND c.target_type = 'Patient')`,
    );
  }
  if (q.typeFilters.length) {
    const alts = q.typeFilters.map((s) => {
      const parts = s.filters.map((f) => filterSql(f, 'r', b, q.baseUrl));
      return parts.length ? `(${parts.join(' AND ')})` : 'true';
    });
    conds.push(`(${alts.join(' OR ')})`);
  }
  return { text: `SELECT r.id, r.content::text AS content, r.disclosure_facts AS facts FROM resource r WHERE ${conds.join(' AND ')}`, values: b.values };
}

/** One page of the type's selected resources after `afterId`, as stored JSON text. */
export function exportPageSql(q: { jobId: string; resourceType: string; afterId: string; limit: number; transactionTime: string }): {
  text: string;
  values: unknown[];
} {
  return {
    text: `SELECT e.id, r.content::text AS content, r.disclosure_facts AS facts FROM bulk_export_item e
      JOIN resource r ON r.resource_type = e.resource_type AND r.id = e.id
      WHERE e.job_id = $1 AND e.resource_type = $2 AND e.id > $3 AND NOT r.deleted AND r.last_updated <= $4::timestamptz
      ORDER BY e.id LIMIT $5`,
    values: [q.jobId, q.resourceType, q.afterId, q.transactionTime, q.limit],
  };
}
