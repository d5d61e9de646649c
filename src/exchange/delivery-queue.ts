// The BullMQ delivery queues: one per destination organization, so each partner gets its own
// concurrency, rate limit and backlog (one slow or throttling partner never holds up another).
// Jobs carry the delivery id and destination only — never a resource body or identifier: the
// delivery row in PostgreSQL holds the references, the store holds the data.
import { Queue, type JobsOptions, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { ExchangeConfig } from '../config/env.js';
import { BACKOFF_TYPE, nextDelay } from './backoff.js';
import { jobIdOf, type DeliveryRow } from './outbox.js';

export interface DeliveryJobData {
  deliveryId: string;
  destination: string;
}

export interface DeliveryQueueOptions {
  redisUrl: string;
  prefix: string;
  attempts: number;
  /** Queue name per destination (default deliveryQueueName; subscription notifications use their own). */
  queueName?: (destination: string) => string;
}

/** What a queue needs of an outbox row: delivery rows and notification rows both have it. */
export type QueuedRow = Pick<DeliveryRow, 'id' | 'replays' | 'destination'>;

/**
 * BullMQ Worker options for one destination's queue, the same for deliveries and subscription
 * notifications: a blocking connection of its own (retrying forever, as BullMQ requires; pushed
 * onto `connections` for closing), per-destination concurrency and rate limit, stalled-job
 * recovery, and the exchange's backoff (exponential with jitter, Retry-After honoured).
 */
export function destinationWorkerOptions(config: ExchangeConfig, redisUrl: string, connections: Redis[]): WorkerOptions {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined);
  connections.push(connection);
  return {
    connection,
    prefix: config.queuePrefix,
    concurrency: config.concurrencyPerDestination,
    limiter: config.ratePerSecond ? { max: config.ratePerSecond, duration: 1000 } : undefined,
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string, err?: Error) =>
        type === BACKOFF_TYPE ? nextDelay(attemptsMade, err, { baseMs: config.backoffMs, maxMs: config.backoffMaxMs, retryAfterMaxMs: config.retryAfterMaxMs }) : 0,
    },
  };
}

export const deliveryQueueName = (destination: string): string => `exchange-delivery-${destination}`;

export class DeliveryQueues {
  private readonly queues = new Map<string, Queue<DeliveryJobData>>();
  private redis?: Redis;

  constructor(private readonly opts: DeliveryQueueOptions) {}

  /**
   * Opened on first use. No offline queue: while Redis is down an add fails at once, so the
   * dispatcher leaves the outbox rows pending instead of buffering them in memory.
   */
  queue(destination: string): Queue<DeliveryJobData> {
    let q = this.queues.get(destination);
    if (!q) {
      this.redis ??= new Redis(this.opts.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
      this.redis.on('error', () => undefined);
      q = new Queue<DeliveryJobData>((this.opts.queueName ?? deliveryQueueName)(destination), { connection: this.redis, prefix: this.opts.prefix });
      q.on('error', () => undefined);
      this.queues.set(destination, q);
    }
    return q;
  }

  jobOptions(row: Pick<DeliveryRow, 'id' | 'replays'>): JobsOptions {
    return {
      // jobId from the row: re-adding a row the dispatcher already queued (it crashed before
      // marking it) is a no-op while the job exists; a replay gets a new id.
      jobId: jobIdOf(row),
      attempts: this.opts.attempts,
      backoff: { type: BACKOFF_TYPE },
      removeOnComplete: { count: 1000 },
      // Failed jobs are the dead letters bull-board shows; the delivery log keeps the rest.
      removeOnFail: { count: 10000 },
    };
  }

  async add(rows: QueuedRow[]): Promise<void> {
    const byDestination = new Map<string, QueuedRow[]>();
    for (const r of rows) byDestination.set(r.destination, [...(byDestination.get(r.destination) ?? []), r]);
    for (const [destination, list] of byDestination) {
      await this.queue(destination).addBulk(
        list.map((r) => ({ name: 'deliver', data: { deliveryId: r.id, destination }, opts: this.jobOptions(r) })),
      );
    }
  }

  /** Removes a replayed delivery's old failed job, so bull-board and the failed set stay truthful. */
  async removeJob(destination: string, jobId: string): Promise<void> {
    await this.queue(destination).remove(jobId).catch(() => 0);
  }

  async counts(destinations: string[]): Promise<{ destination: string; counts: Record<string, number> }[]> {
    const out = [];
    for (const d of destinations) {
      out.push({ destination: d, counts: await this.queue(d).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children') });
    }
    return out;
  }

  all(destinations: string[]): Queue<DeliveryJobData>[] {
    return destinations.map((d) => this.queue(d));
  }

  async close(): Promise<void> {
    for (const q of this.queues.values()) await q.close().catch(() => undefined);
    this.queues.clear();
    this.redis?.disconnect();
    this.redis = undefined;
  }
}
