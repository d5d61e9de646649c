// The subscription-notification set-up shared by the integration test and bench/notifications.ts:
// the real gateway (PostgreSQL schema of its own, SMART Backend Services with the demo clients'
// keys, real Redis under its own prefix) with the notification worker in-process, and the
// subscriber's rest-hook endpoint (notification-receiver.ts) as a separate process on loopback,
// registered for aco-sunrise in a copy of the demo partner directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { generatePrivateJwk, gatewayKeysFromJwks, publicJwksOf } from '../../src/auth/gateway-keys.js';
import { createOutboundClients } from '../../src/auth/outbound-client.js';
import { createAuth, type Auth } from '../../src/auth/wiring.js';
import { loadConfig, type GatewayConfig } from '../../src/config/env.js';
import { loadPartners, type PartnersFile } from '../../src/config/partners.js';
import { Repository } from '../../src/fhir/store/repository.js';
import { silentLogger } from '../../src/logger.js';
import { initNotificationWorker, type NotificationWorker } from '../../src/notifications/notification-worker.js';
import type { NotificationDeps } from '../../src/notifications/exec-notification-job.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { TEST_DATABASE_URL } from '../helpers/database.js';
import { demoToken } from '../helpers/demo-token.js';

export interface ReceivedNotification {
  receivedAt: number;
  contentType?: string;
  authorized: boolean;
  body: any;
}

export interface ReceiverProcess {
  url: string;
  endpoint: string;
  /** What arrived (after the first `since`). */
  received(since?: number): Promise<ReceivedNotification[]>;
  close(): Promise<void>;
}

