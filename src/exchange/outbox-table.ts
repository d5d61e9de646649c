// The dispatcher's side of an outbox table (OutboxDispatcher, dispatcher.ts), one implementation
// for every table with the outbox columns (id, state pending | queued | retrying | …,
// created_at, queued_at, updated_at): exchange deliveries (exchange_delivery) and subscription
// notifications (notification). Only the table name and the row mapping differ.
import type { Database, Sql } from '../fhir/store/database.js';

export interface OutboxTableQueries<R> {
  /**
   * Claims up to `limit` pending rows (SKIP LOCKED: several dispatchers never take the same row),
   * runs `enqueue` on them and marks them queued in the same transaction: if enqueueing fails
   * (Redis down) the rows stay pending and are tried again. Returns how many.
   */
  dispatch(db: Database, limit: number, enqueue: (rows: R[]) => Promise<void>): Promise<number>;
  /** Rows BullMQ should hold a job for (queued or retrying) that have not moved for `olderThanMs`. */
  unfinishedSince(sql: Sql, olderThanMs: number, limit: number): Promise<R[]>;
  /** Back to pending (its job was lost with Redis's data), unless it moved meanwhile. */
  requeueLost(sql: Sql, id: string, updatedAt: string): Promise<boolean>;
}

export function outboxTable<Raw extends { id: string }, R>(table: 'exchange_delivery' | 'notification', toRow: (raw: Raw) => R): OutboxTableQueries<R> {
  return {
    async dispatch(db, limit, enqueue) {
      return db.transaction(async (tx) => {
        const r = await tx.query<Raw>(`SELECT * FROM ${table} WHERE state = 'pending' ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit]);
        if (!r.rows.length) return 0;
        await enqueue(r.rows.map(toRow));
        await tx.query(`UPDATE ${table} SET state = 'queued', queued_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = ANY($1::text[])`, [
          r.rows.map((x) => x.id),
        ]);
        return r.rows.length;
      });
    },
    async unfinishedSince(sql, olderThanMs, limit) {
      const r = await sql.query<Raw>(
        `SELECT * FROM ${table} WHERE state IN ('queued', 'retrying')
           AND updated_at < clock_timestamp() - ($1::text || ' milliseconds')::interval ORDER BY updated_at LIMIT $2`,
        [String(olderThanMs), limit],
      );
      return r.rows.map(toRow);
    },
    async requeueLost(sql, id, updatedAt) {
      const r = await sql.query(
        `UPDATE ${table} SET state = 'pending', updated_at = clock_timestamp() WHERE id = $1 AND state IN ('queued', 'retrying') AND updated_at < ($2::timestamptz + interval '1 millisecond') RETURNING id`,
        [id, updatedAt],
      );
      return r.rows.length > 0;
    },
  };
}
