// Status, cancel and file lookup (export.md "Bulk Data Status Request", "Delete Request",
// "Output File Request"). A job is visible only to the client that started it: any other
// caller, and any cancelled or expired job, gets the same 404.
import type { Readable } from 'node:stream';
import { allOk } from '../outcomes.js';
import type { FhirResponse } from '../router.js';
import { exportJobs, type ExportJob, type ExportRecipient } from './export-job.js';
import { bulkOutcomes } from './outcomes.js';
import type { BulkContext } from './bulk-context.js';

const JOB_ID = /^[0-9a-f-]{36}$/;

async function ownJob(ctx: BulkContext, who: ExportRecipient, id: string): Promise<ExportJob> {
  const job = JOB_ID.test(id) ? await exportJobs.get(ctx.db, id) : undefined;
  if (!job || job.clientId !== who.clientId || job.status === 'cancelled') throw bulkOutcomes.jobNotFound();
  if (job.expiresAt && job.expiresAt < ctx.now()) throw bulkOutcomes.jobNotFound();
  return job;
}

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
}

export async function exportStatus(ctx: BulkContext, who: ExportRecipient, id: string): Promise<FhirResponse & { manifest?: Manifest }> {
  const job = await ownJob(ctx, who, id);
  const now = ctx.now();
  // export.md: a server SHOULD answer clients polling too often with 429 and Retry-After.
  if (job.lastPolledAt && now.getTime() - job.lastPolledAt.getTime() < ctx.config.minPollIntervalMs) {
    throw bulkOutcomes.pollingTooFast(ctx.config.retryAfterSeconds);
  }
  await exportJobs.touchPoll(ctx.db, id, now);
  if (job.status === 'accepted' || job.status === 'running') {
    return {
      status: 202,
      headers: { 'X-Progress': (job.progress ?? 'queued').slice(0, 99), 'Retry-After': String(ctx.config.retryAfterSeconds) },
    };
  }
  if (job.status === 'failed') throw bulkOutcomes.exportFailed();
  const files = (list: ExportJob['output']): Manifest['output'] => list.map((f) => ({ type: f.type, url: ctx.fileUrl(id, f.file), count: f.count }));
  const manifest: Manifest = {
    transactionTime: job.transactionTime,
    request: job.requestUrl,
    requiresAccessToken: ctx.requiresAccessToken,
    output: files(job.output),
    error: files(job.errorFiles),
  };
  return { status: 200, headers: job.expiresAt ? { Expires: job.expiresAt.toUTCString() } : {}, manifest };
}

/** DELETE: the slot frees at once (status → cancelled in this request); files go now. */
export async function cancelExport(ctx: BulkContext, who: ExportRecipient, id: string): Promise<FhirResponse> {
  const job = await ownJob(ctx, who, id);
  if (!(await exportJobs.cancel(ctx.db, job.id, ctx.now()))) throw bulkOutcomes.jobNotFound();
  await ctx.queue.removeWaiting(job.id);
  await ctx.storage.removeJob(job.id);
  return { status: 202, body: allOk('Export cancelled; its files are deleted') };
}

export async function openExportFile(ctx: BulkContext, who: ExportRecipient, id: string, file: string): Promise<{ stream: Readable; size: number }> {
  const job = await ownJob(ctx, who, id);
  if (job.status !== 'completed') throw bulkOutcomes.fileNotFound();
  if (![...job.output, ...job.errorFiles].some((f) => f.file === file)) throw bulkOutcomes.fileNotFound();
  const opened = await ctx.storage.open(id, file);
  if (!opened) throw bulkOutcomes.fileNotFound();
  return opened;
}
