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
import type { SearchRequest } from './fhir/search/search-request.js';
import type { Resource } from '@medplum/fhirtypes';
import type { Database } from './fhir/store/database.js';
import { openDatabase } from './fhir/store/open-database.js';
import { Repository } from './fhir/store/repository.js';
import { Validator } from './fhir/validation/validator.js';
import { requestLog } from './request-log.js';
import { requesterOf } from './auth/requester.js';
import { createBulkExport, type BulkExport } from './fhir/bulk/bulk-export.js';
import type { ExportRecipient } from './fhir/bulk/export-job.js';
import { createExchange, type Exchange } from './exchange/exchange.js';
import { sourceFromRequester } from './exchange/write-source.js';
import { loadPartners } from './config/partners.js';
import { partnerResources } from './config/partner-resources.js';
import { loadPolicy, type DisclosurePolicy } from './config/policy.js';
import { AuditTrail, type DisclosureChannel } from './consent/audit.js';
import { ConsentEngine, type ConsentEngineOptions } from './consent/engine.js';
import { clearDefaultConsentEngine, setDefaultConsentEngine } from './consent/filter.js';
import { DisclosureContextCache } from './consent/disclosure-context-cache.js';
import { TYPE_STORES } from './type-stores.js';
import { createWritePath } from './write-path.js';
import { alignmentRoutes } from './alignment/alignment-routes.js';
import { createIngestApi, type IngestApi } from './ingest/ingest-api.js';
import type { FhirRequest, StoredRow } from './fhir/router.js';
import { changeInConditionResources } from './care/change-in-condition/vocabulary.js';
import { createNotifications, STATUS_OPERATION, SUBSCRIPTION_SERVER_R4, topicCapabilityExtensions } from './notifications/notifications.js';

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
  /** The default disclosure policy; otherwise read from config.policyFile. */
  policy?: DisclosurePolicy;
  /** Builds the consent engine from the gateway's parts (benchmarks swap in a pass-through one). */
  consentEngine?: (opts: ConsentEngineOptions) => ConsentEngine;
}

export interface Gateway {
  app: Express;
  db: Database;
  repo: Repository;
  redis: Redis;
  validator: Validator;
  router: FhirRouter;
  /** Labels on write, decides and filters on every read path and disclosure, audits. */
  consent: ConsentEngine;
  /** Bulk Data $export: routes are mounted; the worker (cli/worker.ts) runs the jobs. */
  bulk: BulkExport;
  /** Queued exchange: outbox hook on every write, /metrics, /admin/queues (src/exchange). */
  exchange: Exchange;
  /** POST /ingest/{layout} and job status: routes are mounted; the worker runs the jobs. */
  ingest: IngestApi;
  close(): Promise<void>;
}

