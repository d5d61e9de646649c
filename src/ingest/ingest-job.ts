// Ingest job state in PostgreSQL (tables ingest_job and ingest_job_resource, migration 5): the
// one record of an upload that the API (status reads) and the ingest worker (progress, report)
// share. Counts, reasons and references only: the source data stays in the uploaded file.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { Sql } from '../fhir/store/database.js';
import type { IngestReport, RejectedRecord, WrittenResource } from './pipeline.js';
import type { SourceFormat } from './parse.js';

export type IngestStatus = 'accepted' | 'running' | 'completed' | 'failed';

export interface IngestJob {
  id: string;
  clientId: string;
  organizationId: string;
  layout: string;
  format: SourceFormat;
  status: IngestStatus;
  bytes: number;
  requestId?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  records: number;
  accepted: number;
  rejected: number;
  resources: IngestReport['resources'];
  rejects: RejectedRecord[];
  warnings: OperationOutcomeIssue[];
  failure?: string;
}

interface JobRow {
  id: string;
  client_id: string;
  organization_id: string;
  layout: string;
  format: SourceFormat;
  status: IngestStatus;
  bytes: string | number;
  request_id: string | null;
  created_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
  records: number;
  accepted: number;
  rejected: number;
  resources: unknown;
  rejects: unknown;
  warnings: unknown;
  failure: string | null;
}

const NO_RESOURCES = { created: 0, updated: 0, unchanged: 0, skipped: 0 };
const json = <T>(v: unknown, fallback: T): T => (v === null || v === undefined ? fallback : typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
const iso = (v: Date | string | null): string | undefined => (v === null ? undefined : new Date(v).toISOString());

function toJob(r: JobRow): IngestJob {
  return {
    id: r.id,
    clientId: r.client_id,
    organizationId: r.organization_id,
    layout: r.layout,
    format: r.format,
    status: r.status,
    bytes: Number(r.bytes),
    requestId: r.request_id ?? undefined,
    createdAt: new Date(r.created_at).toISOString(),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    records: r.records,
    accepted: r.accepted,
    rejected: r.rejected,
    resources: json(r.resources, NO_RESOURCES),
    rejects: json(r.rejects, []),
    warnings: json(r.warnings, []),
    failure: r.failure ?? undefined,
  };
}

export const ingestJobs = {
  async insert(
    sql: Sql,
    job: { id: string; clientId: string; organizationId: string; layout: string; format: SourceFormat; bytes: number; requestId?: string; createdAt: Date },
  ): Promise<void> {
    await sql.query(
      `INSERT INTO ingest_job (id, client_id, organization_id, layout, format, status, bytes, request_id, created_at)
       VALUES ($1, $2, $3, $4, $5, 'accepted', $6, $7, $8)`,
      [job.id, job.clientId, job.organizationId, job.layout, job.format, job.bytes, job.requestId ?? null, job.createdAt.toISOString()],
    );
  },

  async get(sql: Sql, id: string): Promise<IngestJob | undefined> {
    const r = await sql.query<JobRow>('SELECT * FROM ingest_job WHERE id = $1', [id]);
    return r.rows[0] ? toJob(r.rows[0]) : undefined;
  },

  /** accepted|running → running (a re-delivered job starts over: ingest is idempotent). */
  async start(sql: Sql, id: string, at: Date): Promise<boolean> {
    const r = await sql.query(
      `UPDATE ingest_job SET status = 'running', started_at = $2, records = 0, accepted = 0, rejected = 0, resources = NULL
       WHERE id = $1 AND status IN ('accepted', 'running') RETURNING id`,
      [id, at.toISOString()],
    );
    return r.rows.length === 1;
  },

  async progress(sql: Sql, id: string, report: IngestReport): Promise<void> {
    await sql.query(`UPDATE ingest_job SET records = $2, accepted = $3, rejected = $4, resources = $5::jsonb WHERE id = $1 AND status = 'running'`, [
      id,
      report.records,
      report.accepted,
      report.rejected,
      JSON.stringify(report.resources),
    ]);
  },

  async complete(sql: Sql, id: string, report: IngestReport, at: Date): Promise<void> {
    await sql.query(
      `UPDATE ingest_job SET status = 'completed', finished_at = $2, records = $3, accepted = $4, rejected = $5,
         resources = $6::jsonb, rejects = $7::jsonb, warnings = $8::jsonb
       WHERE id = $1`,
      [
        id,
        at.toISOString(),
        report.records,
        report.accepted,
        report.rejected,
        JSON.stringify(report.resources),
        JSON.stringify(report.rejects),
        JSON.stringify(report.warnings),
      ],
    );
  },

  /** The failure message is ours (never data). */
  async fail(sql: Sql, id: string, failure: string, at: Date): Promise<void> {
    await sql.query(`UPDATE ingest_job SET status = 'failed', failure = $2, finished_at = $3 WHERE id = $1 AND status <> 'completed'`, [
      id,
      failure.slice(0, 500),
      at.toISOString(),
    ]);
  },

  /** Records what one committed source record wrote; a later amend in the same file moves the version on. */
  async addWritten(sql: Sql, id: string, written: WrittenResource[], seq: number): Promise<void> {
    // One row per resource even when a batch names it twice (ON CONFLICT cannot touch a row twice).
    written = [...new Map(written.map((w) => [`${w.resourceType}/${w.id}`, w])).values()];
    if (!written.length) return;
    await sql.query(
      `INSERT INTO ingest_job_resource (job_id, seq, resource_type, id, version_id, outcome)
       SELECT $1, $2 + n - 1, t, i, v, o FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS w(t, i, v, o, n)
       ON CONFLICT (job_id, resource_type, id) DO UPDATE SET version_id = EXCLUDED.version_id,
         outcome = CASE WHEN ingest_job_resource.outcome = 'created' THEN 'created' ELSE EXCLUDED.outcome END`,
      [id, seq, written.map((w) => w.resourceType), written.map((w) => w.id), written.map((w) => w.versionId), written.map((w) => w.outcome)],
    );
  },

  async written(
    sql: Sql,
    id: string,
    page: { offset: number; count: number },
  ): Promise<{ total: number; items: { reference: string; versionId: string; outcome: string }[] }> {
    const total = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_job_resource WHERE job_id = $1', [id]);
    const r = await sql.query<{ resource_type: string; id: string; version_id: string; outcome: string }>(
      'SELECT resource_type, id, version_id, outcome FROM ingest_job_resource WHERE job_id = $1 ORDER BY seq LIMIT $2 OFFSET $3',
      [id, page.count, page.offset],
    );
    return {
      total: total.rows[0].n,
      items: r.rows.map((x) => ({ reference: `${x.resource_type}/${x.id}`, versionId: x.version_id, outcome: x.outcome })),
    };
  },
};