/** The rest-hook endpoint as its own process; resolves once it listens. */
export async function startReceiverProcess(opts: { jwksFile: string; out?: string }): Promise<ReceiverProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['bin/run-ts.js', 'test/support/notification-receiver.ts', '--jwks', opts.jwksFile, ...(opts.out ? ['--out', opts.out] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (l) => resolve((JSON.parse(l) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`notification receiver exited (${code})`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    endpoint: `${url}/notify`,
    received: async (since = 0) => (await (await fetch(`${url}/received?since=${since}`)).json()) as ReceivedNotification[],
    close: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

/** The demo directory, with aco-sunrise's notification endpoint and token URL at the receiver. */
export function notificationPartners(receiverUrl: string): PartnersFile {
  const demo = JSON.parse(readFileSync('config/partners.json', 'utf8')) as PartnersFile;
  const pick = (id: string) => structuredClone(demo.organizations.find((o) => o.id === id)!);
  const sma = pick('sma-state');
  const mco = pick('mco-bluecare');
  const aco = pick('aco-sunrise');
  const other = pick('aco-riverside');
  for (const o of [sma, mco, aco, other]) delete o.endpoint;
  mco.clients = mco.clients.filter((c) => c.clientId === 'bluecare-care-mgmt');
  mco.clients[0].scopes = ['system/Patient.rs', 'system/QuestionnaireResponse.cruds', 'system/CareTeam.cruds', 'system/Observation.rs', 'system/Flag.rs', 'system/Communication.rs'];
  aco.clients[0].scopes = [...new Set([...aco.clients[0].scopes, 'system/Subscription.cruds', 'system/CareTeam.cruds', 'system/Flag.rs', 'system/Communication.rs'])];
  aco.endpoint = { fhirBaseUrl: `${receiverUrl}/fhir`, tokenUrl: `${receiverUrl}/auth/token`, clientId: 'lead-gateway', scope: 'system/*.rs' };
  aco.notificationEndpoints = [`${receiverUrl}/notify`];
  other.clients[0].scopes = [...new Set([...other.clients[0].scopes, 'system/Subscription.cruds'])];
  other.notificationEndpoints = ['http://127.0.0.1:9/riverside-notifications'];
  return { defaults: { rateLimit: { requests: 1_000_000, windowSeconds: 60 } }, organizations: [sma, mco, aco, other], agreements: [] };
}

export interface NotificationHub {
  gw: RunningGateway;
  auth: Auth;
  config: GatewayConfig;
  receiver: ReceiverProcess;
  /** The in-process worker (absent with `workerProcess`). */
  worker?: NotificationWorker;
  token(clientId: string, scope: string): Promise<string>;
  close(): Promise<void>;
}

export async function startNotificationHub(opts: {
  tmp: string;
  prefix: string;
  env?: Record<string, string>;
  onDelivered?: NotificationDeps['onDelivered'];
  /** Run the workers as a `lead-gateway worker` process (same store, keys, queues) instead of in-process. */
  workerProcess?: boolean;
}): Promise<NotificationHub> {
  const jwks = { keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] };
  const keysFile = join(opts.tmp, 'hub-keys.json');
  writeFileSync(keysFile, JSON.stringify(jwks), { mode: 0o600 });
  const jwksFile = join(opts.tmp, 'hub-public.jwks.json');
  writeFileSync(jwksFile, JSON.stringify(publicJwksOf(jwks)));
  const receiver = await startReceiverProcess({ jwksFile, out: join(opts.tmp, 'received.jsonl') });
  const partnersFile = join(opts.tmp, 'partners.json');
  writeFileSync(partnersFile, JSON.stringify(notificationPartners(receiver.url)));
  const env = {
    PARTNERS_FILE: partnersFile,
    GATEWAY_KEYS_FILE: keysFile,
    DATA_DIR: join(opts.tmp, 'data'),
    EXCHANGE_QUEUE_PREFIX: `${opts.prefix}q`,
    BULK_QUEUE_PREFIX: `${opts.prefix}bulk`,
    EXCHANGE_DISPATCH_INTERVAL_MS: '50',
    EXCHANGE_BACKOFF_MS: '100',
    EXCHANGE_BACKOFF_MAX_MS: '1000',
    EXCHANGE_REQUEST_TIMEOUT_MS: '30000',
    ...opts.env,
  };
  let auth!: Auth;
  const gw = await startGateway('postgres', {
    env,
    auth: async (config) => {
      auth = await createAuth(config, silentLogger, { keyPrefix: `${opts.prefix}auth:` });
      return auth.wiring;
    },
  });
  const config = loadConfig({ BASE_URL: gw.url, LOG_LEVEL: 'silent', ...env });
  const directory = loadPartners(partnersFile);
  const keys = await gatewayKeysFromJwks(jwks, keysFile);
  let child: ChildProcess | undefined;
  if (opts.workerProcess) {
    const schema = (await gw.gateway.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
    child = spawn(process.execPath, ['bin/lead-gateway.js', 'worker'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...env,
        BASE_URL: gw.url,
        LOG_LEVEL: 'warn',
        DATABASE_URL: `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
        REDIS_URL: config.redisUrl,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  const worker = opts.workerProcess ? undefined : initNotificationWorker({
    db: gw.gateway.db,
    config: config.exchange,
    redisUrl: config.redisUrl,
    directory,
    fhirBase: gw.fhir,
    clients: createOutboundClients(directory.organizations, keys, { timeoutMs: config.exchange.requestTimeoutMs }),
    filter: (recipient, resources) => gw.gateway.consent.filter(recipient, resources, 'exchange'),
    statusRepo: new Repository(gw.gateway.db, { validate: (r) => gw.gateway.validator.validate(r), baseUrl: gw.fhir }),
    logger: silentLogger,
    onDelivered: opts.onDelivered,
  });
  return {
    gw,
    auth,
    config,
    receiver,
    worker,
    token: (clientId, scope) => demoToken(gw.url, clientId, scope),
    async close() {
      await worker?.close();
      if (child && child.exitCode === null) {
        const gone = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      await gw.close();
      const r = new Redis(config.redisUrl, { maxRetriesPerRequest: 1 });
      r.on('error', () => undefined);
      let cursor = '0';
      do {
        const [next, found] = await r.scan(cursor, 'MATCH', `${opts.prefix}*`, 'COUNT', 1000);
        if (found.length) await r.del(...found);
        cursor = next;
      } while (cursor !== '0');
      r.disconnect();
      await auth.close();
      await receiver.close();
    },
  };
}
