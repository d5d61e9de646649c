// One upload, start to finish: the body of the BullMQ ingest job, callable directly by tests.
// Re-reads the job row, streams the uploaded file through the pipeline (src/ingest/pipeline.ts)
// into the gateway's write path (labels, validation, outbox rows: src/write-path.ts) as the
// uploading organization, records progress, the report and the references written. A
// re-delivered job runs again from the start: ingest is idempotent (no new versions).
import { createReadStream } from 'node:fs';
import type { IngestConfig } from '../config/env.js';
import { medicaidPlansOf, type PartnerDirectory } from '../config/partners.js';
import type { Database } from '../fhir/store/database.js';
import type { Repository } from '../fhir/store/repository.js';
import type { Logger } from '../logger.js';
import { runAsSource } from '../exchange/write-source.js';
import { LAYOUT_NAMES, type LayoutName } from '../mappers/index.js';
import { ingestJobs } from './ingest-job.js';
import type { IngestLayouts } from './ingest-layouts.js';
import { ingest, type IngestReport, type WrittenResource } from './pipeline.js';
import type { UploadStorage } from './upload-storage.js';

export interface IngestDeps {
  db: Database;
  /** The gateway's write path (createWritePath): never a bare Repository. */
  repo: Repository;
  partners: PartnerDirectory;
  layouts: IngestLayouts;
  storage: UploadStorage;
  config: IngestConfig;
  logger: Logger;
  now?: () => Date;
}

export type IngestResult = 'completed' | 'skipped';

/** Progress is written at most this often (one UPDATE), references in batches of this many. */
const PROGRESS_MS = 1000;
const WRITTEN_BATCH = 500;

export async function execIngestJob(deps: IngestDeps, jobId: string): Promise<IngestResult> {
  const { db, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const job = await ingestJobs.get(db, jobId);
  if (!job || !(LAYOUT_NAMES as readonly string[]).includes(job.layout) || !(await ingestJobs.start(db, jobId, now()))) return 'skipped';
  const log = logger.child({ ingestJobId: jobId, requestId: job.requestId, layout: job.layout });
  const started = Date.now();
  const layoutName = job.layout as LayoutName;
  const org = deps.partners.findOrganization(job.organizationId);

  let seq = 0;
  let pending: WrittenResource[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    await ingestJobs.addWritten(db, jobId, batch, seq);
    seq += batch.length;
  };
  let lastProgress = Date.now();
  let progress: Promise<void> = Promise.resolve();

  const report: IngestReport = await runAsSource(job.organizationId, () =>
    ingest(createReadStream(deps.storage.pathOf(jobId), { highWaterMark: 1 << 20 }), {
      layout: deps.layouts.layouts[layoutName],
      format: job.format,
      repo: deps.repo,
      ctx: { sourceOrg: job.organizationId, sourceOrgName: org?.name ?? job.organizationId, fileName: `ingest-job-${jobId}`, now, medicaidPlans: medicaidPlansOf(deps.partners) },
      maxRecordBytes: deps.config.maxRecordBytes,
      store: { lanes: deps.config.storeLanes, records: deps.config.batchRecords },
      medicationRisk: layoutName === 'pharmacy-claims' ? deps.layouts.medicationRisk : undefined,
      onStored: async (written) => {
        pending.push(...written);
        if (pending.length >= WRITTEN_BATCH) await flush();
      },
      onRecord: (r) => {
        if (Date.now() - lastProgress < PROGRESS_MS) return;
        lastProgress = Date.now();
        progress = progress.then(() => ingestJobs.progress(db, jobId, r)).catch(() => undefined);
      },
    }),
  );
  await flush();
  await progress;
  await ingestJobs.complete(db, jobId, report, now());
  await deps.storage.remove(jobId);
  log.info({ records: report.records, accepted: report.accepted, rejected: report.rejected, ...report.resources, ms: Date.now() - started }, 'ingest completed');
  return 'completed';
}
