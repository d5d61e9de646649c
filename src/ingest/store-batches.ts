// The store side of ingest: source records written several to a transaction, each in its own
// savepoint (Repository.inSavepoint), so a failing record rolls back only itself while the
// batch commits once; on PostgreSQL a few batches in flight at once. Records are spread over
// lanes by key (the record's Patient): one lane runs its batches in order, so a person's
// records are stored in file order. Lanes race only on shared create-if-absent resources
// (Organization, Practitioner): a batch that loses such a race (or a deadlock) runs again.
import { FhirError } from '../fhir/outcomes.js';
import type { Repository } from '../fhir/store/repository.js';

export interface StoreBatchOptions {
  /** Transactions in flight at once (1 on PGlite: one connection). */
  lanes: number;
  /** Records per transaction. */
  records: number;
  /** Resources per transaction: a batch closes at whichever limit comes first. */
  resources: number;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: FhirError };

export interface StoreUnit<T> {
  /** Units with the same key are stored in the order they were added. */
  key: string;
  /** Resources it writes (batch size). */
  size: number;
  /** The unit's writes, in its savepoint. A FhirError rejects the unit alone. */
  run(repo: Repository): Promise<T>;
  /** After the transaction holding the unit committed (or the unit was rolled back). */
  settled(result: Settled<T>): Promise<void> | void;
}

/** A write that lost a race with another lane: the batch runs again (not a rejection). */
export class RetryBatch extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RetryBatch';
  }
}

// unique_violation, serialization_failure, deadlock_detected.
const RETRY_CODES = new Set(['23505', '40001', '40P01']);
const MAX_ATTEMPTS = 8;

function retryable(err: unknown): boolean {
  return err instanceof RetryBatch || RETRY_CODES.has((err as { code?: string } | null)?.code ?? '');
}

interface Lane {
  units: StoreUnit<unknown>[];
  size: number;
  running: Promise<void>;
}

export class StoreBatches {
  private readonly lanes: Lane[];
  private failure: unknown;

  constructor(
    private readonly repo: Repository,
    private readonly opts: StoreBatchOptions,
  ) {
    this.lanes = Array.from({ length: Math.max(1, opts.lanes) }, () => ({ units: [], size: 0, running: Promise.resolve() }));
  }

  /** Queues a unit; waits when its lane already has a full batch in flight (memory stays bounded). */
  async add<T>(unit: StoreUnit<T>): Promise<void> {
    this.throwIfFailed();
    const lane = this.lanes[hash(unit.key) % this.lanes.length];
    lane.units.push(unit as StoreUnit<unknown>);
    lane.size += unit.size;
    if (lane.units.length >= this.opts.records || lane.size >= this.opts.resources) await this.dispatch(lane);
  }

  /** Stores everything queued and waits for it. */
  async drain(): Promise<void> {
    for (const lane of this.lanes) if (lane.units.length) await this.dispatch(lane);
    await Promise.all(this.lanes.map((l) => l.running));
    this.throwIfFailed();
  }

  private async dispatch(lane: Lane): Promise<void> {
    await lane.running; // the lane's previous batch first: per-key order
    this.throwIfFailed();
    const units = lane.units;
    lane.units = [];
    lane.size = 0;
    lane.running = this.store(units).catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async store(units: StoreUnit<unknown>[]): Promise<void> {
    const results = await this.commit(units);
    // Outside the retry: a committed batch is reported once, whatever a report callback throws.
    for (let i = 0; i < units.length; i++) await units[i].settled(results[i]);
  }

  private async commit(units: StoreUnit<unknown>[]): Promise<Settled<unknown>[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.repo.withTransaction(async (tx) => {
          const out: Settled<unknown>[] = [];
          for (const unit of units) {
            try {
              out.push({ ok: true, value: await tx.inSavepoint((r) => unit.run(r)) });
            } catch (err) {
              if (!(err instanceof FhirError)) throw err; // database down, a lost race, a bug: the batch
              out.push({ ok: false, error: err });
            }
          }
          return out;
        });
      } catch (err) {
        if (!retryable(err) || attempt >= MAX_ATTEMPTS) throw err;
        // The other lane's transaction commits meanwhile; jitter keeps two lanes from meeting again.
        await new Promise((res) => setTimeout(res, Math.random() * 20 * attempt));
      }
    }
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}
