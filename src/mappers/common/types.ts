// The contract between a layout's mapper and the ingest pipeline.
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';

export type RecordAction = 'new' | 'amend' | 'delete';

/** Where a record came from; names the Provenance agent and entity. */
export interface MapContext {
  /** Gateway organization id of the sender (partner directory id). */
  sourceOrg: string;
  /** Human-readable sender name (US Core Organization.name is required). */
  sourceOrgName: string;
  /** File name (or upload id) the record was read from. */
  fileName: string;
  /** Injected clock: mappers never read the system time themselves. */
  now: () => Date;
  /**
   * Medicaid managed care plan id (T-MSIS MC_PLAN_ID) → the partner MCO's organization id
   * (partner directory `medicaidPlanIds`): such a member's Medicaid Coverage names the MCO as payor.
   */
  medicaidPlans?: Record<string, string>;
}

/**
 * How the pipeline writes a resource:
 * - `upsert`: this record owns the resource; write by id, a new version only when content changed.
 * - `create-if-absent`: a shared resource (Patient, Practitioner, Organization) referenced by the
 *   record and owned by another layout or record; create it if missing, never overwrite it.
 */
export type WriteMode = 'upsert' | 'create-if-absent';

export interface MappedResource {
  resource: Resource & { id: string };
  mode: WriteMode;
}

export interface MappedRecord {
  layout: string;
  recordId: string;
  action: RecordAction;
  /** First source line of the record, for reports. */
  line: number;
  /** In write order: referenced resources before the resources that reference them. */
  resources: MappedResource[];
  /** Non-fatal findings (e.g. a supplied total that does not match the recomputed score). */
  issues: OperationOutcomeIssue[];
}

/** One parsed source row: field name → trimmed string value (empty cells removed). */
export type SourceRow = Record<string, string>;

export interface LineRow {
  line: number;
  row: SourceRow;
}

/** Result of mapping one source record: resources, or the reasons it was rejected. */
export type MapResult = { ok: true; record: MappedRecord } | { ok: false; issues: OperationOutcomeIssue[] };

/** What the ingest pipeline needs from a layout. Everything here is pure. */
export interface Layout {
  name: string;
  /** JSON Schema of one row. */
  schema: { properties: Record<string, unknown>; required?: string[] };
  /** Rows with the same key, consecutive in the file, form one source record; absent = one row per record. */
  recordKey?: (row: SourceRow) => string;
  /** Largest number of rows one record may have (memory bound while grouping). */
  maxRowsPerRecord?: number;
  checkHeader(columns: string[]): OperationOutcomeIssue[];
  checkRecord(row: SourceRow, line: number): OperationOutcomeIssue[];
  mapRecord(rows: LineRow[], ctx: MapContext): MapResult;
}
