// The notification worker, built from the exchange's pieces: the OutboxDispatcher draining the
// notification table (and scheduling heartbeats on each tick), DeliveryQueues with one
// `notification-<organization>` queue per subscriber organization, BullMQ workers with the
// exchange's backoff (Retry-After, exponential, jitter) and dead-lettering. Runs wherever the
// delivery worker runs (`lead-gateway worker`, `serve --with-worker`).
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ExchangeConfig, GatewayConfig } from '../config/env.js';
import { loadPartners, purposeOfUseOf, type PartnerDirectory } from '../config/partners.js';
import { loadGatewayKeys } from '../auth/gateway-keys.js';
import { createOutboundClients, type OutboundClient } from '../auth/outbound-client.js';
import type { Recipient } from '../consent/filter.js';
import type { DisclosureFilter } from '../exchange/assemble-bundle.js';
import { DeliveryQueues, destinationWorkerOptions, type DeliveryJobData } from '../exchange/delivery-queue.js';
import { OutboxDispatcher, type OutboxSource } from '../exchange/dispatcher.js';
import type { Database } from '../fhir/store/database.js';
import { Repository } from '../fhir/store/repository.js';
import { Validator } from '../fhir/validation/validator.js';
import { DEFAULT_PROFILES_DIR } from '../write-path.js';
import type { Logger } from '../logger.js';
import { execNotificationJob, type NotificationDeps } from './exec-notification-job.js';
import { notificationStore, type NotificationRow } from './notification-store.js';

export const notificationQueueName = (organizationId: string): string => `notification-${organizationId}`;

/** Organizations that can hold subscriptions: those with a registered notification endpoint. */
export function notificationDestinations(directory: PartnerDirectory): string[] {
  return directory.organizations.filter((o) => o.notificationEndpoints?.length).map((o) => o.id);
}

/** Who receives a notification, for the consent filter: the owner, with its registered purpose of use. */
export function recipientFor(directory: PartnerDirectory, organizationId: string): Recipient | undefined {
  const organization = directory.findOrganization(organizationId);
  if (!organization) return undefined;
  const client = organization.clients[0] ?? { clientId: `${organizationId}-notifications`, scopes: [] };
  return { organizationId, purposeOfUse: purposeOfUseOf({ organization, client }) };
}

export interface NotificationWorkerDeps {
  db: Database;
  config: ExchangeConfig;
  redisUrl: string;
  directory: PartnerDirectory;
  fhirBase: string;
  clients: Map<string, OutboundClient>;
  filter: DisclosureFilter;
  statusRepo: Repository;
  logger: Logger;
  /** Run the dispatcher (and heartbeat scheduling) in this process (default true). */
  dispatch?: boolean;
  onDelivered?: NotificationDeps['onDelivered'];
}

export interface NotificationWorker {
  workers: Worker<DeliveryJobData>[];
  queues: DeliveryQueues;
  dispatcher?: OutboxDispatcher;
  close(): Promise<void>;
}

export function initNotificationWorker(deps: NotificationWorkerDeps): NotificationWorker {
  const { config, logger } = deps;
  const destinations = notificationDestinations(deps.directory);
  const queues = new DeliveryQueues({ redisUrl: deps.redisUrl, prefix: config.queuePrefix, attempts: config.attempts, queueName: notificationQueueName });
  const connections: Redis[] = [];
  const jobDeps: NotificationDeps = {
    db: deps.db,
    fhirBase: deps.fhirBase,
    clientFor: (org) => deps.clients.get(org),
    recipientFor: (org) => recipientFor(deps.directory, org),
    filter: deps.filter,
    statusRepo: deps.statusRepo,
    requestTimeoutMs: config.requestTimeoutMs,
    logger,
    onDelivered: deps.onDelivered,
  };
  const workers = destinations.map((destination) => {
    const worker = new Worker<DeliveryJobData>(
      notificationQueueName(destination),
      (job) => execNotificationJob(jobDeps, job.data, { attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? config.attempts }),
      destinationWorkerOptions(config, deps.redisUrl, connections),
    );
    worker.on('error', (err) => logger.warn({ err: err.message, destination }, 'notification worker error'));
    worker.on('failed', (job, err) => {
      if (job && /stalled/i.test(err.message)) void notificationStore.markDeadUnlessFinished(deps.db, job.data.deliveryId, 'job stalled too many times').catch(() => undefined);
    });
    return worker;
  });
  const source: OutboxSource<NotificationRow> = notificationStore;
  const dispatcher =
    deps.dispatch === false
      ? undefined
      : new OutboxDispatcher({
          db: deps.db,
          queues,
          logger,
          intervalMs: config.dispatchIntervalMs,
          recoverAfterMs: config.recoverAfterMs,
          outbox: source as unknown as OutboxSource,
          beforeTick: () => notificationStore.scheduleHeartbeats(deps.db),
        });
  dispatcher?.start();
  logger.info({ destinations: destinations.length }, 'notification worker started');
  return {
    workers,
    queues,
    dispatcher,
    async close() {
      await dispatcher?.stop();
      await Promise.all(workers.map((w) => w.close()));
      await queues.close();
      for (const c of connections) c.disconnect();
    },
  };
}

/** The notification worker from the configuration: partner directory, gateway keys, outbound clients. */
export async function startNotificationWorker(opts: {
  config: GatewayConfig;
  logger: Logger;
  db: Database;
  filter: DisclosureFilter;
}): Promise<NotificationWorker> {
  const { config, logger, db } = opts;
  const directory = loadPartners(config.partnersFile);
  const keys = await loadGatewayKeys({ file: config.gatewayKeysFile, dataDir: config.dataDir, logger });
  const fhirBase = `${config.baseUrl}/fhir`;
  const validator = Validator.fromProfileDir(DEFAULT_PROFILES_DIR);
  return initNotificationWorker({
    db,
    config: config.exchange,
    redisUrl: config.redisUrl,
    directory,
    fhirBase,
    clients: createOutboundClients(directory.organizations, keys, { timeoutMs: config.exchange.requestTimeoutMs }),
    filter: opts.filter,
    // Subscription.status is server-made (requested → active | error): validated, not labelled or hooked.
    statusRepo: new Repository(db, { validate: (r) => validator.validate(r), baseUrl: fhirBase }),
    logger,
  });
}
