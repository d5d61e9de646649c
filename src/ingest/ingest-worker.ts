// The ingest worker: takes ingest jobs off the BullMQ queue and runs execIngestJob. Runs in
// `lead-gateway worker`, or inside `serve --with-worker`. Medplum-style module:
// initIngestWorker / (IngestQueue.add) / execIngestJob.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ingestJobs } from './ingest-job.js';
import { INGEST_QUEUE, type IngestJobData } from './ingest-queue.js';
import { execIngestJob, type IngestDeps } from './exec-ingest-job.js';

export interface IngestWorkerDeps extends IngestDeps {
  redisUrl: string;
}

export interface IngestWorker {
  worker: Worker<IngestJobData>;
  close(): Promise<void>;
}

export function initIngestWorker(deps: IngestWorkerDeps): IngestWorker {
  // BullMQ's blocking connection must retry forever (maxRetriesPerRequest: null).
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (err) => deps.logger.warn({ err: err.message }, 'ingest worker Redis connection error'));
  const worker = new Worker<IngestJobData>(INGEST_QUEUE, async (job) => execIngestJob(deps, job.data.jobId), {
    connection,
    prefix: deps.config.queuePrefix,
    concurrency: deps.config.workerConcurrency,
  });
  worker.on('error', (err) => deps.logger.warn({ err: err.message }, 'ingest worker error'));
  // The last attempt failed (database down, a bug): the job row says so and the upload goes.
  worker.on('failed', (job, err) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    // The error's name only: a database message can quote the data.
    deps.logger.error({ ingestJobId: job.data.jobId, requestId: job.data.requestId, err: err.name }, 'ingest job failed');
    const at = (deps.now ?? (() => new Date()))();
    void ingestJobs
      .fail(deps.db, job.data.jobId, 'The ingest failed; upload the file again', at)
      .then(() => deps.storage.remove(job.data.jobId))
      .catch(() => undefined);
  });
  return {
    worker,
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
