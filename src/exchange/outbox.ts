// The outbox rows (exchange_delivery, exchange_delivery_item, exchange_attempt; migration 3):
// written inside the data's transaction by route-write.ts, moved into BullMQ by dispatcher.ts,
// updated by the delivery worker, read by `lead-gateway deliveries` and /metrics. The only
// module that knows these tables. Rows hold references and states, never a resource body.
import { randomUUID } from 'node:crypto';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Database, Sql } from '../fhir/store/database.js';
import { MAX_UNITS } from '../fhir/store/repository.js';
import type { Route } from './routing-rules.js';
import { outboxTable } from './outbox-table.js';

export type DeliveryState = 'pending' | 'queued' | 'retrying' | 'delivered' | 'dead' | 'withheld';
export const DELIVERY_STATES: DeliveryState[] = ['pending', 'queued', 'retrying', 'delivered', 'dead', 'withheld'];

export interface DeliveryRow {
  id: string;
  destination: string;
  sourceOrg: string;
  agreementId: string;
  purposeOfUse: string;
  patientId: string;
  dataClasses: string[];
  state: DeliveryState;
  attempts: number;
  replays: number;
  createdAt: string;
  queuedAt?: string;
  deliveredAt?: string;
  updatedAt: string;
  lastStatus?: number;
  lastError?: string;
  lastOutcome?: OperationOutcome;
}

export interface DeliveryItem {
  resourceType: string;
  resourceId: string;
  versionId: string;
}

export interface AttemptRow {
  attempt: number;
  startedAt: string;
  finishedAt: string;
  outcome: string;
  httpStatus?: number;
  error?: string;
}

interface RawRow {
  id: string;
  destination: string;
  source_org: string;
  agreement_id: string;
  purpose_of_use: string;
  patient_id: string;
  data_classes: string[] | string;
  state: DeliveryState;
  attempts: number;
  replays: number;
  created_at: Date;
  queued_at: Date | null;
  delivered_at: Date | null;
  updated_at: Date;
  last_status: number | null;
  last_error: string | null;
  last_outcome: OperationOutcome | string | null;
}

const iso = (d: Date | null): string | undefined => (d ? new Date(d).toISOString() : undefined);
const json = <T>(v: T | string | null): T | undefined => (v === null ? undefined : typeof v === 'string' ? (JSON.parse(v) as T) : v);

function toRow(r: RawRow): DeliveryRow {
  return {
    id: r.id,
    destination: r.destination,
    sourceOrg: r.source_org,
    agreementId: r.agreement_id,
    purposeOfUse: r.purpose_of_use,
    patientId: r.patient_id,
    dataClasses: json<string[]>(r.data_classes) ?? [],
    state: r.state,
    attempts: r.attempts,
    replays: r.replays,
    createdAt: iso(r.created_at)!,
    queuedAt: iso(r.queued_at),
    deliveredAt: iso(r.delivered_at),
    updatedAt: iso(r.updated_at)!,
    lastStatus: r.last_status ?? undefined,
    lastError: r.last_error ?? undefined,
    lastOutcome: json<OperationOutcome>(r.last_outcome),
  };
}

/** The BullMQ job id of a delivery: a replay gets a new one (the dead job stays inspectable). */
export function jobIdOf(row: { id: string; replays: number }): string {
  return row.replays ? `${row.id}.r${row.replays}` : row.id;
}

// One delivery per (transaction, destination, beneficiary): every routed resource a transaction
// commits for one person travels in one Bundle. txid_current() names the transaction. Ingest
// stores several source records per transaction, one savepoint unit each (Repository.inSavepoint):
// a unit gets a key of its own, negative so it never meets a plain txid, and a record's
// resources still travel in their own Bundle, as when each record had its own transaction.
const txIds = new WeakMap<Sql, Promise<string>>();
function txIdOf(tx: Sql): Promise<string> {
  let id = txIds.get(tx);
  if (!id) {
    id = (
      tx.unit === undefined
        ? tx.query<{ id: string }>('SELECT txid_current()::text AS id')
        : tx.query<{ id: string }>('SELECT (-(txid_current() * $1::bigint + $2::bigint))::text AS id', [MAX_UNITS, tx.unit])
    ).then((r) => r.rows[0].id);
    txIds.set(tx, id);
  }
  return id;
}

