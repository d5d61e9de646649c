// One notification attempt (Medplum-style exec…Job: the worker calls it, tests call it directly).
// Re-reads the notification and its subscription (a finished, off or deleted one is not sent),
// passes an event's focus through the consent filter for the owner (channel 'exchange': the
// consent engine writes the AuditEvent of the disclosure; a withheld focus is not notified, not
// even by id), builds the notification Bundle, gets a SMART token from the owner's outbound
// client and POSTs it to the registered endpoint. Failures are classified like exchange
// deliveries (errors/delivery-error.ts): permanent 4xx dead-letter, the rest retry with backoff
// and Retry-After. A handshake that succeeds makes the Subscription active; one that finally
// fails makes it error.
import { UnrecoverableError } from 'bullmq';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { OutboundClient } from '../auth/outbound-client.js';
import type { Recipient } from '../consent/filter.js';
import type { DisclosureFilter } from '../exchange/assemble-bundle.js';
import type { DeliveryJobData } from '../exchange/delivery-queue.js';
import { classifyFailure, RetryableDeliveryError } from '../exchange/errors/delivery-error.js';
import type { Database } from '../fhir/store/database.js';
import type { Repository } from '../fhir/store/repository.js';
import type { Logger } from '../logger.js';
import { notificationBundle } from './notification-bundle.js';
import { notificationStore, type NotificationRow, type SubscriptionState, type SubscriptionStatus } from './notification-store.js';

export interface NotificationDeps {
  db: Database;
  fhirBase: string;
  /** The owner's outbound SMART client, when its directory entry has an endpoint (tokenUrl). */
  clientFor(organizationId: string): OutboundClient | undefined;
  recipientFor(organizationId: string): Recipient | undefined;
  filter: DisclosureFilter;
  /** Server-made writes of Subscription.status (validated; no labels, no hooks). */
  statusRepo: Repository;
  requestTimeoutMs: number;
  logger: Logger;
  now?: () => Date;
  /** Called after each delivered notification (metrics, the bench). */
  onDelivered?: (row: NotificationRow) => void;
}

export type NotificationResult = 'delivered' | 'withheld' | 'skipped';

/** Sets the Subscription resource's status (a new version) and the server-side state. */
export async function setSubscriptionStatus(
  deps: Pick<NotificationDeps, 'db' | 'statusRepo'>,
  id: string,
  status: SubscriptionStatus,
  error?: string,
  from?: SubscriptionStatus,
): Promise<void> {
  // The state row decides (a client may have turned it off or deleted it meanwhile).
  if (!(await notificationStore.setStatus(deps.db, id, status, error, from)) || status === 'deleted') return;
  let sub: Subscription;
  try {
    sub = await deps.statusRepo.read<Subscription>('Subscription', id);
  } catch {
    return; // deleted meanwhile
  }
  if (sub.status === status && (status !== 'error' || sub.error === error)) return;
  const next: Subscription = { ...sub, status: status as Subscription['status'] };
  if (status === 'error' && error) next.error = error;
  else delete next.error;
  await deps.statusRepo.update(next);
}

async function versionAt(db: Database, focus: NonNullable<NotificationRow['focus']>): Promise<(Resource & { id: string }) | undefined> {
  const r = await db.query<{ content: string | null }>(
    'SELECT content::text AS content FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3',
    [focus.resourceType, focus.id, focus.versionId],
  );
  return r.rows[0]?.content ? (JSON.parse(r.rows[0].content) as Resource & { id: string }) : undefined;
}

function httpError(status: number, data: unknown, headers: Headers): Error {
  // The shape classifyFailure reads (fhir-kit-client's errors): response.status/data, config.headers.
  return Object.assign(new Error(`receiver answered HTTP ${status}`), { response: { status, data }, config: { headers } });
}

