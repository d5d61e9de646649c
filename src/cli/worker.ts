// `lead-gateway worker`: runs the queue workers (Bulk Data export, ingest, exchange) until
// SIGTERM/SIGINT, then stops taking jobs and lets running ones finish (BullMQ hands a job a
// killed worker held back to the queue: stalled-job recovery). `serve --with-worker` runs the
// same workers inside the API process for the quick start.
import type { GatewayConfig } from '../config/env.js';
import { loadConfig, ConfigError } from '../config/env.js';
import { createLogger, type Logger } from '../logger.js';
import { defaultExportStorage } from '../fhir/bulk/bulk-export.js';
import type { ExportStorage } from '../fhir/bulk/export-storage.js';
import { initExportWorker } from '../fhir/bulk/export-worker.js';
import { loadDefinitions } from '../fhir/definitions.js';
import type { Database } from '../fhir/store/database.js';
import { openDatabase } from '../fhir/store/open-database.js';
import { Repository } from '../fhir/store/repository.js';
import { loadPartners } from '../config/partners.js';
import { loadPolicy } from '../config/policy.js';
import { AuditTrail } from '../consent/audit.js';
import { ConsentEngine } from '../consent/engine.js';
import { DisclosureContextCache } from '../consent/disclosure-context-cache.js';
import { setDefaultConsentEngine } from '../consent/filter.js';
import { createWritePath } from '../write-path.js';
import { defaultUploadStorage } from '../ingest/ingest-api.js';
import { loadIngestLayouts } from '../ingest/ingest-layouts.js';
import { initIngestWorker } from '../ingest/ingest-worker.js';
import { startDeliveryWorker } from '../exchange/delivery-worker.js';
import type { ExchangeMetrics } from '../exchange/exchange-metrics.js';
import { startNotificationWorker } from '../notifications/notification-worker.js';
import { loadProtocol } from '../risk/protocol.js';
import { startRiskDrain } from '../risk/risk-drain.js';

export interface Workers {
  close(): Promise<void>;
}

export async function startWorkers(opts: {
  config: GatewayConfig;
  logger: Logger;
  db: Database;
  storage?: ExportStorage;
  /** Where the exchange worker records its metrics (serve's /metrics when in-process). */
  metrics?: ExchangeMetrics;
  /** The gateway's consent engine when in-process (serve --with-worker); otherwise built here. */
  consent?: ConsentEngine;
  /** The gateway's write path when in-process (serve --with-worker); otherwise built the same way (write-path.ts). */
  repo?: Repository;
}): Promise<Workers> {
  const { config, logger, db } = opts;
  loadDefinitions();
  // A worker process keeps its own disclosure-context cache (the gateway's when in-process).
  const ownCache = opts.consent ? undefined : new DisclosureContextCache();
  await ownCache?.start(db);
  const consent = opts.consent ?? workerConsentEngine(config, db, ownCache);
  const exportWorker = initExportWorker({
    consent,
    db,
    storage: opts.storage ?? defaultExportStorage(config),
    config: config.bulk,
    fhirBase: `${config.baseUrl}/fhir`,
    logger,
    redisUrl: config.redisUrl,
  });
  logger.info({ concurrency: config.bulk.workerConcurrency }, 'export worker started');
  const partners = loadPartners(config.partnersFile);
  // This process's writes empty its consent engine's cache once committed (the gateway's write
  // path does the same for the gateway's).
  const contextCache = consent.opts.contextCache;
  const repo = opts.repo ?? createWritePath({ config, db, partners, afterCommit: contextCache && ((types) => contextCache.written(types)) }).repo;
  const ingestWorker = initIngestWorker({
    db,
    repo,
    partners,
    layouts: loadIngestLayouts(config.ingest),
    storage: defaultUploadStorage(config),
    config: config.ingest,
    logger,
    redisUrl: config.redisUrl,
  });
  logger.info({ concurrency: config.ingest.workerConcurrency }, 'ingest worker started');
  // Queued exchange: outbox dispatcher + delivery queues (src/exchange).
  const delivery = config.exchange.enabled
    ? await startDeliveryWorker({ config, logger, db, metrics: opts.metrics, filter: (recipient, resources) => consent.filter(recipient, resources, 'exchange') })
    : undefined;
  // Subscription notifications travel the same way (their own outbox table and queues).
  const notifications = config.exchange.enabled
    ? await startNotificationWorker({ config, logger, db, filter: (recipient, resources) => consent.filter(recipient, resources, 'exchange') })
    : undefined;
  // Shared risk stratification: recompute marked people through the write path (src/risk).
  const riskDrain = startRiskDrain({ db, repo, protocol: loadProtocol(config.risk.protocolFile), logger, ...config.risk });
  logger.info({ intervalMs: config.risk.drainIntervalMs }, 'risk recomputation drain started');
  return {
    close: async () => {
      await Promise.all([exportWorker.close(), ingestWorker.close(), delivery?.close(), notifications?.close(), riskDrain.close()]);
      await ownCache?.stop();
    },
  };
}

/** The consent engine as the gateway builds it (labels re-checked at read time, audit on). */
function workerConsentEngine(config: GatewayConfig, db: Database, contextCache?: DisclosureContextCache): ConsentEngine {
  const partners = loadPartners(config.partnersFile);
  const { labeler } = createWritePath({ config, db, partners });
  const audit = new AuditTrail(db);
  const engine = new ConsentEngine({ db, partners, policy: loadPolicy(config.policyFile), labeler, audit, contextCache });
  setDefaultConsentEngine(engine);
  return engine;
}

export async function workerCommand(env: NodeJS.ProcessEnv): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (!config.databaseUrl) {
    // PGlite is one process's database: the API and a separate worker cannot share it.
    process.stderr.write('lead-gateway worker needs DATABASE_URL (PostgreSQL); with the embedded store run `serve --with-worker`\n');
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const workers = await startWorkers({ config, logger, db });
  const stop = (signal: string): void => {
    logger.info({ signal }, 'worker shutting down');
    // Long exports get the grace period; a job still held after it is re-delivered later.
    setTimeout(() => process.exit(1), 30000).unref();
    void workers
      .close()
      .then(() => db.close())
      .then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
