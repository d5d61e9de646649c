// The delivery worker: one BullMQ Worker per destination queue (own concurrency and rate
// limit), the outbox dispatcher, and dead-lettering of jobs BullMQ gives up on. Runs in
// `lead-gateway worker` (any number of processes) or inside `serve --with-worker`.
// Medplum-style module: initDeliveryWorker / DeliveryQueues.add / execDeliveryJob.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { ExchangeConfig, GatewayConfig } from '../config/env.js';
import { loadPartners, type PartnerDirectory } from '../config/partners.js';
import { loadGatewayKeys } from '../auth/gateway-keys.js';
import { createOutboundClients, type OutboundClient } from '../auth/outbound-client.js';
import type { Database } from '../fhir/store/database.js';
import type { Logger } from '../logger.js';
import { DeliveryQueues, deliveryQueueName, destinationWorkerOptions, type DeliveryJobData } from './delivery-queue.js';
import type { DisclosureFilter } from './assemble-bundle.js';
import { loadPolicy } from '../config/policy.js';
import { AuditTrail } from '../consent/audit.js';
import { ConsentEngine } from '../consent/engine.js';
import { DisclosureContextCache } from '../consent/disclosure-context-cache.js';
import { Labeler } from '../consent/labeler.js';
import { loadValueSets } from '../consent/value-sets.js';
import { OutboxDispatcher } from './dispatcher.js';
import { execDeliveryJob } from './exec-delivery-job.js';
import type { ExchangeMetrics } from './exchange-metrics.js';
import { outbox } from './outbox.js';
import { PatientLocks } from './patient-lock.js';

export interface DeliveryWorkerDeps {
  db: Database;
  config: ExchangeConfig;
  redisUrl: string;
  directory: PartnerDirectory;
  clients: Map<string, OutboundClient>;
  logger: Logger;
  metrics?: ExchangeMetrics;
  filter?: DisclosureFilter;
  /** Run the outbox dispatcher in this process (default true). */
  dispatch?: boolean;
}

export interface DeliveryWorker {
  workers: Worker<DeliveryJobData>[];
  queues: DeliveryQueues;
  dispatcher?: OutboxDispatcher;
  destinations: string[];
  /** Stops dispatching and taking jobs; running deliveries finish (BullMQ hands back the rest on timeout). */
  close(): Promise<void>;
}

/** Destinations the gateway can deliver to: partner organizations with an endpoint. */
export function deliveryDestinations(directory: PartnerDirectory): string[] {
  return directory.organizations.filter((o) => o.endpoint).map((o) => o.id);
}

export function initDeliveryWorker(deps: DeliveryWorkerDeps): DeliveryWorker {
  const { config, logger } = deps;
  const destinations = deliveryDestinations(deps.directory);
  const queues = new DeliveryQueues({ redisUrl: deps.redisUrl, prefix: config.queuePrefix, attempts: config.attempts });
  const connections: Redis[] = [];
  const lockConnection = new Redis(deps.redisUrl, { maxRetriesPerRequest: 1 });
  lockConnection.on('error', () => undefined);
  connections.push(lockConnection);
  // 10 s lifetime kept alive while the holder works: a killed worker's lock is free 10 s later.
  // Waiting up to a full send (token + 3 Bundles) before the job is retried.
  const locks = new PatientLocks(lockConnection, config.queuePrefix, 10_000, config.requestTimeoutMs * 4 + 10_000);
  const workers = destinations.map((destination) => {
    const worker = new Worker<DeliveryJobData>(
      deliveryQueueName(destination),
      (job) =>
        execDeliveryJob(
          { db: deps.db, clientFor: (d) => deps.clients.get(d), requestTimeoutMs: config.requestTimeoutMs, logger, metrics: deps.metrics, filter: deps.filter, locks },
          job.data,
          { attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? config.attempts },
        ),
      destinationWorkerOptions(config, deps.redisUrl, connections),
    );
    worker.on('error', (err) => logger.warn({ err: err.message, destination }, 'delivery worker error'));
    // A job that stalled too often (its workers kept dying) fails without our code running:
    // dead-letter it in the delivery log too.
    worker.on('failed', (job, err) => {
      if (job && /stalled/i.test(err.message)) {
        void outbox.markDeadUnlessFinished(deps.db, job.data.deliveryId, 'job stalled too many times').catch(() => undefined);
      }
    });
    return worker;
  });
  const dispatcher = deps.dispatch === false ? undefined : new OutboxDispatcher({ db: deps.db, queues, logger, intervalMs: config.dispatchIntervalMs, recoverAfterMs: config.recoverAfterMs });
  dispatcher?.start();
  deps.metrics?.setSources({ queueCounts: () => queues.counts(destinations) });
  logger.info({ destinations: destinations.length, concurrency: config.concurrencyPerDestination }, 'delivery worker started');
  return {
    workers,
    queues,
    dispatcher,
    destinations,
    async close() {
      await dispatcher?.stop();
      await Promise.all(workers.map((w) => w.close()));
      await queues.close();
      for (const c of connections) c.disconnect();
    },
  };
}

/** The delivery worker from the configuration: partner directory, gateway keys, outbound clients. */
export async function startDeliveryWorker(opts: {
  config: GatewayConfig;
  logger: Logger;
  db: Database;
  metrics?: ExchangeMetrics;
  filter?: DisclosureFilter;
}): Promise<DeliveryWorker> {
  const { config, logger } = opts;
  const directory = loadPartners(config.partnersFile);
  const keys = await loadGatewayKeys({ file: config.gatewayKeysFile, dataDir: config.dataDir, logger });
  const clients = createOutboundClients(directory.organizations, keys, { timeoutMs: config.exchange.requestTimeoutMs });
  const own = opts.filter ? undefined : await workerConsentFilter(config, opts.db, directory);
  const filter = opts.filter ?? own?.filter;
  const worker = initDeliveryWorker({ db: opts.db, config: config.exchange, redisUrl: config.redisUrl, directory, clients, logger, metrics: opts.metrics, filter });
  if (!own) return worker;
  return {
    ...worker,
    async close() {
      await worker.close();
      await own.close();
    },
  };
}

/**
 * A worker process has no API gateway (and so no process-default consent engine): it builds
 * its own the way src/gateway.ts does, so deliveries are filtered and audited alike.
 */
async function workerConsentFilter(
  config: GatewayConfig,
  db: Database,
  directory: PartnerDirectory,
): Promise<{ filter: DisclosureFilter; close(): Promise<void> }> {
  const labeler = new Labeler({
    valueSets: loadValueSets(),
    part2Organizations: new Set(directory.organizations.filter((o) => o.part2Program).map((o) => o.id)),
  });
  const audit = new AuditTrail(db);
  // What it writes (delivery log, AuditEvents) is none of what the cache holds: notifications empty it.
  const contextCache = new DisclosureContextCache();
  await contextCache.start(db);
  const engine = new ConsentEngine({ db, partners: directory, policy: loadPolicy(config.policyFile), labeler, audit, contextCache });
  return {
    filter: (recipient, resources) => engine.filter(recipient, resources, 'exchange'),
    close: async () => {
      await contextCache.stop();
    },
  };
}
