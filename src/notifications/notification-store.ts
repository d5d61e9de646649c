// The subscription state and notification outbox tables (migration 8): written in the data's
// transaction by the notification hook, moved into BullMQ by the exchange's OutboxDispatcher,
// updated by the notification worker. The only module that knows these tables. Rows hold
// references and states, never a resource body.
import { randomUUID } from 'node:crypto';
import type { Database, Sql } from '../fhir/store/database.js';
import type { SubscriptionSettings } from './subscription-request.js';
import { outboxTable } from '../exchange/outbox-table.js';

export type SubscriptionStatus = 'requested' | 'active' | 'error' | 'off' | 'deleted';
export type NotificationKind = 'handshake' | 'heartbeat' | 'event-notification';
export type NotificationState = 'pending' | 'queued' | 'retrying' | 'delivered' | 'dead' | 'withheld' | 'skipped';

export interface SubscriptionState {
  id: string;
  owner: string;
  topic: string;
  filterPatient?: string;
  endpoint: string;
  payload: SubscriptionSettings['payload'];
  heartbeatSeconds?: number;
  timeoutSeconds?: number;
  status: SubscriptionStatus;
  events: number;
  error?: string;
}

export interface NotificationRow {
  id: string;
  subscriptionId: string;
  destination: string;
  kind: NotificationKind;
  topic?: string;
  focus?: { resourceType: string; id: string; versionId: string };
  patientId?: string;
  eventNumber?: number;
  eventAt?: string;
  state: NotificationState;
  attempts: number;
  replays: number;
  createdAt: string;
  updatedAt: string;
  deliveredAt?: string;
}

interface RawSub {
  id: string;
  owner: string;
  topic: string;
  filter_patient: string | null;
  endpoint: string;
  payload: string;
  heartbeat_seconds: number | null;
  timeout_seconds: number | null;
  status: SubscriptionStatus;
  events: string | number;
  error: string | null;
}

interface RawNotification {
  id: string;
  subscription_id: string;
  destination: string;
  kind: NotificationKind;
  topic: string | null;
  focus_type: string | null;
  focus_id: string | null;
  focus_version: string | null;
  patient_id: string | null;
  event_number: string | number | null;
  event_at: Date | null;
  state: NotificationState;
  attempts: number;
  replays: number;
  created_at: Date;
  updated_at: Date;
  delivered_at: Date | null;
}

const iso = (d: Date | null): string | undefined => (d ? new Date(d).toISOString() : undefined);

function toSub(r: RawSub): SubscriptionState {
  return {
    id: r.id,
    owner: r.owner,
    topic: r.topic,
    filterPatient: r.filter_patient ?? undefined,
    endpoint: r.endpoint,
    payload: r.payload as SubscriptionSettings['payload'],
    heartbeatSeconds: r.heartbeat_seconds ?? undefined,
    timeoutSeconds: r.timeout_seconds ?? undefined,
    status: r.status,
    events: Number(r.events),
    error: r.error ?? undefined,
  };
}

function toRow(r: RawNotification): NotificationRow {
  return {
    id: r.id,
    subscriptionId: r.subscription_id,
    destination: r.destination,
    kind: r.kind,
    topic: r.topic ?? undefined,
    focus: r.focus_type && r.focus_id ? { resourceType: r.focus_type, id: r.focus_id, versionId: r.focus_version ?? '' } : undefined,
    patientId: r.patient_id ?? undefined,
    eventNumber: r.event_number === null ? undefined : Number(r.event_number),
    eventAt: iso(r.event_at),
    state: r.state,
    attempts: r.attempts,
    replays: r.replays,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    deliveredAt: iso(r.delivered_at),
  };
}

const INSERT_NOTIFICATION = `INSERT INTO notification (id, subscription_id, destination, kind, topic, focus_type, focus_id, focus_version, patient_id, event_number, event_at, state, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', clock_timestamp(), clock_timestamp())`;

