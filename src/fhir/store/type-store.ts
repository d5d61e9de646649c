// A resource type kept outside the resource tables, in a table of its own, and served read-only
// through the API: the Repository hands it the reads, searches and includes of its type and
// refuses writes (the gateway writes it itself); bulk export reads it through exportPage.
// AuditEvent is the one such type (consent/audit-events.ts): one row per disclosure, rendered as
// an AuditEvent when read.
import type { SearchRequest } from '../search/search-request.js';
import type { Sql } from './database.js';

export interface StoredText {
  id: string;
  content: string;
}

export interface TypeStore {
  readonly resourceType: string;
  /** The search parameters it answers, for the CapabilityStatement; others are refused (400). */
  readonly searchParams: readonly string[];
  /** Its reference parameters `_include` follows (references) and `_revinclude` finds it by (referring). */
  readonly includes: readonly string[];
  /** The only version (`1`: never changed), or undefined when absent. */
  read(sql: Sql, id: string): Promise<{ content: string; lastUpdated: string } | undefined>;
  /** A page of matches (count + 1 rows tell `hasNext`), and the total when the request asks for one. */
  search(sql: Sql, req: SearchRequest, baseUrl: string): Promise<{ matches: StoredText[]; total?: number; hasNext: boolean }>;
  /** `_include`: what the resources `ids` refer to through `param`. */
  references(sql: Sql, ids: string[], param: string): Promise<{ resourceType: string; id: string }[]>;
  /** `_revinclude`: its resources that refer to `targetType`/`targetIds` through `param`. */
  referring(sql: Sql, param: string, targetType: string, targetIds: string[]): Promise<StoredText[]>;
  /** Bulk export: a page, in id order, of those in the export's patients' compartment. */
  exportPage(sql: Sql, q: ExportPageQuery): Promise<StoredText[]>;
}

/** What bulk export asks of a type store (fhir/bulk/exec-export-job.ts). */
export interface ExportPageQuery {
  jobId: string;
  since?: string;
  transactionTime: string;
  /** `_typeFilter` criteria, OR-ed. */
  typeFilters: SearchRequest[];
  baseUrl: string;
  /** Keyset: ids after this one, in id order. */
  afterId: string;
  limit: number;
}
