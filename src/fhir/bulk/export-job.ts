// Export job state in PostgreSQL (table bulk_export_job, migration 2): the one record of a
// kick-off that API processes (status, DELETE, files) and workers (progress, output) share.
import type { OrganizationType } from '../../config/partners.js';
import type { Sql } from '../store/database.js';
import type { ExportLevel, ExportParams } from './export-params.js';

export type ExportStatus = 'accepted' | 'running' | 'completed' | 'failed' | 'cancelled';
/** Statuses that hold one of the client's concurrent-export slots. */
export const ACTIVE_STATUSES: ExportStatus[] = ['accepted', 'running'];

export interface ExportRecipient {
  clientId: string;
  organizationId: string;
  organizationType: OrganizationType;
  purposeOfUse: string;
}

/** Everything the worker needs, fixed at kick-off. */
export interface ExportSpec extends ExportParams {
  level: ExportLevel;
  /** The types to export, after `_type`, the compartment and the scopes. */
  exportTypes: string[];
  recipient: ExportRecipient;
  /** Patient references from `patient` that are unknown or outside the recipient's relationship. */
  unmatchedPatients?: number;
  requestId?: string;
}

export interface OutputFile {
  type: string;
  /** File name in the job's storage folder. */
  file: string;
  count: number;
}

export interface ExportJob {
  id: string;
  clientId: string;
  organizationId: string;
  status: ExportStatus;
  requestUrl: string;
  spec: ExportSpec;
  transactionTime: string;
  expiresAt?: Date;
  lastPolledAt?: Date;
  progress?: string;
  output: OutputFile[];
  errorFiles: OutputFile[];
}

interface JobRow {
  id: string;
  client_id: string;
  organization_id: string;
  status: ExportStatus;
  request_url: string;
  params: ExportSpec | string;
  transaction_time: Date | string;
  expires_at: Date | string | null;
  last_polled_at: Date | string | null;
  progress: string | null;
  output: OutputFile[] | string | null;
  error_files: OutputFile[] | string | null;
}

const json = <T>(v: T | string | null, fallback: T): T => (v === null ? fallback : typeof v === 'string' ? (JSON.parse(v) as T) : v);
const date = (v: Date | string | null): Date | undefined => (v === null ? undefined : new Date(v));

function toJob(r: JobRow): ExportJob {
  return {
    id: r.id,
    clientId: r.client_id,
    organizationId: r.organization_id,
    status: r.status,
    requestUrl: r.request_url,
    spec: json(r.params, {} as ExportSpec),
    transactionTime: new Date(r.transaction_time).toISOString(),
    expiresAt: date(r.expires_at),
    lastPolledAt: date(r.last_polled_at),
    progress: r.progress ?? undefined,
    output: json(r.output, []),
    errorFiles: json(r.error_files, []),
  };
}

export const exportJobs = {
  async insert(sql: Sql, job: { id: string; requestUrl: string; spec: ExportSpec; transactionTime: string }): Promise<void> {
    await sql.query(
      `INSERT INTO bulk_export_job (id, client_id, organization_id, status, request_url, params, transaction_time)
       VALUES ($1, $2, $3, 'accepted', $4, $5::jsonb, $6)`,
      [job.id, job.spec.recipient.clientId, job.spec.recipient.organizationId, job.requestUrl, JSON.stringify(job.spec), job.transactionTime],
    );
  },

  async countActive(sql: Sql, clientId: string): Promise<number> {
    const r = await sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM bulk_export_job WHERE client_id = $1 AND status = ANY($2::text[])',
      [clientId, ACTIVE_STATUSES],
    );
    return r.rows[0].n;
  },

  async get(sql: Sql, id: string): Promise<ExportJob | undefined> {
    const r = await sql.query<JobRow>('SELECT * FROM bulk_export_job WHERE id = $1', [id]);
    return r.rows[0] ? toJob(r.rows[0]) : undefined;
  },

  async status(sql: Sql, id: string): Promise<ExportStatus | undefined> {
    const r = await sql.query<{ status: ExportStatus }>('SELECT status FROM bulk_export_job WHERE id = $1', [id]);
    return r.rows[0]?.status;
  },

  /** accepted|running → running; false when the job was cancelled, finished or removed. */
  async start(sql: Sql, id: string): Promise<boolean> {
    const r = await sql.query(
      `UPDATE bulk_export_job SET status = 'running', progress = 'started', output = NULL, error_files = NULL
       WHERE id = $1 AND status IN ('accepted', 'running') RETURNING id`,
      [id],
    );
    return r.rows.length === 1;
  },

  async progress(sql: Sql, id: string, text: string): Promise<void> {
    await sql.query(`UPDATE bulk_export_job SET progress = $2 WHERE id = $1 AND status = 'running'`, [id, text.slice(0, 99)]);
  },

  /** running → completed; false when it was cancelled meanwhile (the caller removes the files). */
  async complete(sql: Sql, id: string, output: OutputFile[], errorFiles: OutputFile[], finishedAt: Date, expiresAt: Date): Promise<boolean> {
    const r = await sql.query(
      `UPDATE bulk_export_job SET status = 'completed', progress = 'complete', output = $2::jsonb, error_files = $3::jsonb,
         finished_at = $4, expires_at = $5
       WHERE id = $1 AND status = 'running' RETURNING id`,
      [id, JSON.stringify(output), JSON.stringify(errorFiles), finishedAt.toISOString(), expiresAt.toISOString()],
    );
    return r.rows.length === 1;
  },

  /** The failure message is ours (never data); failed jobs expire like completed ones. */
  async fail(sql: Sql, id: string, failure: string, finishedAt: Date, expiresAt: Date): Promise<void> {
    await sql.query(
      `UPDATE bulk_export_job SET status = 'failed', failure = $2, finished_at = $3, expires_at = $4
       WHERE id = $1 AND status IN ('accepted', 'running')`,
      [id, failure.slice(0, 500), finishedAt.toISOString(), expiresAt.toISOString()],
    );
  },

  /** Any state → cancelled (frees the client's slot at once); false when already cancelled. */
  async cancel(sql: Sql, id: string, at: Date): Promise<boolean> {
    const r = await sql.query(
      `UPDATE bulk_export_job SET status = 'cancelled', finished_at = $2, expires_at = $2
       WHERE id = $1 AND status <> 'cancelled' RETURNING id`,
      [id, at.toISOString()],
    );
    await sql.query('DELETE FROM bulk_export_patient WHERE job_id = $1', [id]);
    await sql.query('DELETE FROM bulk_export_item WHERE job_id = $1', [id]);
    return r.rows.length === 1;
  },

  async touchPoll(sql: Sql, id: string, at: Date): Promise<void> {
    await sql.query('UPDATE bulk_export_job SET last_polled_at = $2 WHERE id = $1', [id, at.toISOString()]);
  },

  /** Jobs whose files may go: expired, failed or cancelled before `now`. */
  async expired(sql: Sql, now: Date, limit = 100): Promise<string[]> {
    const r = await sql.query<{ id: string }>('SELECT id FROM bulk_export_job WHERE expires_at < $1 ORDER BY expires_at LIMIT $2', [
      now.toISOString(),
      limit,
    ]);
    return r.rows.map((x) => x.id);
  },

  async remove(sql: Sql, id: string): Promise<void> {
    await sql.query('DELETE FROM bulk_export_patient WHERE job_id = $1', [id]);
    await sql.query('DELETE FROM bulk_export_item WHERE job_id = $1', [id]);
    await sql.query('DELETE FROM bulk_export_job WHERE id = $1', [id]);
  },
};
