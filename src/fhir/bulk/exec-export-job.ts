// One export, start to finish: the body of the BullMQ job, callable directly by tests. Re-reads
// the job row, so a retried or re-delivered job starts over cleanly (idempotent), and stops when
// the job is cancelled (DELETE) — checked between pages, in whichever process holds the job.
//
// Memory stays flat: one page (BULK_PAGE_SIZE rows: a cursor FETCH on PostgreSQL, a keyset page
// on PGlite) at a time, written through a stream with backpressure; stored JSON text goes out as
// the consent filter returns it — the stored text, or with members cut — and is parsed only for
// `_elements` or when the filter must (parse + stringify would halve the throughput: perf-ceilings.md).
import type { Resource } from '@medplum/fhirtypes';
import type { BulkExportConfig } from '../../config/env.js';
import type { ConsentEngine } from '../../consent/engine.js';
import { filterStoredForRecipient, flushSeriesForRecipient, type DisclosureSeries, type Recipient } from '../../consent/filter.js';
import type { Logger } from '../../logger.js';
import { outcome } from '../outcomes.js';
import { applyElements } from '../summary.js';
import type { Database } from '../store/database.js';
import { typeFilterRequest } from './export-params.js';
import { exportJobs, type ExportJob, type OutputFile } from './export-job.js';
import { exportPageSql, exportStreamSql, selectItemsSql } from './export-query.js';
import type { ExportStorage } from './export-storage.js';
import { NdjsonFileWriter } from './ndjson-file-writer.js';
import type { TypeStore } from '../store/type-store.js';
import { typeStoreOf } from '../../type-stores.js';

export interface ExportDeps {
  db: Database;
  storage: ExportStorage;
  config: BulkExportConfig;
  /** FHIR base URL (absolute references inside `_typeFilter`). */
  fhirBase: string;
  logger: Logger;
  /** The consent engine; defaults to the process's (installed by the gateway or the worker CLI). */
  consent?: ConsentEngine;
  now?: () => Date;
}

export type ExportResult = 'completed' | 'cancelled' | 'skipped' | 'failed';

class Cancelled extends Error {}

