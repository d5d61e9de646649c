// The outbox dispatcher: moves committed delivery rows (state pending) into BullMQ. Runs in the
// worker processes (several may run: SKIP LOCKED gives each row to one of them). While Redis is
// down, rows stay pending in PostgreSQL and nothing is lost; the next tick after Redis is back
// queues them.
import type { Database } from '../fhir/store/database.js';
import type { Logger } from '../logger.js';
import type { DeliveryQueues, QueuedRow } from './delivery-queue.js';
import { jobIdOf, outbox } from './outbox.js';

/** An outbox table the dispatcher drains: exchange deliveries (outbox.ts) or subscription notifications. */
export interface OutboxSource<R extends QueuedRow & { updatedAt: string } = QueuedRow & { updatedAt: string }> {
  dispatch(db: Database, limit: number, enqueue: (rows: R[]) => Promise<void>): Promise<number>;
  unfinishedSince(db: Database, olderThanMs: number, limit: number): Promise<R[]>;
  requeueLost(db: Database, id: string, updatedAt: string): Promise<boolean>;
}

export interface DispatcherOptions {
  db: Database;
  queues: DeliveryQueues;
  logger: Logger;
  intervalMs: number;
  batchSize?: number;
  /**
   * A queued/retrying row whose job has not existed in Redis for this long is queued again:
   * Redis restarted without its data (no AOF, a failover) must not lose deliveries.
   */
  recoverAfterMs: number;
  /** The outbox table to drain (default: exchange deliveries). */
  outbox?: OutboxSource;
  /** Runs on every tick before dispatching (subscription heartbeats are scheduled here). */
  beforeTick?: () => Promise<unknown>;
}

export class OutboxDispatcher {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private failing = false;

  private readonly source: OutboxSource;

  constructor(private readonly opts: DispatcherOptions) {
    this.source = opts.outbox ?? outbox;
  }

  /** Moves every pending row now; returns how many were queued. Throws when Redis is down. */
  async dispatchOnce(): Promise<number> {
    const batch = this.opts.batchSize ?? 500;
    let total = 0;
    for (;;) {
      const n = await this.source.dispatch(this.opts.db, batch, (rows) => this.opts.queues.add(rows));
      total += n;
      if (n < batch || this.stopped) return total;
    }
  }

  /** Rows whose BullMQ job is gone (Redis lost its data) go back to pending; returns how many. */
  async recoverLostJobs(): Promise<number> {
    let recovered = 0;
    for (const row of await this.source.unfinishedSince(this.opts.db, this.opts.recoverAfterMs, 500)) {
      const job = await this.opts.queues.queue(row.destination).getJob(jobIdOf(row));
      if (job) continue;
      // Re-read the timestamp: the worker may have finished it between the query and now.
      if (await this.source.requeueLost(this.opts.db, row.id, row.updatedAt)) recovered++;
    }
    if (recovered) this.opts.logger.warn({ recovered }, 'exchange dispatcher: deliveries whose job was lost from Redis queued again');
    return recovered;
  }

  start(): void {
    let ticks = 0;
    const tick = async (): Promise<void> => {
      try {
        if (ticks++ % Math.max(1, Math.round(this.opts.recoverAfterMs / this.opts.intervalMs / 2)) === 0) await this.recoverLostJobs();
        await this.opts.beforeTick?.();
        await this.dispatchOnce();
        if (this.failing) this.opts.logger.info('exchange dispatcher: queueing again');
        this.failing = false;
      } catch (err) {
        // Logged once per outage, not every tick.
        if (!this.failing) this.opts.logger.warn({ err: (err as Error).message }, 'exchange dispatcher: cannot queue deliveries; they stay in the outbox');
        this.failing = true;
      }
    };
    const loop = (): void => {
      if (this.stopped) return;
      this.running = tick().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.opts.intervalMs);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
