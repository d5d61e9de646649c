// The BullMQ queue export jobs travel on. Jobs carry the export id (and request id for logs),
// never data: the job row in PostgreSQL holds the rest.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

export const EXPORT_QUEUE = 'bulk-export';

export interface ExportJobData {
  exportId: string;
  requestId?: string;
}

export interface ExportQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix: tests give each suite its own. */
  prefix: string;
}

/**
 * Opens the queue on first use: an API process that never receives a kick-off never connects,
 * and a Redis outage fails the kick-off (503) instead of the start-up.
 */
export class ExportQueue {
  private queue?: Queue<ExportJobData>;
  private redis?: Redis;

  constructor(private readonly opts: ExportQueueOptions) {}

  private open(): Queue<ExportJobData> {
    if (!this.queue) {
      this.redis = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
      this.redis.on('error', () => undefined);
      this.queue = new Queue<ExportJobData>(EXPORT_QUEUE, { connection: this.redis, prefix: this.opts.prefix });
      this.queue.on('error', () => undefined);
    }
    return this.queue;
  }

  /** jobId = exportId: adding the same export twice is a no-op. A worker crash re-delivers it (stalled-job recovery). */
  async add(data: ExportJobData): Promise<void> {
    await this.open().add('export', data, {
      jobId: data.exportId,
      attempts: 2,
      backoff: { type: 'exponential', delay: 5000 },
      removeOnComplete: true,
      removeOnFail: 1000,
    });
  }

  /** Removes a job that no worker holds yet (a held job stops itself between pages). */
  async removeWaiting(exportId: string): Promise<void> {
    if (!this.queue) return;
    await this.queue.remove(exportId).catch(() => 0);
  }

  async close(): Promise<void> {
    await this.queue?.close().catch(() => undefined);
    this.redis?.disconnect();
  }
}
