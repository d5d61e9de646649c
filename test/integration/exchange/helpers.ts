// Fixtures for the exchange tests: a hub gateway (the data, the outbox, the delivery worker)
// and a receiver gateway acting as an ACO's FHIR server with its own SMART token server, both
// real, on loopback. The receiver can be told to misbehave (status codes, Retry-After, slow
// answers, a failing token endpoint) for the next N requests, in front of its real app.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import type { Resource } from '@medplum/fhirtypes';
import { generatePrivateJwk, gatewayKeysFromJwks, publicJwksOf, type GatewayKeys } from '../../../src/auth/gateway-keys.js';
import { createOutboundClients } from '../../../src/auth/outbound-client.js';
import { createAuth, type Auth } from '../../../src/auth/wiring.js';
import { loadConfig, type GatewayConfig } from '../../../src/config/env.js';
import { loadPartners } from '../../../src/config/partners.js';
import { initDeliveryWorker, type DeliveryWorker } from '../../../src/exchange/delivery-worker.js';
import { createGateway, type Gateway } from '../../../src/gateway.js';
import { ingest } from '../../../src/ingest/pipeline.js';
import { generateSamples } from '../../../src/ingest/samples.js';
import { silentLogger } from '../../../src/logger.js';
import { createLayouts, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { readFileSync, createReadStream } from 'node:fs';
import { openTestDatabase, TEST_DATABASE_URL, type StoreKind, type TestDatabase } from '../../helpers/database.js';
import { cleanupPrefix } from '../auth/helpers.js';

export const HUB_SOURCE = 'mco-test';
export const ACO = 'aco-test';

export type FaultAction = { status: number; retryAfter?: string; body?: unknown } | { delayMs: number };

/** What the receiver does with its next requests (consumed in order), and what it has seen. */
export interface Faults {
  transaction: FaultAction[];
  token: FaultAction[];
  seen: { transaction: number; token: number };
}

export interface Receiver {
  gateway: Gateway;
  auth: Auth;
  url: string;
  fhir: string;
  faults: Faults;
  db: TestDatabase;
  /** Type/id of what the receiving gateway wrote itself at start (its directory, its Questionnaires…). */
  published: string[];
  /** Stops listening (the port is kept for restart). */
  close(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, port = 0): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

async function applyFault(action: FaultAction, res: ServerResponse): Promise<boolean> {
  if ('delayMs' in action) {
    await new Promise((r) => setTimeout(r, action.delayMs));
    return false; // then the real receiver answers (and commits) — after the sender gave up
  }
  const body = action.body ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', diagnostics: `injected ${action.status}` }] };
  res.statusCode = action.status;
  res.setHeader('content-type', 'application/fhir+json');
  if (action.retryAfter) res.setHeader('retry-after', action.retryAfter);
  res.end(JSON.stringify(body));
  return true;
}

export async function startReceiver(opts: { tmp: string; hubPublicJwks: unknown; redisPrefix: string; kind?: StoreKind }): Promise<Receiver> {
  // PostgreSQL (a schema per suite): PGlite's start-up costs tens of seconds on a loaded machine.
  const db = await openTestDatabase(opts.kind ?? 'postgres');
  const faults: Faults = { transaction: [], token: [], seen: { transaction: 0, token: 0 } };
  let app: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = await listen((req, res) => {
    void (async () => {
      const isTx = req.method === 'POST' && /^\/fhir\/?$/.test(req.url ?? '');
      const isToken = req.method === 'POST' && req.url === '/auth/token';
      if (isTx) faults.seen.transaction++;
      if (isToken) faults.seen.token++;
      const plan = isTx ? faults.transaction : isToken ? faults.token : [];
      const action = plan.shift();
      if (action) {
        // Read the body first, so a delayed request is still served in full afterwards.
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        if (await applyFault(action, res)) return;
        const replay = Object.assign(Readable.from(chunks), { headers: req.headers, method: req.method, url: req.url, socket: req.socket, httpVersion: req.httpVersion });
        return app!(replay as unknown as IncomingMessage, res);
      }
      app!(req, res);
    })();
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const partnersFile = join(opts.tmp, 'receiver-partners.json');
  writeFileSync(
    partnersFile,
    JSON.stringify({
      organizations: [
        {
          id: 'lead-hub',
          type: 'SMA',
          name: 'LEAD hub gateway',
          clients: [{ clientId: 'lead-gateway', jwks: opts.hubPublicJwks, scopes: ['system/*.cruds'], purposeOfUse: 'TREAT', rateLimit: { requests: 1000000, windowSeconds: 60 } }],
        },
      ],
      agreements: [],
    }),
  );
  const config = loadConfig({
    BASE_URL: url,
    LOG_LEVEL: 'silent',
    PARTNERS_FILE: partnersFile,
    DATA_DIR: join(opts.tmp, 'receiver-data'),
    EXCHANGE_ENABLED: 'false',
    EXCHANGE_QUEUE_PREFIX: `${opts.redisPrefix}rcv`,
  });
  const auth = await createAuth(config, silentLogger, { keyPrefix: `${opts.redisPrefix}rcv-auth:` });
  const gateway = await createGateway({ config, logger: silentLogger, db: db.db, auth: auth.wiring, redis: auth.redis });
  app = gateway.app as unknown as (req: IncomingMessage, res: ServerResponse) => void;
  const published = (await db.db.query<{ key: string }>("SELECT resource_type || '/' || id AS key FROM resource")).rows.map((r) => r.key);
  return {
    gateway,
    published,
    auth,
    url,
    fhir: `${url}/fhir`,
    faults,
    db,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await gateway.close();
      await cleanupPrefix(auth.redis, `${opts.redisPrefix}rcv`).catch(() => undefined);
      await auth.close();
      await db.drop();
    },
  };
}

export interface Hub {
  gateway: Gateway;
  /** DATABASE_URL of the hub's store for child processes (PostgreSQL schema via search_path). */
  databaseUrl?: string;
  config: GatewayConfig;
  keys: GatewayKeys;
  db: TestDatabase;
  partnersFile: string;
  keysFile: string;
  worker?: DeliveryWorker;
  startWorker(): DeliveryWorker;
  close(): Promise<void>;
}

export function hubPartners(receiver: { url: string; fhir: string }, extra: Record<string, unknown>[] = []): unknown {
  return {
    organizations: [
      { id: HUB_SOURCE, type: 'MCO', name: 'Test Medicaid plan', clients: [] },
      {
        id: ACO,
        type: 'ACO',
        name: 'Test ACO',
        clients: [],
        endpoint: { fhirBaseUrl: receiver.fhir, tokenUrl: `${receiver.url}/auth/token`, clientId: 'lead-gateway', scope: 'system/*.cruds' },
      },
      ...extra,
    ],
    agreements: [
      { id: 'agr-test', aco: ACO, medicaidPartner: HUB_SOURCE, dataClasses: ['hcbs-assessment', 'medications', 'falls-risk'], purposeOfUse: 'TREAT', period: { start: '2020-01-01' } },
    ],
  };
}

/** Short backoffs and timeouts so fault tests finish in seconds. */
export const FAST_EXCHANGE_ENV = {
  EXCHANGE_ATTEMPTS: '6',
  EXCHANGE_BACKOFF_MS: '100',
  EXCHANGE_BACKOFF_MAX_MS: '1000',
  EXCHANGE_RETRY_AFTER_MAX_MS: '5000',
  // Generous: on a loaded 2-core machine a receiver's transaction can take seconds, and the
  // tests that count attempts expect no timeouts. (A retry that overlaps the receiver's
  // unfinished write is safe: conditional writes are serialised per criteria — its own test.)
  EXCHANGE_REQUEST_TIMEOUT_MS: '30000',
  EXCHANGE_DISPATCH_INTERVAL_MS: '50',
  EXCHANGE_LOCK_DURATION_MS: '3000',
  EXCHANGE_STALLED_INTERVAL_MS: '1000',
  EXCHANGE_RECOVER_AFTER_MS: '10000',
};

export async function hubKeyFiles(tmp: string): Promise<{ keysFile: string; keys: GatewayKeys; publicJwks: unknown }> {
  const jwks = { keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] };
  const keysFile = join(tmp, 'hub-keys.json');
  writeFileSync(keysFile, JSON.stringify(jwks), { mode: 0o600 });
  return { keysFile, keys: await gatewayKeysFromJwks(jwks, keysFile), publicJwks: publicJwksOf(jwks) };
}

export async function startHub(opts: {
  tmp: string;
  receiver: { url: string; fhir: string };
  keysFile: string;
  keys: GatewayKeys;
  redisPrefix: string;
  redisUrl?: string;
  kind?: StoreKind;
  env?: Record<string, string>;
}): Promise<Hub> {
  const db = await openTestDatabase(opts.kind ?? 'postgres');
  const partnersFile = join(opts.tmp, 'hub-partners.json');
  const schema = (db.db.kind === 'postgres' ? ((await db.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s) : undefined);
  writeFileSync(partnersFile, JSON.stringify(hubPartners(opts.receiver)));
  const config = loadConfig({
    BASE_URL: 'http://127.0.0.1:1',
    LOG_LEVEL: 'silent',
    PARTNERS_FILE: partnersFile,
    GATEWAY_KEYS_FILE: opts.keysFile,
    DATA_DIR: join(opts.tmp, 'hub-data'),
    EXCHANGE_QUEUE_PREFIX: `${opts.redisPrefix}hub`,
    BULK_QUEUE_PREFIX: `${opts.redisPrefix}bulk`,
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...FAST_EXCHANGE_ENV,
    ...opts.env,
  });
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  const gateway = await createGateway({ config, logger: silentLogger, db: db.db, auth: 'none', redis });
  const directory = loadPartners(partnersFile);
  const hub: Hub = {
    gateway,
    databaseUrl: schema ? `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}` : undefined,
    config,
    keys: opts.keys,
    db,
    partnersFile,
    keysFile: opts.keysFile,
    startWorker() {
      hub.worker = initDeliveryWorker({
        db: db.db,
        config: config.exchange,
        redisUrl: config.redisUrl,
        directory,
        clients: createOutboundClients(directory.organizations, opts.keys, { timeoutMs: config.exchange.requestTimeoutMs }),
        logger: silentLogger,
        metrics: gateway.exchange.metrics,
        // Two gateways share this process: name the hub's engine, not the process default.
        filter: (recipient, resources) => gateway.consent.filter(recipient, resources, 'exchange'),
      });
      return hub.worker;
    },
    async close() {
      await hub.worker?.close();
      await gateway.close();
      const r = new Redis(config.redisUrl, { maxRetriesPerRequest: 1 });
      r.on('error', () => undefined);
      await cleanupPrefix(r, opts.redisPrefix).catch(() => undefined);
      r.disconnect();
      redis.disconnect();
      await db.drop();
    },
  };
  return hub;
}

/** The roster as the consent engine reads it: a Group the ACO manages, listing the people. */
export async function alignToAco(hub: Hub, patientIds: string[], aco = ACO): Promise<void> {
  await hub.gateway.repo.create({
    resourceType: 'Group',
    type: 'person',
    actual: true,
    managingEntity: { reference: `Organization/${aco}` },
    member: patientIds.map((id) => ({ entity: { reference: `Patient/${id}` } })),
  } as Resource);
}

const crosswalk = () => parseRxNormCrosswalk(readFileSync('samples/ndc-rxnorm-crosswalk.csv', 'utf8'));

export async function ingestSample(hub: Hub, dir: string, layout: 'hcbs-assessment' | 'falls-screen' | 'pharmacy-claims' | 'eligibility-month') {
  return ingest(createReadStream(join(dir, `${layout}.csv`)), {
    layout: createLayouts({ crosswalk: crosswalk() })[layout],
    format: 'csv',
    repo: hub.gateway.repo,
    ctx: { sourceOrg: HUB_SOURCE, sourceOrgName: 'Test Medicaid plan', fileName: `${layout}.csv`, now: () => new Date('2026-11-02T09:00:00Z') },
  });
}

export async function makeSamples(tmp: string, patients: number, seed = 7): Promise<string> {
  const dir = join(tmp, 'samples');
  mkdirSync(dir, { recursive: true });
  await generateSamples({ patients, outDir: dir, seed });
  return dir;
}

export function tmpDir(name: string): { path: string; remove(): void } {
  const path = join(process.cwd(), 'tmp', `${name}-${randomUUID()}`);
  mkdirSync(path, { recursive: true });
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// What a receiving gateway writes itself: its audit trail, and what it published at start.
const OWN = `resource_type <> 'AuditEvent' AND NOT (resource_type || '/' || id = ANY($1::text[]))`;

/** Receiver store: resources by type (current, not deleted) and total history versions, delivered data only. */
export async function receiverCounts(receiver: Receiver): Promise<{ byType: Record<string, number>; versions: number }> {
  const r = await receiver.db.db.query<{ resource_type: string; n: number }>(
    `SELECT resource_type, count(*)::int AS n FROM resource WHERE NOT deleted AND ${OWN} GROUP BY resource_type`,
    [receiver.published],
  );
  const v = await receiver.db.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource_history WHERE ${OWN}`, [receiver.published]);
  return { byType: Object.fromEntries(r.rows.map((x) => [x.resource_type, x.n])), versions: v.rows[0].n };
}

/** Hub outbox: deliveries by state. */
export async function deliveryStates(hub: Hub): Promise<Record<string, number>> {
  const r = await hub.db.db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM exchange_delivery GROUP BY state');
  return Object.fromEntries(r.rows.map((x) => [x.state, x.n]));
}

/** Every routed resource the hub holds for the ACO, as identifiers the receiver must hold once each. */
export async function routedIdentifiers(hub: Hub): Promise<string[]> {
  const r = await hub.db.db.query<{ resource_type: string; resource_id: string }>(
    'SELECT DISTINCT i.resource_type, i.resource_id FROM exchange_delivery_item i',
  );
  const out: string[] = [];
  for (const row of r.rows) {
    const res = await hub.gateway.repo.read(row.resource_type, row.resource_id);
    const ids = (res as { identifier?: unknown }).identifier;
    const id = (Array.isArray(ids) ? ids : [ids]).find((x: { system?: string }) => x?.system?.includes('/sid/source/')) as { system: string; value: string };
    out.push(`${row.resource_type}?identifier=${id.system}|${id.value}`);
  }
  return out;
}

/** How many resources at the receiver carry each identifier (must be exactly 1). */
export async function receiverMatches(receiver: Receiver, keys: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const k of keys) {
    const [type, q] = k.split('?identifier=');
    const r = await receiver.db.db.query<{ n: number }>(
      `SELECT count(DISTINCT t.id)::int AS n FROM idx_token t JOIN resource r ON r.resource_type = t.resource_type AND r.id = t.id AND NOT r.deleted
       WHERE t.resource_type = $1 AND t.param = 'identifier' AND t.system = $2 AND t.code = $3`,
      [type, q.slice(0, q.indexOf('|')), q.slice(q.indexOf('|') + 1)],
    );
    out[k] = r.rows[0].n;
  }
  return out;
}

/** The environment a child `lead-gateway` process of the hub needs (same store, keys, queues). */
export function hubProcessEnv(hub: Hub, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: hub.databaseUrl!,
    PARTNERS_FILE: hub.partnersFile,
    GATEWAY_KEYS_FILE: hub.keysFile,
    REDIS_URL: hub.config.redisUrl,
    EXCHANGE_QUEUE_PREFIX: hub.config.exchange.queuePrefix,
    BULK_QUEUE_PREFIX: hub.config.bulk.queuePrefix,
    DATA_DIR: hub.config.dataDir,
    LOG_LEVEL: 'warn',
    ...FAST_EXCHANGE_ENV,
    ...extra,
  };
}
