// Bulk Data export, assembled: the context the handlers share, the express routes, the queue.
// gateway.ts mounts `routes` at /fhir; the worker (src/cli/worker.ts, or serve) runs the jobs.
import { join } from 'node:path';
import type { Response, Router } from 'express';
import type { GatewayConfig } from '../../config/env.js';
import type { AccessCheck } from '../access.js';
import type { Database } from '../store/database.js';
import { bulkUrls, type BulkContext } from './bulk-context.js';
import { bulkRoutes } from './bulk-routes.js';
import type { ExportRecipient } from './export-job.js';
import { ExportQueue } from './export-queue.js';
import { LocalExportStorage, type ExportStorage } from './export-storage.js';

export interface BulkExport {
  ctx: BulkContext;
  routes: Router;
  close(): Promise<void>;
}

export interface BulkExportOptions {
  config: GatewayConfig;
  db: Database;
  fhirBase: string;
  accessFor: (res: Response) => AccessCheck;
  requesterFor: (res: Response) => ExportRecipient;
  requiresAccessToken: boolean;
  storage?: ExportStorage;
  now?: () => Date;
}

/** Export files live under DATA_DIR/bulk unless another storage is given. */
export function defaultExportStorage(config: GatewayConfig): ExportStorage {
  return new LocalExportStorage(join(config.dataDir, 'bulk'));
}

export function createBulkExport(opts: BulkExportOptions): BulkExport {
  const queue = new ExportQueue({ redisUrl: opts.config.redisUrl, prefix: opts.config.bulk.queuePrefix });
  const ctx: BulkContext = {
    db: opts.db,
    storage: opts.storage ?? defaultExportStorage(opts.config),
    queue,
    config: opts.config.bulk,
    fhirBase: opts.fhirBase,
    now: opts.now ?? (() => new Date()),
    requiresAccessToken: opts.requiresAccessToken,
    ...bulkUrls(opts.fhirBase),
  };
  const routes = bulkRoutes({ ctx, maxBodyBytes: opts.config.maxBodyBytes, accessFor: opts.accessFor, requesterFor: opts.requesterFor });
  return { ctx, routes, close: () => queue.close() };
}
