// A real gateway with SMART auth (demo partner directory and keys), real Redis under a unique
// BullMQ prefix, a fresh PostgreSQL schema, and an export worker in the same process.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuth, type Auth } from '../../../src/auth/wiring.js';
import { initExportWorker, type ExportWorker } from '../../../src/fhir/bulk/export-worker.js';
import { silentLogger } from '../../../src/logger.js';
import { startGateway, type RunningGateway } from '../../helpers/gateway.js';
import type { StoreKind } from '../../helpers/database.js';
import { cleanupPrefix } from '../auth/helpers.js';
import { demoToken } from '../../helpers/demo-token.js';

export interface BulkFixture {
  gw: RunningGateway;
  auth: Auth;
  worker: ExportWorker;
  token(clientId: string, scope: string): Promise<string>;
  close(): Promise<void>;
}

export async function startBulkGateway(kind: StoreKind, env: Record<string, string> = {}): Promise<BulkFixture> {
  const prefix = `test:bulk:${randomUUID()}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'bulk-test-'));
  let auth!: Auth;
  const gw = await startGateway(kind, {
    env: {
      PARTNERS_FILE: 'config/partners.json',
      GATEWAY_KEYS_FILE: '',
      DATA_DIR: dataDir,
      BULK_QUEUE_PREFIX: `${prefix}bull`,
      BULK_MIN_POLL_INTERVAL_MS: '0',
      BULK_RETRY_AFTER_SECONDS: '1',
      ...env,
    },
    auth: async (config) => {
      auth = await createAuth(config, silentLogger, { keyPrefix: `${prefix}auth:` });
      return auth.wiring;
    },
  });
  const ctx = gw.gateway.bulk.ctx;
  const worker = initExportWorker({
    db: ctx.db,
    storage: ctx.storage,
    config: ctx.config,
    fhirBase: ctx.fhirBase,
    logger: silentLogger,
    consent: gw.gateway.consent,
    redisUrl: 'redis://127.0.0.1:6379',
    sweepIntervalMs: 0,
  });
  const token = (clientId: string, scope: string): Promise<string> => demoToken(gw.url, clientId, scope);
  return {
    gw,
    auth,
    worker,
    token,
    async close() {
      await worker.close();
      await gw.close();
      await cleanupPrefix(auth.redis, prefix);
      await auth.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface KickOff {
  status: number;
  location?: string;
  body: any;
}

export async function kickOff(url: string, token: string, init: { method?: string; body?: unknown; prefer?: string | null; headers?: Record<string, string> } = {}): Promise<KickOff> {
  const headers: Record<string, string> = { accept: 'application/fhir+json', authorization: `Bearer ${token}`, ...init.headers };
  if (init.prefer !== null) headers.prefer = init.prefer ?? 'respond-async';
  if (init.body !== undefined) headers['content-type'] = 'application/fhir+json';
  const res = await fetch(url, { method: init.method ?? (init.body ? 'POST' : 'GET'), headers, body: init.body ? JSON.stringify(init.body) : undefined });
  const text = await res.text();
  return { status: res.status, location: res.headers.get('content-location') ?? undefined, body: text ? JSON.parse(text) : undefined };
}

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
}

/** Polls until the manifest (or a failure status) arrives. */
export async function waitForManifest(location: string, token: string, timeoutMs = 30000): Promise<{ status: number; headers: Headers; body: any }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(location, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 202) return { status: res.status, headers: res.headers, body: await res.json() };
    await res.arrayBuffer();
    if (Date.now() > end) throw new Error('export did not finish in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runExport(url: string, token: string, init: Parameters<typeof kickOff>[2] = {}): Promise<Manifest> {
  const k = await kickOff(url, token, init);
  if (k.status !== 202) throw new Error(`kick-off ${k.status}: ${JSON.stringify(k.body)}`);
  const m = await waitForManifest(k.location as string, token);
  if (m.status !== 200) throw new Error(`status ${m.status}: ${JSON.stringify(m.body)}`);
  return m.body as Manifest;
}

export async function download(url: string, token: string): Promise<any[]> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+ndjson' } });
  if (res.status !== 200) throw new Error(`download ${res.status}`);
  const text = await res.text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Every resource of the manifest's output, by type. */
export async function downloadAll(m: Manifest, token: string): Promise<Record<string, any[]>> {
  const out: Record<string, any[]> = {};
  for (const f of m.output) (out[f.type] ??= []).push(...(await download(f.url, token)));
  return out;
}
