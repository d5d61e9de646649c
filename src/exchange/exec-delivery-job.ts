// One delivery attempt (Medplum-style exec…Job: the worker calls it, tests call it directly).
// Re-reads the delivery row (a finished delivery is not sent again), assembles the Bundle of
// current versions through the consent filter, gets a SMART token and POSTs the transaction to
// the partner with fhir-kit-client, then records the attempt. After a successful send it checks
// that no newer version was committed meanwhile — if one was, it sends again, so an older
// version can never be the last one a receiver gets. The consent engine writes the AuditEvent of
// each disclosure (channel 'exchange'); the delivery log records every attempt and outcome.
import { UnrecoverableError } from 'bullmq';
import type { Client } from 'fhir-kit-client';
import type { OutboundClient } from '../auth/outbound-client.js';
import type { Database } from '../fhir/store/database.js';
import type { Logger } from '../logger.js';
import { assembleBundle, currentVersions, type DisclosureFilter } from './assemble-bundle.js';
import type { DeliveryJobData } from './delivery-queue.js';
import { classifyFailure, RetryableDeliveryError } from './errors/delivery-error.js';
import type { ExchangeMetrics } from './exchange-metrics.js';
import { outbox, type DeliveryRow } from './outbox.js';
import { LockBusyError, type PatientLocks } from './patient-lock.js';

export interface DeliveryDeps {
  db: Database;
  clientFor(destination: string): OutboundClient | undefined;
  requestTimeoutMs: number;
  logger: Logger;
  metrics?: ExchangeMetrics;
  /** The consent seam (default: filterForRecipient with the process's engine, channel 'exchange'). */
  filter?: DisclosureFilter;
  /** Serialises deliveries per (destination, person) across workers (patient-lock.ts). */
  locks?: PatientLocks;
}

export type DeliveryResult = 'delivered' | 'withheld' | 'skipped';

const MAX_RESENDS = 3;

export async function execDeliveryJob(
  deps: DeliveryDeps,
  data: DeliveryJobData,
  attempt: { attemptsMade: number; attempts: number; requestId?: string },
): Promise<DeliveryResult> {
  const { db, logger } = deps;
  const startedAt = new Date();
  const row = await outbox.get(db, data.deliveryId);
  // Finished (or dead-lettered, and this is a stale copy of its job): nothing to do.
  if (!row || row.state === 'delivered' || row.state === 'withheld' || row.state === 'dead') return 'skipped';
  const log = logger.child({ deliveryId: row.id, destination: row.destination });
  const client = deps.clientFor(row.destination);
  try {
    if (!client) throw new UnrecoverableError(`no outbound client for ${row.destination} (no endpoint in the partner directory)`);
    // Under the per-person lock: two Bundles for one person must not race at the receiver.
    const send = async () => {
      await outbox.touch(db, row.id);
      return sendCurrentVersions(deps, row, client, startedAt);
    };
    const sent = deps.locks ? await deps.locks.withLock(row.destination, row.patientId, send) : await send();
    if (sent === 'withheld') return 'withheld';
    await outbox.finishAttempt(db, row.id, { startedAt, state: 'delivered', httpStatus: 200 });
    deps.metrics?.attempt(row.destination, 'delivered');
    deps.metrics?.delivery(row.destination, 'delivered');
    deps.metrics?.latency(row.destination, (Date.now() - Date.parse(row.createdAt)) / 1000);
    log.info({ attempt: attempt.attemptsMade + 1, resources: sent.length }, 'delivered');
    return 'delivered';
  } catch (err) {
    const f = err instanceof UnrecoverableError ? { retryable: false, message: err.message } : err instanceof RetryableDeliveryError ? { retryable: true, message: err.message, retryAfterMs: err.retryAfterMs } : err instanceof LockBusyError ? { retryable: true, message: err.message } : classifyFailure(err);
    const detail = f as { httpStatus?: number; outcome?: import('@medplum/fhirtypes').OperationOutcome; retryAfterMs?: number };
    const last = !f.retryable || attempt.attemptsMade + 1 >= attempt.attempts;
    await outbox
      .finishAttempt(db, row.id, { startedAt, state: last ? 'dead' : 'retrying', httpStatus: detail.httpStatus, error: f.message, outcome: detail.outcome })
      .catch((e: Error) => log.warn({ err: e.message }, 'could not record the delivery attempt'));
    deps.metrics?.attempt(row.destination, last ? 'dead' : 'retry');
    if (last) deps.metrics?.delivery(row.destination, 'dead');
    log.warn({ attempt: attempt.attemptsMade + 1, status: detail.httpStatus, reason: f.message, dead: last }, 'delivery attempt failed');
    if (!f.retryable) throw err instanceof UnrecoverableError ? err : new UnrecoverableError(f.message);
    throw new RetryableDeliveryError(f.message, detail.retryAfterMs);
  }
}

/**
 * Assembles and POSTs the delivery's Bundle of current versions; sends again while newer
 * versions were committed during the send. Returns the Type/id@version sent, or 'withheld'.
 */
async function sendCurrentVersions(
  deps: DeliveryDeps,
  row: DeliveryRow,
  client: OutboundClient,
  startedAt: Date,
): Promise<string[] | 'withheld'> {
  const { db } = deps;
  for (let round = 0; ; round++) {
    const assembled = await assembleBundle(db, row, await outbox.items(db, row.id), deps.filter);
    if (assembled.routedPermitted === 0) {
      await outbox.finishAttempt(db, row.id, { startedAt, state: 'withheld', error: `consent filter withheld ${assembled.withheld} resource(s)` });
      deps.metrics?.attempt(row.destination, 'withheld');
      deps.metrics?.delivery(row.destination, 'withheld');
      deps.logger.info({ deliveryId: row.id, destination: row.destination }, 'delivery withheld by the consent filter');
      return 'withheld';
    }
    const body = assembled.bundle as unknown as Parameters<Client['transaction']>[0]['body'];
    await client.withFhirClient((c) => c.transaction({ body, options: { signal: AbortSignal.timeout(deps.requestTimeoutMs) } }));
    const keys = [...assembled.sent.keys()].map((k) => ({ resourceType: k.split('/')[0], resourceId: k.split('/')[1] }));
    const now = await currentVersions(db, keys);
    if (![...assembled.sent].some(([k, v]) => now.has(k) && now.get(k)!.versionId !== v)) {
      return [...assembled.sent].map(([k, v]) => `${k}@${v}`);
    }
    if (round + 1 >= MAX_RESENDS) throw new RetryableDeliveryError('resources changed during every send');
  }
}