/** Without SMART (tests of the core), exports and uploads run as a trusted SMA-level caller. */
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
  const partners = loadPartners(config.partnersFile);
  const exchange = createExchange({ config, db, directory: partners, now: deps.now });
  // The same write path as the ingest worker and CLIs: labels, validation, outbox rows, and the
  // care-coordination hooks (risk recomputation marks, change-in-condition intake, notifications).
  // Consent's relationships and Consents, kept across requests: emptied by this process's writes
  // once committed, and by every other process's through the database's notifications.
  const contextCache = new DisclosureContextCache();
  await contextCache.start(db);
  // Audit records are server-made: no labeler, no validation, no write hooks. Each disclosure is
  // one audit_event row, committed before it leaves; the API renders the rows as AuditEvents.
  const audit = new AuditTrail(db, deps.now);
  const { repo, labeler } = createWritePath({
    config,
    db,
    partners,
    validator,
    onWrite: exchange.onWrite,
    afterCommit: (types) => contextCache.written(types),
    now: deps.now,
  });
  // The partner directory is published as Organization and Endpoint resources (ids = the
  // organization ids). Server-made: no labels, no outbox; an unchanged entry makes no version.
  const directoryRepo = new Repository(db, { validate: (r) => validator.validate(r), baseUrl: fhirBase, now: deps.now });
  for (const r of partnerResources(partners.organizations)) await directoryRepo.update(r);
  // The change-in-condition Questionnaire and its CodeSystems are published the same way.
  for (const r of changeInConditionResources()) await directoryRepo.update(r);
  const consentOpts: ConsentEngineOptions = { db, partners, policy: deps.policy ?? loadPolicy(config.policyFile), labeler, audit, contextCache, now: deps.now };
  const consent = deps.consentEngine ? deps.consentEngine(consentOpts) : new ConsentEngine(consentOpts);
  setDefaultConsentEngine(consent);
  const auth = deps.auth;
  const accessFor = auth === 'none' ? () => trustedAccess : auth.accessFor;
  // Subscriptions (R4 Backport): $status, and only the owner reads its Subscriptions.
  const notifications = createNotifications({
    db,
    fhirBase,
    accessFor,
    ownerFor: (res) => (auth === 'none' ? undefined : requesterOf(res).organizationId),
  });
  const capability = buildCapabilityStatement({
    baseUrl: fhirBase,
    version: VERSION,
    profiles: validator.profiles,
    smart: auth === 'none' ? undefined : { tokenUrl: auth.tokenUrl },
    operations: [{ name: 'export', definition: `${BULK_IG}/OperationDefinition/export` }],
    resourceOperations: {
      Patient: [
        { name: 'export', definition: `${BULK_IG}/OperationDefinition/patient-export` },
        { name: 'alignment', definition: ALIGNMENT_OPERATION },
      ],
      Group: [{ name: 'export', definition: `${BULK_IG}/OperationDefinition/group-export` }],
      Subscription: [STATUS_OPERATION],
    },
    resourceExtensions: { Subscription: topicCapabilityExtensions() },
    instantiates: [`${BULK_IG}/CapabilityStatement/bulk-data`, SUBSCRIPTION_SERVER_R4],
    typeStores: TYPE_STORES,
  });
  const router = new FhirRouter(repo, validator, {
    baseUrl: fhirBase,
    defaultPageSize: config.defaultPageSize,
    maxPageSize: config.maxPageSize,
    capabilityStatement: () => capability,
    // Without SMART (tests of the core) every caller is trusted and reads are not filtered.
    ...(auth === 'none'
      ? {}
      : {
          disclose: async (req: FhirRequest, resources: Resource[]) =>
            req.recipient
              ? notifications.ownedOnly(req.recipient.organizationId, (await consent.filter(req.recipient, resources, channelOf(req))).permitted)
              : [],
          discloseStored: async (req: FhirRequest, rows: StoredRow[]) => {
            if (!req.recipient) return rows.map(() => undefined);
            const { texts } = await consent.filterStored(req.recipient, rows, channelOf(req));
            // Subscriptions go only to the organization that owns them (notifications.ts).
            const subs = rows.flatMap((r, i) => (r.resourceType === 'Subscription' && texts[i] !== undefined ? [i] : []));
            if (!subs.length) return texts;
            const stubs = subs.map((i) => ({ resourceType: 'Subscription', id: rows[i].id }) as Resource);
            const owned = new Set(await notifications.ownedOnly(req.recipient.organizationId, stubs));
            subs.forEach((i, k) => {
              if (!owned.has(stubs[k])) texts[i] = undefined;
            });
            return texts;
          },
          screen: (req: FhirRequest, interaction: 'search' | 'history' | 'conditional', sreq?: SearchRequest) => {
            if (!req.recipient) throw outcomes.forbidden('No recipient for this request');
            consent.screen(req.recipient, interaction, sreq);
          },
        }),
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
    app.use('/ingest', auth.middleware);
    app.use('/fhir', sourceFromRequester); // routing: writes come from the requester's organization
  }
  app.use(exchange.routes);
  app.use(notifications.routes);
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
  const ingest = createIngestApi({
    config,
    db,
    accessFor,
    requesterFor: auth === 'none' ? () => LOCAL_REQUESTER : (res) => requesterOf(res),
    now: deps.now,
  });
  app.use(ingest.routes);
  app.use(
    '/fhir',
    alignmentRoutes({
      db,
      repo,
      accessFor,
      callerFor: auth === 'none' ? () => LOCAL_REQUESTER : (res) => requesterOf(res),
      disclose: auth === 'none' ? undefined : async (caller, resources) => (await consent.filter(caller, resources, 'disclosure')).permitted,
    }),
  );
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
    consent,
    bulk,
    exchange,
    ingest,
    async close() {
      clearDefaultConsentEngine(consent);
      await bulk.close();
      await ingest.close();
      await exchange.close();
      await contextCache.stop();
      if (ownsRedis) redis.disconnect();
      if (!deps.db) await db.close();
    },
  };
}

/** The read path a REST request discloses through, for the AuditEvent. */
function channelOf(req: FhirRequest): DisclosureChannel {
  const segs = req.path.split('/').filter(Boolean);
  if (segs.length === 1 || segs[1] === '_search') return 'search';
  if (segs.length === 2) return 'read';
  return segs.length === 3 ? 'history' : 'vread';
}

/** Patient/[id]/$alignment: the explanation of a beneficiary's alignment (docs/alignment.md). */
const ALIGNMENT_OPERATION = 'https://lead-gateway.example.org/fhir/OperationDefinition/Patient-alignment';

/** FHIR Bulk Data Access IG (v2.0.0) canonical base: $export at system, Patient and Group level. */
const BULK_IG = 'http://hl7.org/fhir/uv/bulkdata';

async function readiness(db: Database, redis: Redis): Promise<{ ok: boolean; database: string; redis: string }> {
  const timeout = <T>(p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<T>((_, rej) => {
      timer = setTimeout(() => rej(new Error('timeout')), 2000);
    });
    return Promise.race([p, limit]).finally(() => clearTimeout(timer));
  };
  const database = await timeout(db.query('SELECT 1')).then(() => 'ok', () => 'unreachable');
  const r = await timeout(redis.ping()).then(() => 'ok', () => 'unreachable');
  return { ok: database === 'ok' && r === 'ok', database, redis: r };
}