async function post(deps: NotificationDeps, sub: SubscriptionState, body: unknown): Promise<number> {
  const client = deps.clientFor(sub.owner);
  const timeoutMs = sub.timeoutSeconds ? sub.timeoutSeconds * 1000 : deps.requestTimeoutMs;
  const send = async (token?: string) =>
    fetch(sub.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      redirect: 'manual', // never follow a redirect away from the registered endpoint
      signal: AbortSignal.timeout(timeoutMs),
    });
  let token = client ? await client.getAccessToken() : undefined;
  let res = await send(token);
  if (res.status === 401 && client && token) {
    client.invalidate(token);
    token = await client.getAccessToken();
    res = await send(token);
  }
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status >= 300) {
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    throw httpError(res.status, data, res.headers);
  }
  return res.status;
}

export async function execNotificationJob(
  deps: NotificationDeps,
  data: DeliveryJobData,
  attempt: { attemptsMade: number; attempts: number },
): Promise<NotificationResult> {
  const { db } = deps;
  const row = await notificationStore.notification(db, data.deliveryId);
  if (!row || ['delivered', 'withheld', 'dead', 'skipped'].includes(row.state)) return 'skipped';
  const log = deps.logger.child({ notificationId: row.id, subscriptionId: row.subscriptionId, kind: row.kind });
  const sub = await notificationStore.get(db, row.subscriptionId);
  const sendable = sub && (row.kind === 'handshake' ? sub.status === 'requested' : sub.status === 'active');
  if (!sub || !sendable) {
    await notificationStore.finish(db, row.id, { state: 'skipped', error: `subscription ${sub?.status ?? 'gone'}` });
    return 'skipped';
  }
  await notificationStore.touch(db, row.id);
  const now = deps.now?.() ?? new Date();
  try {
    let focus: (Resource & { id: string }) | undefined;
    if (row.kind === 'event-notification' && row.focus) {
      const recipient = deps.recipientFor(sub.owner);
      const stored = await versionAt(db, row.focus);
      const permitted = recipient && stored ? (await deps.filter(recipient, [stored])).permitted : [];
      if (!permitted.length) {
        await notificationStore.finish(db, row.id, { state: 'withheld', error: 'consent filter withheld the focus' });
        log.info('notification withheld by the consent filter');
        return 'withheld';
      }
      focus = permitted[0] as Resource & { id: string };
    }
    const bundle = notificationBundle(
      {
        fhirBase: deps.fhirBase,
        subscriptionId: sub.id,
        topic: sub.topic,
        status: row.kind === 'handshake' ? 'requested' : sub.status,
        type: row.kind,
        eventsSinceSubscriptionStart: row.kind === 'event-notification' ? (row.eventNumber ?? sub.events) : sub.events,
        payload: sub.payload,
        events: row.kind === 'event-notification' ? [{ number: row.eventNumber ?? 0, timestamp: row.eventAt, focus: row.focus }] : [],
      },
      { now, focus },
    );
    const status = await post(deps, sub, bundle);
    await notificationStore.finish(db, row.id, { state: 'delivered', httpStatus: status });
    if (row.kind === 'handshake') await setSubscriptionStatus(deps, sub.id, 'active', undefined, 'requested');
    deps.onDelivered?.(row);
    log.info({ attempt: attempt.attemptsMade + 1 }, 'notification delivered');
    return 'delivered';
  } catch (err) {
    const f = err instanceof UnrecoverableError ? { retryable: false, message: err.message } : classifyFailure(err);
    const detail = f as { httpStatus?: number; retryAfterMs?: number };
    const last = !f.retryable || attempt.attemptsMade + 1 >= attempt.attempts;
    await notificationStore
      .finish(db, row.id, { state: last ? 'dead' : 'retrying', httpStatus: detail.httpStatus, error: f.message })
      .catch((e: Error) => log.warn({ err: e.message }, 'could not record the notification attempt'));
    if (last && row.kind === 'handshake') await setSubscriptionStatus(deps, sub.id, 'error', `handshake failed: ${f.message}`, 'requested').catch(() => undefined);
    log.warn({ attempt: attempt.attemptsMade + 1, status: detail.httpStatus, reason: f.message, dead: last }, 'notification attempt failed');
    if (!f.retryable) throw err instanceof UnrecoverableError ? err : new UnrecoverableError(f.message);
    throw new RetryableDeliveryError(f.message, detail.retryAfterMs);
  }
}
