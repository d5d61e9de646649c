// The outbox dispatcher: moves committed delivery rows (state pending) into BullMQ. Runs in the
// worker processes (several may run: SKIP LOCKED gives each row to one of them). While Redis is
// down, rows stay pending in PostgreSQL and nothing is lost; the next tick after Redis is back
// queues them.
import type { Database } from '../fhir/store/database.js';
import type { Logger } from '../logger.js';
import type { DeliveryQueues } from './delivery-queue.js';
import { outbox } from './outbox.js';

export interface DispatcherOptions {
  db: Database;
  queues: DeliveryQueues;
  logger: Logger;
  intervalMs: number;
  batchSize?: number;
}

export class OutboxDispatcher {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private failing = false;

  constructor(private readonly opts: DispatcherOptions) {}

  /** Moves every pending row now; returns how many were queued. Throws when Redis is down. */
  async dispatchOnce(): Promise<number> {
    const batch = this.opts.batchSize ?? 500;
    let total = 0;
    for (;;) {
      const n = await outbox.dispatch(this.opts.db, batch, (rows) => this.opts.queues.add(rows));
      total += n;
      if (n < batch || this.stopped) return total;
    }
  }

  start(): void {
    const tick = async (): Promise<void> => {
      try {
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
