// The HTTP adapter for ingest: `POST /ingest/{layout}` takes a source file (CSV or NDJSON),
// streams it to DATA_DIR/ingest, records the job and queues it, answering 202 with the job URL;
// `GET /ingest/jobs/{id}` reports state, counts, per-record errors and the resources written.
// Mounted behind the SMART bearer middleware. Who may upload (docs/mappers.md "Ingest over HTTP"):
// SMA and MCO organizations only, with scopes allowing create and update on every resource
// type the layout writes; the source organization is always the requester's, never the body's.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { IngestConfig } from '../config/env.js';
import type { OrganizationType } from '../config/partners.js';
import type { AccessCheck } from '../fhir/access.js';
import { outcome } from '../fhir/outcomes.js';
import { send } from '../fhir/routes.js';
import type { Database } from '../fhir/store/database.js';
import { LAYOUT_NAMES, type LayoutName } from '../mappers/index.js';
import { ingestJobs, type IngestJob } from './ingest-job.js';
import type { IngestQueue } from './ingest-queue.js';
import { LAYOUT_RESOURCE_TYPES } from './layout-resource-types.js';
import { ingestOutcomes } from './outcomes.js';
import type { SourceFormat } from './parse.js';
import { UploadTooLarge, type UploadStorage } from './upload-storage.js';

export interface IngestRequester {
  clientId: string;
  organizationId: string;
  organizationType: OrganizationType;
}

export interface IngestRoutesOptions {
  db: Database;
  queue: IngestQueue;
  storage: UploadStorage;
  config: IngestConfig;
  /** Absolute URL of `GET /ingest/jobs/{id}`. */
  jobUrl: (id: string) => string;
  accessFor: (res: Response) => AccessCheck;
  requesterFor: (res: Response) => IngestRequester;
  now?: () => Date;
}

/** Organization types that hold Medicaid source data (partner directory `type`). */
export const UPLOADING_ORGANIZATION_TYPES: readonly OrganizationType[] = ['SMA', 'MCO'];

const FORMATS: Record<string, SourceFormat> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'ndjson',
  'application/fhir+ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
};

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);

export function ingestRoutes(opts: IngestRoutesOptions): Router {
  const r = express.Router();
  const now = opts.now ?? (() => new Date());

  r.post(
    '/ingest/:layout',
    wrap(async (req, res) => {
      const layout = String(req.params.layout);
      if (!(LAYOUT_NAMES as readonly string[]).includes(layout)) throw ingestOutcomes.unknownLayout(layout, LAYOUT_NAMES);
      const requester = opts.requesterFor(res);
      authorize(requester, opts.accessFor(res), layout as LayoutName);
      const format = formatOf(req);
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > opts.config.maxUploadBytes) throw ingestOutcomes.tooLarge(opts.config.maxUploadBytes);

      const id = randomUUID();
      const saved = await opts.storage.save(id, req, opts.config.maxUploadBytes).catch((err: unknown) => {
        if (err instanceof UploadTooLarge) {
          res.setHeader('Connection', 'close');
          throw ingestOutcomes.tooLarge(err.limit);
        }
        throw err;
      });
      if (saved.bytes === 0) {
        await opts.storage.remove(id);
        throw ingestOutcomes.emptyUpload();
      }
      const requestId = res.locals.requestId as string | undefined;
      await ingestJobs.insert(opts.db, { id, ...requester, layout, format, bytes: saved.bytes, requestId, createdAt: now() });
      try {
        await opts.queue.add({ jobId: id, filePath: saved.path, requestId });
      } catch {
        await ingestJobs.fail(opts.db, id, 'The ingest queue was unavailable', now());
        await opts.storage.remove(id);
        throw ingestOutcomes.queueUnavailable();
      }
      const url = opts.jobUrl(id);
      send(res, {
        status: 202,
        headers: { 'Content-Location': url, Location: url },
        body: outcome('information', 'informational', `Ingest job ${id} accepted; poll ${url}`),
      });
    }),
  );

  r.get(
    '/ingest/jobs/:id',
    wrap(async (req, res) => {
      const requester = opts.requesterFor(res);
      const id = String(req.params.id);
      const job = /^[0-9a-f-]{36}$/.test(id) ? await ingestJobs.get(opts.db, id) : undefined;
      // Another organization's job answers exactly like an unknown one.
      if (!job || job.organizationId !== requester.organizationId) throw ingestOutcomes.jobNotFound();
      const page = pageOf(req);
      const written = await ingestJobs.written(opts.db, id, page);
      res.setHeader('Cache-Control', 'no-store');
      res.status(200).type('application/json').send(JSON.stringify(jobStatus(job, written, page, opts.jobUrl(id))));
    }),
  );
  return r;
}

/** SMA/MCO only; create and update on every type the layout writes (upserts by id make both). */
function authorize(requester: IngestRequester, access: AccessCheck, layout: LayoutName): void {
  if (!UPLOADING_ORGANIZATION_TYPES.includes(requester.organizationType)) throw ingestOutcomes.organizationNotAllowed(requester.organizationType);
  const types = LAYOUT_RESOURCE_TYPES[layout];
  const missing = types.filter((t) => !access.allows(t, 'create') || !access.allows(t, 'update'));
  if (missing.length) throw ingestOutcomes.scopeNotAllowed(layout, missing);
}

function formatOf(req: Request): SourceFormat {
  const q = typeof req.query.format === 'string' ? req.query.format : undefined;
  if (q === 'csv' || q === 'ndjson') return q;
  if (q !== undefined) throw ingestOutcomes.unsupportedFormat(`format=${q}`);
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const format = FORMATS[type];
  if (!format) throw ingestOutcomes.unsupportedFormat(req.headers['content-type']);
  return format;
}

const DEFAULT_PAGE = 1000;
const MAX_PAGE = 10000;

function pageOf(req: Request): { offset: number; count: number } {
  const n = (v: unknown, fallback: number) => (typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : fallback);
  return { offset: n(req.query._offset, 0), count: Math.min(n(req.query._count, DEFAULT_PAGE), MAX_PAGE) };
}

function jobStatus(
  job: IngestJob,
  written: Awaited<ReturnType<typeof ingestJobs.written>>,
  page: { offset: number; count: number },
  url: string,
) {
  const next = page.offset + written.items.length < written.total ? `${url}?_offset=${page.offset + written.items.length}&_count=${page.count}` : undefined;
  return {
    id: job.id,
    layout: job.layout,
    format: job.format,
    status: job.status,
    bytes: job.bytes,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    failure: job.failure,
    counts: {
      recordsRead: job.records,
      recordsStored: job.accepted,
      recordsRejected: job.rejected,
      resourcesWritten: job.resources.created + job.resources.updated,
      resources: job.resources,
    },
    // One entry per rejected record: its source lines and OperationOutcome issues (line, field, reason).
    errors: job.rejects.map((r) => ({ lines: r.lines, outcome: { resourceType: 'OperationOutcome', issue: r.issues } })),
    warnings: job.warnings,
    resources: { total: written.total, offset: page.offset, items: written.items, ...(next ? { next } : {}) },
  };
}