export const outbox = {
  ...outboxTable<RawRow, DeliveryRow>('exchange_delivery', toRow),

  /** Inside the data's transaction: the routing decision for one written resource. */
  async record(
    tx: Sql,
    input: { routes: Route[]; sourceOrg: string; patientId: string; dataClass: string; item: DeliveryItem },
  ): Promise<void> {
    const txId = await txIdOf(tx);
    for (const route of input.routes) {
      const r = await tx.query<{ id: string }>(
        `INSERT INTO exchange_delivery (id, tx_id, destination, source_org, agreement_id, purpose_of_use, patient_id, data_classes, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'pending', clock_timestamp(), clock_timestamp())
         ON CONFLICT (tx_id, destination, patient_id) DO UPDATE SET
           data_classes = CASE WHEN exchange_delivery.data_classes @> excluded.data_classes THEN exchange_delivery.data_classes
                               ELSE exchange_delivery.data_classes || excluded.data_classes END
         RETURNING id`,
        [randomUUID(), txId, route.destination, input.sourceOrg, route.agreementId, route.purposeOfUse, input.patientId, JSON.stringify([input.dataClass])],
      );
      await tx.query(
        `INSERT INTO exchange_delivery_item (delivery_id, resource_type, resource_id, version_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (delivery_id, resource_type, resource_id) DO UPDATE SET version_id = excluded.version_id`,
        [r.rows[0].id, input.item.resourceType, input.item.resourceId, input.item.versionId],
      );
    }
  },

  /** A worker has started on the row: lost-job recovery leaves it alone while it is fresh. */
  async touch(db: Sql, id: string): Promise<void> {
    await db.query('UPDATE exchange_delivery SET updated_at = clock_timestamp() WHERE id = $1', [id]);
  },

  async get(db: Sql, id: string): Promise<DeliveryRow | undefined> {
    const r = await db.query<RawRow>('SELECT * FROM exchange_delivery WHERE id = $1', [id]);
    return r.rows[0] ? toRow(r.rows[0]) : undefined;
  },

  async items(db: Sql, id: string): Promise<DeliveryItem[]> {
    const r = await db.query<{ resource_type: string; resource_id: string; version_id: string }>(
      'SELECT resource_type, resource_id, version_id::text AS version_id FROM exchange_delivery_item WHERE delivery_id = $1 ORDER BY resource_type, resource_id',
      [id],
    );
    return r.rows.map((x) => ({ resourceType: x.resource_type, resourceId: x.resource_id, versionId: x.version_id }));
  },

  async attemptsOf(db: Sql, id: string): Promise<AttemptRow[]> {
    const r = await db.query<{ attempt: number; started_at: Date; finished_at: Date; outcome: string; http_status: number | null; error: string | null }>(
      'SELECT * FROM exchange_attempt WHERE delivery_id = $1 ORDER BY started_at',
      [id],
    );
    return r.rows.map((x) => ({
      attempt: x.attempt,
      startedAt: iso(x.started_at)!,
      finishedAt: iso(x.finished_at)!,
      outcome: x.outcome,
      httpStatus: x.http_status ?? undefined,
      error: x.error ?? undefined,
    }));
  },

  /** Records one attempt and moves the delivery to its new state. */
  async finishAttempt(
    db: Database,
    id: string,
    a: { startedAt: Date; state: DeliveryState; httpStatus?: number; error?: string; outcome?: OperationOutcome },
  ): Promise<void> {
    await db.transaction(async (tx) => {
      const r = await tx.query<{ attempts: number }>(
        `UPDATE exchange_delivery SET state = $2, attempts = attempts + 1, updated_at = clock_timestamp(),
           delivered_at = CASE WHEN $2 = 'delivered' THEN clock_timestamp() ELSE delivered_at END,
           last_status = $3, last_error = $4, last_outcome = $5::jsonb
         WHERE id = $1 RETURNING attempts`,
        [id, a.state, a.httpStatus ?? null, a.error ?? null, a.outcome ? JSON.stringify(a.outcome) : null],
      );
      if (!r.rows[0]) return;
      const outcome = a.state === 'retrying' ? 'retry' : a.state;
      await tx.query(
        `INSERT INTO exchange_attempt (delivery_id, attempt, started_at, finished_at, outcome, http_status, error)
         VALUES ($1, $2, $3, clock_timestamp(), $4, $5, $6)`,
        [id, r.rows[0].attempts, a.startedAt.toISOString(), outcome, a.httpStatus ?? null, a.error ?? null],
      );
    });
  },

  /** A job BullMQ gave up on without our code finishing it (stalled too often). */
  async markDeadUnlessFinished(db: Sql, id: string, error: string): Promise<void> {
    await db.query(
      `UPDATE exchange_delivery SET state = 'dead', last_error = $2, updated_at = clock_timestamp()
       WHERE id = $1 AND state NOT IN ('delivered', 'withheld', 'dead')`,
      [id, error],
    );
  },

  /** Dead (or any unfinished) delivery back to pending with a new job id; false if delivered. */
  async replay(db: Sql, id: string): Promise<DeliveryRow | undefined> {
    const r = await db.query<RawRow>(
      `UPDATE exchange_delivery SET state = 'pending', replays = replays + 1, queued_at = NULL, updated_at = clock_timestamp()
       WHERE id = $1 AND state IN ('dead', 'retrying', 'queued', 'withheld') RETURNING *`,
      [id],
    );
    return r.rows[0] ? toRow(r.rows[0]) : undefined;
  },

  async list(
    db: Sql,
    f: { destination?: string; patientId?: string; state?: DeliveryState; since?: string; until?: string; limit?: number },
  ): Promise<DeliveryRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      values.push(v);
      where.push(sql.replace('?', `$${values.length}`));
    };
    if (f.destination) add('destination = ?', f.destination);
    if (f.patientId) add('patient_id = ?', f.patientId);
    if (f.state) add('state = ?', f.state);
    if (f.since) add('created_at >= ?', f.since);
    if (f.until) add('created_at < ?', f.until);
    values.push(f.limit ?? 100);
    const r = await db.query<RawRow>(
      `SELECT * FROM exchange_delivery ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id LIMIT $${values.length}`,
      values,
    );
    return r.rows.map(toRow);
  },

  async countsByDestinationAndState(db: Sql): Promise<{ destination: string; state: string; n: number }[]> {
    const r = await db.query<{ destination: string; state: string; n: number }>(
      'SELECT destination, state, count(*)::int AS n FROM exchange_delivery GROUP BY destination, state',
    );
    return r.rows;
  },
};
