// Configuration comes from the environment only, read and validated once at start.
// A bad value stops start-up with one line naming the variable (ConfigError).
import { resolve } from 'node:path';

export class ConfigError extends Error {
  constructor(public readonly variable: string, reason: string) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

export interface GatewayConfig {
  port: number;
  host: string;
  /** PostgreSQL connection string; when absent the embedded PGlite store under dataDir is used. */
  databaseUrl?: string;
  dataDir: string;
  redisUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Public base URL of the gateway (no trailing slash), used in links and Location headers. */
  baseUrl: string;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Largest page a search returns, whatever `_count` asks. */
  maxPageSize: number;
  defaultPageSize: number;
  partnersFile: string;
  gatewayKeysFile?: string;
  policyFile: string;
  bulk: BulkExportConfig;
  exchange: ExchangeConfig;
  ingest: IngestConfig;
  risk: RiskConfig;
  /** Bearer token for /admin (queue dashboard); absent = the admin routes answer 404. */
  adminToken?: string;
}


/** Queued exchange (src/exchange): routing inputs, the outbox dispatcher, delivery retries. */
export interface ExchangeConfig {
  /** Write outbox rows at all (off for a gateway acting only as a receiver). */
  enabled: boolean;
  /** Roster file aligning beneficiaries to ACOs until alignment exists (optional). */
  rosterFile?: string;
  /** Data-class rules: which committed resources belong to which agreement data class. */
  dataClassesFile: string;
  /** BullMQ key prefix (tests give each suite its own). */
  queuePrefix: string;
  /** Attempts per delivery before it is dead-lettered. */
  attempts: number;
  /** First retry delay; doubles each attempt, with jitter, up to backoffMaxMs. */
  backoffMs: number;
  backoffMaxMs: number;
  /** Longest Retry-After (429/503) honoured; larger values are cut to this. */
  retryAfterMaxMs: number;
  /** Partner request timeout (token and transaction). */
  requestTimeoutMs: number;
  /** How often the dispatcher moves outbox rows into BullMQ. */
  dispatchIntervalMs: number;
  /** Deliveries one worker process runs at once per destination. */
  concurrencyPerDestination: number;
  /** Deliveries per second per destination across all workers (0 = unlimited). */
  ratePerSecond: number;
  /** BullMQ lock and stalled-job check: a killed worker's job is re-run after about this. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  /** A queued delivery whose job is missing from Redis this long is queued again (Redis lost data). */
  recoverAfterMs: number;
}

/** POST /ingest/{layout} and the ingest worker (src/ingest). */
export interface IngestConfig {
  /** Largest accepted upload; the upload is streamed to DATA_DIR/ingest and cut off (413) beyond it. */
  maxUploadBytes: number;
  /** Largest single source record (CSV row or NDJSON line). */
  maxRecordBytes: number;
  /** BullMQ key prefix (tests give each suite its own). */
  queuePrefix: string;
  /** Ingest jobs one worker process runs at once. */
  workerConcurrency: number;
  /**
   * Transactions one ingest keeps in flight on PostgreSQL (PGlite: always 1), each holding a
   * pool connection: keep workerConcurrency × storeLanes below the pool's 10.
   */
  storeLanes: number;
  /** Source records per ingest transaction (each in its own savepoint). */
  batchRecords: number;
  /** NDC → RxNorm crosswalk (pharmacy claims). */
  crosswalkFile: string;
  /** Fall-risk-increasing drug class list (pharmacy claims). */
  fridClassesFile: string;
}

/** Shared risk stratification (src/risk): the protocol file and the recomputation drain. */
export interface RiskConfig {
  /** The protocol both partners agreed on, checked against config/risk/shared-risk-protocol.schema.json. */
  protocolFile: string;
  /** Pause of a worker's drain when no one is waiting for recomputation. */
  drainIntervalMs: number;
  /** People one drain round claims. */
  batchSize: number;
  /** How long a claimed person is left to one worker before another may take them. */
  leaseMs: number;
}

/** Bulk Data $export (src/fhir/bulk): limits, polling and file lifetime. */
export interface BulkExportConfig {
  /** Exports a client may have accepted or running at once; the next kick-off gets 429. */
  maxConcurrentPerClient: number;
  /** Retry-After (seconds) sent with 202 status responses. */
  retryAfterSeconds: number;
  /** A status poll sooner than this after the previous one gets 429. */
  minPollIntervalMs: number;
  /** How long output files stay downloadable after the export completes. */
  fileTtlSeconds: number;
  /** An output file is closed and a new one started beyond this size. */
  maxFileBytes: number;
  /** Rows read per keyset page. */
  pageSize: number;
  /** Disclosed resources one export AuditEvent covers at least (several pages). */
  auditEventResources: number;
  /** BullMQ key prefix (tests give each suite its own). */
  queuePrefix: string;
  /** Export jobs one worker process runs at once. */
  workerConcurrency: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function url(env: NodeJS.ProcessEnv, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${parsed.protocol}`);
  }
  return raw;
}

function adminToken(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.ADMIN_TOKEN;
  if (raw === undefined || raw === '') return undefined;
  // A guessable admin token would open the queue dashboard (replay, delete) to anyone.
  if (raw.length < 32) throw new ConfigError('ADMIN_TOKEN', 'must be at least 32 characters');
  return raw;
}

/** Reads and validates the gateway configuration. Pure: pass `process.env` at the edge. */
export function loadConfig(env: NodeJS.ProcessEnv): GatewayConfig {
  const port = int(env, 'PORT', 8080, 0, 65535);
  const host = env.HOST || '0.0.0.0';
  const logLevel = (env.LOG_LEVEL || 'info') as GatewayConfig['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }
  const baseUrl = (url(env, 'BASE_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, '');
  return {
    port,
    host,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: resolve(env.DATA_DIR || './data'),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']) ?? 'redis://127.0.0.1:6379',
    logLevel,
    baseUrl,
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxPageSize: int(env, 'MAX_PAGE_SIZE', 1000, 1, 10000),
    defaultPageSize: int(env, 'DEFAULT_PAGE_SIZE', 50, 1, 10000),
    partnersFile: resolve(env.PARTNERS_FILE || 'config/partners.json'),
    gatewayKeysFile: env.GATEWAY_KEYS_FILE ? resolve(env.GATEWAY_KEYS_FILE) : undefined,
    policyFile: resolve(env.POLICY_FILE || 'config/policy.json'),
    bulk: {
      maxConcurrentPerClient: int(env, 'BULK_MAX_CONCURRENT_PER_CLIENT', 1, 1, 100),
      retryAfterSeconds: int(env, 'BULK_RETRY_AFTER_SECONDS', 3, 1, 120),
      minPollIntervalMs: int(env, 'BULK_MIN_POLL_INTERVAL_MS', 1000, 0, 600000),
      fileTtlSeconds: int(env, 'BULK_FILE_TTL_SECONDS', 3600, 1, 30 * 86400),
      maxFileBytes: int(env, 'BULK_MAX_FILE_BYTES', 100 * 1024 * 1024, 1024, 10 * 1024 * 1024 * 1024),
      pageSize: int(env, 'BULK_PAGE_SIZE', 1000, 1, 100000),
      auditEventResources: int(env, 'BULK_AUDIT_EVENT_RESOURCES', 10000, 1, 1000000),
      queuePrefix: env.BULK_QUEUE_PREFIX || 'lead:bull',
      workerConcurrency: int(env, 'BULK_WORKER_CONCURRENCY', 2, 1, 64),
    },
    exchange: {
      enabled: (env.EXCHANGE_ENABLED || 'true') !== 'false',
      rosterFile: env.EXCHANGE_ROSTER_FILE ? resolve(env.EXCHANGE_ROSTER_FILE) : undefined,
      dataClassesFile: resolve(env.EXCHANGE_DATA_CLASSES_FILE || 'config/exchange/data-classes.json'),
      queuePrefix: env.EXCHANGE_QUEUE_PREFIX || 'lead:bull',
      attempts: int(env, 'EXCHANGE_ATTEMPTS', 8, 1, 100),
      backoffMs: int(env, 'EXCHANGE_BACKOFF_MS', 5000, 1, 3600000),
      backoffMaxMs: int(env, 'EXCHANGE_BACKOFF_MAX_MS', 15 * 60000, 1, 86400000),
      retryAfterMaxMs: int(env, 'EXCHANGE_RETRY_AFTER_MAX_MS', 3600000, 0, 86400000),
      requestTimeoutMs: int(env, 'EXCHANGE_REQUEST_TIMEOUT_MS', 30000, 100, 600000),
      dispatchIntervalMs: int(env, 'EXCHANGE_DISPATCH_INTERVAL_MS', 200, 10, 60000),
      concurrencyPerDestination: int(env, 'EXCHANGE_CONCURRENCY', 4, 1, 256),
      ratePerSecond: int(env, 'EXCHANGE_RATE_PER_SECOND', 0, 0, 100000),
      lockDurationMs: int(env, 'EXCHANGE_LOCK_DURATION_MS', 60000, 500, 3600000),
      stalledIntervalMs: int(env, 'EXCHANGE_STALLED_INTERVAL_MS', 30000, 200, 3600000),
      maxStalledCount: int(env, 'EXCHANGE_MAX_STALLED_COUNT', 3, 0, 100),
      recoverAfterMs: int(env, 'EXCHANGE_RECOVER_AFTER_MS', 120000, 100, 86400000),
    },
    ingest: {
      maxUploadBytes: int(env, 'INGEST_MAX_UPLOAD_BYTES', 1024 * 1024 * 1024, 1024, 100 * 1024 * 1024 * 1024),
      maxRecordBytes: int(env, 'INGEST_MAX_RECORD_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
      queuePrefix: env.INGEST_QUEUE_PREFIX || 'lead:bull',
      workerConcurrency: int(env, 'INGEST_WORKER_CONCURRENCY', 1, 1, 64),
      storeLanes: int(env, 'INGEST_STORE_LANES', 4, 1, 8),
      batchRecords: int(env, 'INGEST_BATCH_RECORDS', 50, 1, 1000),
      crosswalkFile: resolve(env.INGEST_CROSSWALK_FILE || 'samples/ndc-rxnorm-crosswalk.csv'),
      fridClassesFile: resolve(env.INGEST_FRID_CLASSES_FILE || 'config/medication-risk/frid-classes.json'),
    },
    risk: {
      protocolFile: resolve(env.RISK_PROTOCOL_FILE || 'config/risk/shared-risk-protocol.json'),
      drainIntervalMs: int(env, 'RISK_DRAIN_INTERVAL_MS', 1000, 10, 600000),
      batchSize: int(env, 'RISK_BATCH_SIZE', 50, 1, 10000),
      leaseMs: int(env, 'RISK_LEASE_MS', 60000, 1000, 3600000),
    },
    adminToken: adminToken(env),
  };
}