export const notificationStore = {
  ...outboxTable<RawNotification, NotificationRow>('notification', toRow),

  /** Inside the Subscription's write transaction: its server-side state. */
  async saveSubscription(tx: Sql, id: string, owner: string, s: SubscriptionSettings, status: SubscriptionStatus): Promise<void> {
    await tx.query(
      `INSERT INTO notification_subscription (id, owner, topic, filter_patient, endpoint, payload, heartbeat_seconds, timeout_seconds, end_at, status, error, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, clock_timestamp(), clock_timestamp())
       ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, filter_patient = excluded.filter_patient, endpoint = excluded.endpoint,
         payload = excluded.payload, heartbeat_seconds = excluded.heartbeat_seconds, timeout_seconds = excluded.timeout_seconds,
         end_at = excluded.end_at, status = excluded.status, updated_at = clock_timestamp()`,
      [id, owner, s.topic, s.filterPatient ?? null, s.endpoint, s.payload, s.heartbeatSeconds ?? null, s.timeoutSeconds ?? null, s.end ?? null, status],
    );
  },

  async get(sql: Sql, id: string): Promise<SubscriptionState | undefined> {
    const r = await sql.query<RawSub>('SELECT * FROM notification_subscription WHERE id = $1', [id]);
    return r.rows[0] ? toSub(r.rows[0]) : undefined;
  },

  /** Owners of the given Subscription ids (one query for a page). */
  async owners(sql: Sql, ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map();
    const r = await sql.query<{ id: string; owner: string }>('SELECT id, owner FROM notification_subscription WHERE id = ANY($1::text[])', [ids]);
    return new Map(r.rows.map((x) => [x.id, x.owner]));
  },

  /** The caller's subscriptions that are not deleted ($status without ids). */
  async ownedBy(sql: Sql, owner: string): Promise<SubscriptionState[]> {
    const r = await sql.query<RawSub>(`SELECT * FROM notification_subscription WHERE owner = $1 AND status <> 'deleted' ORDER BY created_at, id`, [owner]);
    return r.rows.map(toSub);
  },

  /** Sets the status (only from `from` when given: a handshake never revives one turned off). */
  async setStatus(sql: Sql, id: string, status: SubscriptionStatus, error?: string, from?: SubscriptionStatus): Promise<boolean> {
    const r = await sql.query(
      `UPDATE notification_subscription SET status = $2, error = $3, updated_at = clock_timestamp(),
         next_heartbeat_at = CASE WHEN $2 = 'active' AND heartbeat_seconds IS NOT NULL
           THEN clock_timestamp() + heartbeat_seconds * interval '1 second' ELSE NULL END
       WHERE id = $1 AND status <> 'deleted' AND ($4::text IS NULL OR status = $4) RETURNING id`,
      [id, status, error ?? null, from ?? null],
    );
    return r.rows.length > 0;
  },

  /** Active subscriptions to `topic` whose filter lets this person through. */
  async activeFor(tx: Sql, topic: string, patientId?: string): Promise<SubscriptionState[]> {
    const r = await tx.query<RawSub>(
      `SELECT * FROM notification_subscription WHERE topic = $1 AND status = 'active'
         AND (filter_patient IS NULL OR filter_patient = $2) AND (end_at IS NULL OR end_at > clock_timestamp())`,
      [topic, patientId ?? null],
    );
    return r.rows.map(toSub);
  },

  /**
   * Inside the data's transaction: the next event number of the subscription (row lock until
   * commit, so numbers follow commit order and never repeat) and the notification row.
   */
  async recordEvent(
    tx: Sql,
    sub: SubscriptionState,
    e: { topic: string; focus: { resourceType: string; id: string; versionId: string }; patientId?: string; at: string },
  ): Promise<number> {
    const n = await tx.query<{ events: string }>(
      `UPDATE notification_subscription SET events = events + 1 WHERE id = $1 AND status = 'active' RETURNING events::text AS events`,
      [sub.id],
    );
    if (!n.rows[0]) return 0;
    const eventNumber = Number(n.rows[0].events);
    await tx.query(INSERT_NOTIFICATION, [randomUUID(), sub.id, sub.owner, 'event-notification', e.topic, e.focus.resourceType, e.focus.id, e.focus.versionId, e.patientId ?? null, eventNumber, e.at]);
    return eventNumber;
  },

  /** A handshake or heartbeat notification for one subscription. */
  async recordControl(tx: Sql, sub: { id: string; owner: string; topic: string }, kind: 'handshake' | 'heartbeat'): Promise<void> {
    await tx.query(INSERT_NOTIFICATION, [randomUUID(), sub.id, sub.owner, kind, sub.topic, null, null, null, null, null, null]);
  },

  /**
   * Heartbeats that are due: one notification per active subscription whose period has passed
   * since the last (SKIP LOCKED: several workers never both send one). Returns how many.
   */
  async scheduleHeartbeats(db: Database): Promise<number> {
    return db.transaction(async (tx) => {
      const due = await tx.query<{ id: string; owner: string; topic: string }>(
        `UPDATE notification_subscription SET next_heartbeat_at = clock_timestamp() + heartbeat_seconds * interval '1 second'
         WHERE id IN (SELECT id FROM notification_subscription WHERE status = 'active' AND next_heartbeat_at <= clock_timestamp()
                      ORDER BY next_heartbeat_at LIMIT 500 FOR UPDATE SKIP LOCKED)
         RETURNING id, owner, topic`,
      );
      for (const s of due.rows) await notificationStore.recordControl(tx, s, 'heartbeat');
      return due.rows.length;
    });
  },

  // (dispatch, unfinishedSince and requeueLost for OutboxDispatcher come from outboxTable above)

  async notification(sql: Sql, id: string): Promise<NotificationRow | undefined> {
    const r = await sql.query<RawNotification>('SELECT * FROM notification WHERE id = $1', [id]);
    return r.rows[0] ? toRow(r.rows[0]) : undefined;
  },

  async touch(sql: Sql, id: string): Promise<void> {
    await sql.query('UPDATE notification SET updated_at = clock_timestamp() WHERE id = $1', [id]);
  },

  /** One attempt finished: the notification's new state. */
  async finish(sql: Sql, id: string, a: { state: NotificationState; httpStatus?: number; error?: string }): Promise<void> {
    await sql.query(
      `UPDATE notification SET state = $2, attempts = attempts + 1, updated_at = clock_timestamp(),
         delivered_at = CASE WHEN $2 = 'delivered' THEN clock_timestamp() ELSE delivered_at END, last_status = $3, last_error = $4
       WHERE id = $1`,
      [id, a.state, a.httpStatus ?? null, a.error ?? null],
    );
  },

  async markDeadUnlessFinished(sql: Sql, id: string, error: string): Promise<void> {
    await sql.query(
      `UPDATE notification SET state = 'dead', last_error = $2, updated_at = clock_timestamp() WHERE id = $1 AND state NOT IN ('delivered', 'withheld', 'dead', 'skipped')`,
      [id, error],
    );
  },

  /** Notifications of one subscription (tests, the bench, operators). */
  async list(sql: Sql, subscriptionId: string): Promise<NotificationRow[]> {
    const r = await sql.query<RawNotification>('SELECT * FROM notification WHERE subscription_id = $1 ORDER BY created_at, id', [subscriptionId]);
    return r.rows.map(toRow);
  },
};
