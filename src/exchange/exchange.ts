// The exchange, assembled for the API process (gateway.ts): the Repository onWrite hook that
// writes the outbox rows, the operator routes (/metrics, /admin/queues), and the metrics the
// worker of the same process records into. The delivery worker itself is started by
// src/cli/worker.ts (delivery-worker.ts).
import type { Router } from 'express';
import type { GatewayConfig } from '../config/env.js';
import type { PartnerDirectory } from '../config/partners.js';
import type { Database, Sql } from '../fhir/store/database.js';
import type { WriteEvent } from '../fhir/store/repository.js';
import { adminRoutes } from './admin-routes.js';
import { loadDataClassRules } from './data-classes.js';
import { DeliveryQueues } from './delivery-queue.js';
import { deliveryDestinations } from './delivery-worker.js';
import { createExchangeMetrics, type ExchangeMetrics } from './exchange-metrics.js';
import { outbox } from './outbox.js';
import { loadRoster } from './roster.js';
import { createRouteWrite } from './route-write.js';

export interface Exchange {
  /** Repository onWrite hook; undefined when EXCHANGE_ENABLED=false. */
  onWrite?: (tx: Sql, event: WriteEvent) => Promise<void>;
  routes: Router;
  metrics: ExchangeMetrics;
  queues: DeliveryQueues;
  close(): Promise<void>;
}

/**
 * The Repository onWrite hook that writes outbox rows; every process that writes to the store
 * (serve, `lead-gateway ingest`) must install it, or its writes are never delivered.
 */
export function exchangeWriteHook(
  config: GatewayConfig,
  directory: PartnerDirectory,
  now?: () => Date,
): ((tx: Sql, event: WriteEvent) => Promise<void>) | undefined {
  const ex = config.exchange;
  if (!ex.enabled) return undefined;
  return createRouteWrite({ directory, rules: loadDataClassRules(ex.dataClassesFile), roster: loadRoster(ex.rosterFile), now });
}

export function createExchange(opts: { config: GatewayConfig; db: Database; directory: PartnerDirectory; now?: () => Date }): Exchange {
  const { config, db, directory } = opts;
  const ex = config.exchange;
  const onWrite = exchangeWriteHook(config, directory, opts.now);
  const queues = new DeliveryQueues({ redisUrl: config.redisUrl, prefix: ex.queuePrefix, attempts: ex.attempts });
  const destinations = deliveryDestinations(directory);
  const metrics = createExchangeMetrics();
  metrics.setSources({
    deliveryStates: () => outbox.countsByDestinationAndState(db),
    queueCounts: () => queues.counts(destinations),
  });
  return {
    onWrite,
    routes: adminRoutes({ metrics, adminToken: config.adminToken, queues: () => queues.all(destinations) }),
    metrics,
    queues,
    close: () => queues.close(),
  };
}
