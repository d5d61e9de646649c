// The SQL of one export page: a resource type, keyset-paged by id, limited to the job's patients
// (bulk_export_patient) through the compartment parameters, to `_since` … transactionTime, and to
// the `_typeFilter` criteria — compiled by the REST search SQL (filterSql), so a filter means the
// same thing in both places. Pure: no database access.
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

export interface PageQueryInput {
  jobId: string;
  resourceType: string;
  /** Last id of the previous page ('' for the first). */
  afterId: string;
  limit: number;
  since?: string;
  transactionTime: string;
  /** `_typeFilter` criteria for this type, OR-ed (export.md); empty means no filter. */
  typeFilters: SearchRequest[];
  /** FHIR base URL, for absolute references inside filters. */
  baseUrl: string;
}

export function exportPageSql(q: PageQueryInput): { text: string; values: unknown[] } {
  const b = new Binds();
  const job = b.add(q.jobId);
  const conds = [
    `r.resource_type = ${b.add(q.resourceType)}`,
    `r.id > ${b.add(q.afterId)}`,
    'NOT r.deleted',
    // transactionTime: everything committed up to it, nothing after (export.md "Response - Complete Status").
    `r.last_updated <= ${b.add(q.transactionTime)}::timestamptz`,
  ];
  if (q.since) conds.push(`r.last_updated > ${b.add(q.since)}::timestamptz`);
  if (q.resourceType === 'Patient') {
    conds.push(`EXISTS (SELECT 1 FROM bulk_export_patient bp WHERE bp.job_id = ${job} AND bp.patient_id = r.id)`);
  } else {
    const params = patientCompartmentParams().get(q.resourceType) ?? [];
    conds.push(
      `EXISTS (SELECT 1 FROM idx_reference c JOIN bulk_export_patient bp ON bp.job_id = ${job} AND bp.patient_id = c.target_id
        WHERE c.resource_type = r.resource_type AND c.id = r.id AND c.param = ANY(${b.add(params)}::text[]) AND c.target_type = 'Patient')`,
    );
  }
  if (q.typeFilters.length) {
    const alts = q.typeFilters.map((s) => {
      const parts = s.filters.map((f) => filterSql(f, 'r', b, q.baseUrl));
      return parts.length ? `(${parts.join(' AND ')})` : 'true';
    });
    conds.push(`(${alts.join(' OR ')})`);
  }
  const text = `SELECT r.id, r.content::text AS content FROM resource r WHERE ${conds.join(' AND ')} ORDER BY r.id LIMIT ${b.add(q.limit)}`;
  return { text, values: b.values };
}
