// The export worker: takes export jobs off the BullMQ queue and runs execExportJob; sweeps
// expired exports (files and rows). Runs in `lead-gateway worker`, or inside `serve` for the
// quick start. Medplum-style module: initExportWorker / (ExportQueue.add) / execExportJob.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { EXPORT_QUEUE, type ExportJobData } from './export-queue.js';
import { exportJobs } from './export-job.js';
import { execExportJob, type ExportDeps } from './exec-export-job.js';

export interface ExportWorkerDeps extends ExportDeps {
  redisUrl: string;
  /** How often expired exports are swept (ms); 0 turns the sweeper off. */
  sweepIntervalMs?: number;
}

export interface ExportWorker {
  worker: Worker<ExportJobData>;
  /** Stops taking jobs, lets running ones finish (or hand back on timeout), closes Redis. */
  close(): Promise<void>;
}

export function initExportWorker(deps: ExportWorkerDeps): ExportWorker {
  // BullMQ's blocking connection must retry forever (maxRetriesPerRequest: null).
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (err) => deps.logger.warn({ err: err.message }, 'export worker Redis connection error'));
  const worker = new Worker<ExportJobData>(
    EXPORT_QUEUE,
    async (job, _token, signal) => execExportJob(deps, job.data.exportId, signal),
    { connection, prefix: deps.config.queuePrefix, concurrency: deps.config.workerConcurrency },
  );
  worker.on('error', (err) => deps.logger.warn({ err: err.message }, 'export worker error'));
  const interval = deps.sweepIntervalMs ?? 60_000;
  const timer = interval > 0 ? setInterval(() => void sweepExpiredExports(deps).catch(() => undefined), interval) : undefined;
  timer?.unref();
  return {
    worker,
    async close() {
      if (timer) clearInterval(timer);
      await worker.close();
      connection.disconnect();
    },
  };
}

/** Removes the files and rows of exports past their expiry (completed, failed or cancelled). */
export async function sweepExpiredExports(deps: Pick<ExportDeps, 'db' | 'storage' | 'now'>): Promise<number> {
  const ids = await exportJobs.expired(deps.db, (deps.now ?? (() => new Date()))());
  for (const id of ids) {
    await deps.storage.removeJob(id);
    await exportJobs.remove(deps.db, id);
  }
  return ids.length;
}
