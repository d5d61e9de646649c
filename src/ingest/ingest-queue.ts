// The BullMQ queue ingest jobs travel on. A job carries the job id, the upload's path and the
// request id (for logs), never data: the job row in PostgreSQL and the file hold the rest.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

export const INGEST_QUEUE = 'ingest';

export interface IngestJobData {
  jobId: string;
  filePath: string;
  requestId?: string;
}

export interface IngestQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix: tests give each suite its own. */
  prefix: string;
}

/** Opens the queue on first use (an API process that never receives an upload never connects). */
export class IngestQueue {
  private queue?: Queue<IngestJobData>;
  private redis?: Redis;

  constructor(private readonly opts: IngestQueueOptions) {}

  private open(): Queue<IngestJobData> {
    if (!this.queue) {
      this.redis = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
      this.redis.on('error', () => undefined);
      this.queue = new Queue<IngestJobData>(INGEST_QUEUE, { connection: this.redis, prefix: this.opts.prefix });
      this.queue.on('error', () => undefined);
    }
    return this.queue;
  }

  /** jobId = ingest job id: adding it twice is a no-op; a worker crash re-delivers it (ingest is idempotent). */
  async add(data: IngestJobData): Promise<void> {
    await this.open().add('ingest', data, {
      jobId: data.jobId,
      attempts: 2,
      backoff: { type: 'exponential', delay: 5000 },
      removeOnComplete: true,
      removeOnFail: 1000,
    });
  }

  async close(): Promise<void> {
    await this.queue?.close().catch(() => undefined);
    this.redis?.disconnect();
  }
}