export async function execExportJob(deps: ExportDeps, exportId: string, signal?: AbortSignal): Promise<ExportResult> {
  const { db, storage, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const job = await exportJobs.get(db, exportId);
  if (!job || !(await exportJobs.start(db, exportId))) return 'skipped';
  const log = logger.child({ exportId, requestId: job.spec.requestId });
  const started = Date.now();
  await storage.removeJob(exportId);
  // A re-delivered job starts over: items a crashed run selected are chosen again.
  await db.query('DELETE FROM bulk_export_item WHERE job_id = $1', [exportId]);
  // The job's people were just added to bulk_export_patient; without fresh statistics the planner
  // takes them for a handful and picks per-row index lookups for a whole population.
  if (db.kind === 'postgres') await db.query('ANALYZE bulk_export_patient');
  try {
    const output: OutputFile[] = [];
    const audits = new PendingAudits();
    // One accounting for the whole export: each person is listed (AuditEvent?patient=) by the
    // first AuditEvent that discloses their data, not by every one. An event covers at least
    // BULK_AUDIT_EVENT_RESOURCES (10,000) disclosed resources (several pages: fewer rows and
    // commits for the same record), lists all it disclosed and names the export
    // (DisclosureSeries). The Set holds the export's people's ids (~100 B each; it grows with the
    // number of distinct people, not with the resources). A re-delivered job starts a new series
    // (its events name the same export and list its people again).
    const series: DisclosureSeries = { id: `bulk-export/${exportId}`, listed: new Set(), eventSize: deps.config.auditEventResources };
    for (const [i, type] of job.spec.exportTypes.entries()) {
      output.push(...(await exportType(deps, job, type, `${i + 1}/${job.spec.exportTypes.length} types`, audits, series, signal)));
    }
    await audits.add(flushSeriesForRecipient(recipientOf(job), series, { engine: deps.consent, channel: 'bulk-export' }));
    // Every AuditEvent is committed before the files can be downloaded (fail closed).
    await audits.drain();
    const errorFiles = await writeErrorFile(deps, job);
    const finished = now();
    const expires = new Date(finished.getTime() + deps.config.fileTtlSeconds * 1000);
    if (!(await exportJobs.complete(db, exportId, output, errorFiles, finished, expires))) throw new Cancelled();
    await db.query('DELETE FROM bulk_export_patient WHERE job_id = $1', [exportId]);
    const count = output.reduce((n, f) => n + f.count, 0);
    log.info({ resources: count, files: output.length, ms: Date.now() - started }, 'export completed');
    return 'completed';
  } catch (err) {
    await storage.removeJob(exportId).catch(() => undefined);
    if (err instanceof Cancelled) {
      log.info('export cancelled');
      return 'cancelled';
    }
    // Our own message only: a database error can quote data it choked on.
    log.error({ err: { name: (err as Error)?.name } }, 'export failed');
    const finished = now();
    await exportJobs.fail(db, exportId, 'internal error', finished, new Date(finished.getTime() + deps.config.fileTtlSeconds * 1000));
    return 'failed';
  }
}

/**
 * The AuditEvents of pages already written, still being committed: an event is written while the
 * next pages are processed. At most `limit` in flight (memory stays flat: they are already sent);
 * a failed one fails the export. Sized when each event was indexed on the spot (an event of
 * Patient pages took the database longer than Node took for the next page); an event is now one
 * audit_event row (consent/audit.ts).
 */
class PendingAudits {
  private readonly pending: Promise<void>[] = [];
  constructor(private readonly limit = 8) {}

  async add(audited: Promise<void> | undefined): Promise<void> {
    if (!audited) return;
    this.pending.push(audited);
    while (this.pending.length > this.limit) await this.pending.shift();
  }

  async drain(): Promise<void> {
    while (this.pending.length) await this.pending.shift();
  }
}

async function exportType(
  deps: ExportDeps,
  job: ExportJob,
  type: string,
  of: string,
  audits: PendingAudits,
  series: DisclosureSeries,
  signal?: AbortSignal,
): Promise<OutputFile[]> {
  const { db, storage, config } = deps;
  const spec = job.spec;
  const filters = spec.typeFilters.filter((c) => c.startsWith(`${type}?`)).map(typeFilterRequest);
  const elements = spec.elements?.filter((e) => !e.includes('.') || e.startsWith(`${type}.`));
  const writer = new NdjsonFileWriter(storage, job.id, type, config.maxFileBytes);
  let total = 0;
  let lastProgress = Date.now();
  const input = {
    jobId: job.id,
    resourceType: type,
    since: spec.since,
    transactionTime: job.transactionTime,
    typeFilters: filters,
    baseUrl: deps.fhirBase,
  };
  const onPage = async (rows: ExportRow[]): Promise<void> => {
    total += await writePage(deps, writer, job, type, rows, audits, series, elements);
    if (Date.now() - lastProgress > 1000) {
      lastProgress = Date.now();
      await exportJobs.progress(db, job.id, `${of}; ${type}: ${total} resources`);
    }
  };
  const cancelled = async (): Promise<boolean> => signal?.aborted === true || (await exportJobs.status(db, job.id)) !== 'running';
  try {
    const store = typeStoreOf(type);
    if (store) await streamTypeStore(db, store, input, config.pageSize, cancelled, onPage);
    else if (db.kind === 'postgres') await streamWithCursor(db, exportStreamSql(input), config.pageSize, cancelled, onPage);
    else await streamWithKeyset(db, input, config.pageSize, cancelled, onPage);
    deps.logger.debug({ exportId: job.id, type, resources: total }, 'export type written');
    return await writer.close();
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  }
}

/** A stored resource as the export reads it: id, jsonb text, disclosure facts (where kept). */
type ExportRow = { id: string; content: string; facts: string | null };
type Page = (rows: ExportRow[]) => Promise<void>;

/** Cursor pages requested ahead of the one being written. */
const PREFETCH = 2;

/**
 * PostgreSQL: one server-side cursor per type, fetched a page at a time in a transaction that
 * holds one pool connection (and one snapshot) for the type.
 */
async function streamWithCursor(db: Database, q: { text: string; values: unknown[] }, pageSize: number, cancelled: () => Promise<boolean>, onPage: Page): Promise<void> {
  await db.transaction(async (tx) => {
    // The cursor is read to the end: plan for all rows, not for the first 10 % (the default
    // cursor_tuple_fraction favours a nested loop of index lookups — measured 16 s against 9 s for
    // a hash semi-join over 900,000 Observations; docs/benchmarks.md "Bulk Data export").
    await tx.query('SET LOCAL cursor_tuple_fraction = 1.0');
    await tx.query(`DECLARE bulk_export_cursor NO SCROLL CURSOR FOR ${q.text}`, q.values);
    const fetch = (): Promise<ExportRow[]> => {
      const p = tx.query<ExportRow>(`FETCH ${pageSize} FROM bulk_export_cursor`).then((r) => r.rows);
      p.catch(() => undefined); // awaited below; never an unhandled rejection while a page is written
      return p;
    };
    // The next pages are fetched while this one is filtered and written: FETCHes queue on the
    // connection, so the database always has one to work on (PREFETCH + 1 pages in memory).
    const ahead: Promise<ExportRow[]>[] = [];
    for (let i = 0; i < PREFETCH; i++) ahead.push(fetch());
    for (;;) {
      if (await cancelled()) throw new Cancelled();
      const rows = await (ahead.shift() as Promise<ExportRow[]>);
      if (!rows.length) break;
      const more = rows.length === pageSize;
      if (more) ahead.push(fetch());
      await onPage(rows);
      if (!more) break;
    }
    // FETCHes still queued after the last page return nothing; they finish before the COMMIT.
    await Promise.all(ahead);
  });
}

/**
 * PGlite: a cursor would hold its one connection for the whole export, so the type's ids go to
 * bulk_export_item in one query and are read back in keyset pages between other requests.
 */
async function streamWithKeyset(
  db: Database,
  input: Parameters<typeof selectItemsSql>[0],
  pageSize: number,
  cancelled: () => Promise<boolean>,
  onPage: Page,
): Promise<void> {
  const select = selectItemsSql(input);
  await db.query(select.text, select.values);
  try {
    await keysetPages(pageSize, cancelled, onPage, async (afterId) => {
      const q = exportPageSql({ jobId: input.jobId, resourceType: input.resourceType, afterId, limit: pageSize, transactionTime: input.transactionTime });
      return (await db.query<ExportRow>(q.text, q.values)).rows;
    });
  } finally {
    await db.query('DELETE FROM bulk_export_item WHERE job_id = $1 AND resource_type = $2', [input.jobId, input.resourceType]);
  }
}

/** A type kept in a table of its own (AuditEvent): its store's keyset pages, on either database. */
function streamTypeStore(db: Database, store: TypeStore, input: Parameters<typeof selectItemsSql>[0], pageSize: number, cancelled: () => Promise<boolean>, onPage: Page): Promise<void> {
  return keysetPages(pageSize, cancelled, onPage, async (afterId) => (await store.exportPage(db, { ...input, afterId, limit: pageSize })).map((r) => ({ ...r, facts: null })));
}

/** Pages in id order, each fetched after the last id of the one before, until a short one. */
async function keysetPages(pageSize: number, cancelled: () => Promise<boolean>, onPage: Page, fetchPage: (afterId: string) => Promise<ExportRow[]>): Promise<void> {
  let afterId = '';
  for (;;) {
    if (await cancelled()) throw new Cancelled();
    const rows = await fetchPage(afterId);
    if (!rows.length) return;
    afterId = rows[rows.length - 1].id;
    await onPage(rows);
    if (rows.length < pageSize) return;
  }
}

/**
 * Every resource passes the consent seam before it reaches a file. The seam takes the stored
 * texts and returns what may go, parsing only what it must (ConsentEngine.filterStored).
 */
async function writePage(
  deps: ExportDeps,
  writer: NdjsonFileWriter,
  job: ExportJob,
  type: string,
  rows: ExportRow[],
  audits: PendingAudits,
  series: DisclosureSeries,
  elements?: string[],
): Promise<number> {
  const { texts, audited } = await filterStoredForRecipient(
    recipientOf(job),
    rows.map((r) => ({ resourceType: type, content: r.content, facts: r.facts })),
    { engine: deps.consent, channel: 'bulk-export', deferAudit: true, series },
  );
  await audits.add(audited);
  const lines: string[] = [];
  for (const text of texts) {
    if (text === undefined) continue;
    lines.push(elements?.length ? JSON.stringify(applyElements(JSON.parse(text) as Resource, elements)) : text);
  }
  await writer.writeAll(lines);
  return lines.length;
}

/** Who the export discloses to, as the consent seam names a recipient. */
function recipientOf(job: ExportJob): Recipient {
  const { organizationId, purposeOfUse, clientId } = job.spec.recipient;
  return { organizationId, purposeOfUse, clientId };
}

/** One OperationOutcome per ignored parameter or unmatched patient list (export.md "lenient"). */
async function writeErrorFile(deps: ExportDeps, job: ExportJob): Promise<OutputFile[]> {
  const issues = job.spec.ignored.map((i) => outcome('warning', 'not-supported', `Parameter ${i.name} was ignored: ${i.reason}`, [i.name]));
  if (job.spec.unmatchedPatients) {
    issues.push(
      outcome('warning', 'not-found', `${job.spec.unmatchedPatients} patient reference(s) in "patient" are unknown or not available to this client`, ['patient']),
    );
  }
  if (!issues.length) return [];
  const writer = new NdjsonFileWriter(deps.storage, job.id, 'OperationOutcome', deps.config.maxFileBytes);
  for (const oo of issues) await writer.write(JSON.stringify(oo));
  return writer.close();
}
