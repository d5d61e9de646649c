// Ingest over HTTP, assembled: the upload storage, the queue and the express routes.
// gateway.ts mounts `routes` behind the bearer middleware; the worker (src/cli/worker.ts, or
// serve --with-worker) runs the jobs (src/ingest/ingest-worker.ts).
import { join } from 'node:path';
import type { Response, Router } from 'express';
import type { GatewayConfig } from '../config/env.js';
import type { AccessCheck } from '../fhir/access.js';
import type { Database } from '../fhir/store/database.js';
import { IngestQueue } from './ingest-queue.js';
import { ingestRoutes, type IngestRequester } from './ingest-routes.js';
import { UploadStorage } from './upload-storage.js';

export interface IngestApi {
  routes: Router;
  storage: UploadStorage;
  queue: IngestQueue;
  close(): Promise<void>;
}

/** Uploads wait for the worker under DATA_DIR/ingest. */
export function defaultUploadStorage(config: GatewayConfig): UploadStorage {
  return new UploadStorage(join(config.dataDir, 'ingest'));
}

export function createIngestApi(opts: {
  config: GatewayConfig;
  db: Database;
  accessFor: (res: Response) => AccessCheck;
  requesterFor: (res: Response) => IngestRequester;
  now?: () => Date;
}): IngestApi {
  const queue = new IngestQueue({ redisUrl: opts.config.redisUrl, prefix: opts.config.ingest.queuePrefix });
  const storage = defaultUploadStorage(opts.config);
  const routes = ingestRoutes({
    db: opts.db,
    queue,
    storage,
    config: opts.config.ingest,
    jobUrl: (id) => `${opts.config.baseUrl}/ingest/jobs/${id}`,
    accessFor: opts.accessFor,
    requesterFor: opts.requesterFor,
    now: opts.now,
  });
  return { routes, storage, queue, close: () => queue.close() };
}
