// Starts a real gateway on a loopback port for black-box tests of the HTTP API.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { loadConfig, type GatewayConfig } from '../../src/config/env.js';
import { createGateway, type Gateway, type AuthWiring } from '../../src/gateway.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { openTestDatabase, type StoreKind, type TestDatabase } from './database.js';

export interface RunningGateway {
  gateway: Gateway;
  testDb: TestDatabase;
  url: string; // http://127.0.0.1:port
  fhir: string; // url + /fhir
  close(): Promise<void>;
}

export async function startGateway(
  kind: StoreKind,
  opts: { env?: Record<string, string>; auth?: (config: GatewayConfig) => Promise<AuthWiring>; logger?: Logger } = {},
): Promise<RunningGateway> {
  const testDb = await openTestDatabase(kind);
  // The base URL must be known before the port: listen first, then build links from it.
  const { createServer } = await import('node:http');
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const config = loadConfig({ BASE_URL: `http://127.0.0.1:${port}`, LOG_LEVEL: 'silent', ...opts.env });
  const gateway = await createGateway({ config, logger: opts.logger ?? silentLogger, db: testDb.db, auth: opts.auth ? await opts.auth(config) : 'none' });
  server.on('request', gateway.app);
  const url = `http://127.0.0.1:${port}`;
  return {
    gateway,
    testDb,
    url,
    fhir: `${url}/fhir`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await gateway.close();
      gateway.redis.disconnect();
      await testDb.drop();
    },
  };
}

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function http<T = any>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse<T>> {
  const init: RequestInit = { method, headers: { accept: 'application/fhir+json', ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/fhir+json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}
