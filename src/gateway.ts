// The composition root: builds every part of the gateway from the configuration and wires
// them together. The CLI (serve, worker) and the tests start the gateway through here.
import express, { type Express, type RequestHandler, type Response } from 'express';
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from './config/env.js';
import type { Logger } from './logger.js';
import { trustedAccess, type AccessCheck } from './fhir/access.js';
import { buildCapabilityStatement } from './fhir/capability-statement.js';
import { loadDefinitions } from './fhir/definitions.js';
import { FhirRouter } from './fhir/router.js';
import { fhirErrorHandler, fhirRoutes, send } from './fhir/routes.js';
import { outcomes } from './fhir/outcomes.js';
import type { Database } from './fhir/store/database.js';
import { openDatabase } from './fhir/store/open-database.js';
import { Repository } from './fhir/store/repository.js';
import { Validator } from './fhir/validation/validator.js';
import { requestLog } from './request-log.js';
import { requesterOf } from './auth/requester.js';
import { createBulkExport, type BulkExport } from './fhir/bulk/bulk-export.js';
import type { ExportRecipient } from './fhir/bulk/export-job.js';

export interface AuthWiring {
  /** Runs before the FHIR routes: rejects unauthenticated calls, records the requester. */
  middleware: RequestHandler;
  accessFor: (res: Response) => AccessCheck;
  /** Extra routes (token endpoint, JWKS, discovery) mounted at the root. */
  routes?: express.Router;
  tokenUrl: string;
}

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  /** An open database (tests); otherwise opened from the configuration. */
  db?: Database;
  redis?: Redis;
  profilesDir?: string;
  /**
   * Authorization for /fhir. 'none' is for tests of the FHIR core alone; the CLI always wires
   * SMART Backend Services.
   */
  auth: AuthWiring | 'none';
  now?: () => Date;
}

export interface Gateway {
  app: Express;
  db: Database;
  repo: Repository;
  redis: Redis;
  validator: Validator;
  router: FhirRouter;
  /** Bulk Data $export: routes are mounted; the worker (cli/worker.ts) runs the jobs. */
  bulk: BulkExport;
  close(): Promise<void>;
}

/** Without SMART (tests of the core), exports run as a trusted SMA-level caller. */
const LOCAL_REQUESTER: ExportRecipient = { clientId: 'local', organizationId: 'local', organizationType: 'SMA', purposeOfUse: 'HOPERAT' };

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function createGateway(deps: GatewayDeps): Promise<Gateway> {
  const { config, logger } = deps;
  loadDefinitions();
  const db = deps.db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const ownsRedis = !deps.redis;
  const redis =
    deps.redis ?? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => undefined); // readiness reports it; never crash on a lost connection
  if (ownsRedis) redis.connect().catch(() => undefined);

  const validator = Validator.fromProfileDir(deps.profilesDir ?? new URL('../profiles', import.meta.url).pathname);
  const fhirBase = `${config.baseUrl}/fhir`;
  const repo = new Repository(db, { validate: (r) => validator.validate(r), baseUrl: fhirBase, now: deps.now });
  const auth = deps.auth;
  const capability = buildCapabilityStatement({
    baseUrl: fhirBase,
    version: VERSION,
    profiles: validator.profiles,
    smart: auth === 'none' ? undefined : { tokenUrl: auth.tokenUrl },
    operations: [{ name: 'export', definition: `${BULK_IG}/OperationDefinition/export` }],
    resourceOperations: {
      Patient: [{ name: 'export', definition: `${BULK_IG}/OperationDefinition/patient-export` }],
      Group: [{ name: 'export', definition: `${BULK_IG}/OperationDefinition/group-export` }],
    },
    instantiates: [`${BULK_IG}/CapabilityStatement/bulk-data`],
  });
  const router = new FhirRouter(repo, validator, {
    baseUrl: fhirBase,
    defaultPageSize: config.defaultPageSize,
    maxPageSize: config.maxPageSize,
    capabilityStatement: () => capability,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestLog(logger));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await readiness(db, redis);
    res.status(checks.ok ? 200 : 503).json(checks);
  });

  // Discovery documents are public (SMART conformance); everything else under /fhir is not.
  app.get('/fhir/metadata', (_req, res) => send(res, { status: 200, body: capability }));
  if (auth !== 'none') {
    if (auth.routes) app.use(auth.routes);
    app.use('/fhir', auth.middleware);
  }
  const accessFor = auth === 'none' ? () => trustedAccess : auth.accessFor;
  const bulk = createBulkExport({
    config,
    db,
    fhirBase,
    accessFor,
    requesterFor: auth === 'none' ? () => LOCAL_REQUESTER : (res) => requesterOf(res),
    requiresAccessToken: auth !== 'none',
    now: deps.now,
  });
  app.use('/fhir', bulk.routes);
  app.use(
    '/fhir',
    fhirRoutes({
      router,
      maxBodyBytes: config.maxBodyBytes,
      logger,
      accessFor: auth === 'none' ? () => trustedAccess : auth.accessFor,
      recipientFor: (res) => {
        const r = res.locals.requester as { organizationId: string; purposeOfUse: string; clientId: string } | undefined;
        return r ? { organizationId: r.organizationId, purposeOfUse: r.purposeOfUse, clientId: r.clientId } : undefined;
      },
    }),
  );
  app.use((req, _res, next) => next(outcomes.notFound(`Path ${req.path}`)));
  app.use(fhirErrorHandler(logger, config.maxBodyBytes));

  return {
    app,
    db,
    repo,
    redis,
    validator,
    router,
    bulk,
    async close() {
      await bulk.close();
      if (ownsRedis) redis.disconnect();
      if (!deps.db) await db.close();
    },
  };
}

/** FHIR Bulk Data Access IG (v2.0.0) canonical base: $export at system, Patient and Group level. */
const BULK_IG = 'http://hl7.org/fhir/uv/bulkdata';

async function readiness(db: Database, redis: Redis): Promise<{ ok: boolean; database: string; redis: string }> {
  const timeout = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]);
  const database = await timeout(db.query('SELECT 1')).then(() => 'ok', () => 'unreachable');
  const r = await timeout(redis.ping()).then(() => 'ok', () => 'unreachable');
  return { ok: database === 'ok' && r === 'ok', database, redis: r };
}
