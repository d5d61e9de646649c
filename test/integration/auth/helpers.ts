// Shared fixtures for the auth integration tests: a real express server on an ephemeral
// loopback port, real Redis with a per-file key prefix, keys generated per run.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import express from 'express';
import { Redis } from 'ioredis';
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { pino, type Logger } from 'pino';
import { parsePartners, type PartnerDirectory } from '../../../src/config/partners.js';
import { generatePrivateJwk, publicJwksOf, type GatewayKeys } from '../../../src/auth/gateway-keys.js';
import { createAuthRouter, type AuthRouterOptions } from '../../../src/auth/token-server.js';
import { JWT_BEARER } from '../../../src/auth/client-assertion.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export function newRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
}

export function uniquePrefix(name: string): string {
  return `test:${name}:${randomUUID()}:`;
}

/** Deletes only this test file's keys (never FLUSHDB: other suites share the Redis). */
export async function cleanupPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** A pino logger whose JSON lines the test can read (to check *why* a request was refused). */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

export interface Listening {
  server: Server;
  baseUrl: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0 first, so the app can be built knowing its own absolute URL. */
export async function listen(build: (baseUrl: string) => express.Express | Promise<express.Express>): Promise<Listening> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  server.on('request', await build(baseUrl));
  return {
    server,
    baseUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export async function startTokenServer(opts: Omit<AuthRouterOptions, 'config'>): Promise<Listening & { tokenUrl: string }> {
  const listening = await listen((baseUrl) => express().use(createAuthRouter({ ...opts, config: { baseUrl } })));
  return { ...listening, tokenUrl: `${listening.baseUrl}/auth/token` };
}

export interface TestClient {
  clientId: string;
  privateJwk: JWK;
}

export async function newClient(clientId: string, alg: 'ES384' | 'RS384'): Promise<TestClient> {
  return { clientId, privateJwk: await generatePrivateJwk(alg) };
}

export function publicJwks(client: TestClient) {
  return publicJwksOf({ keys: [client.privateJwk] });
}

/** A directory of test organizations; each entry gives clients and scopes. */
export function directory(
  orgs: Array<{ id: string; type: 'SMA' | 'MCO' | 'HIE' | 'ACO'; clients: Array<Record<string, unknown>> }>,
): PartnerDirectory {
  return parsePartners({ organizations: orgs.map((o) => ({ ...o, name: o.id })), agreements: [] }, 'test directory');
}

export interface AssertionOverrides {
  header?: Record<string, unknown>;
  claims?: JWTPayload;
  /** Sign with this key instead of the client's own. */
  key?: JWK;
}

/** A client assertion as SMART asks for it, with any field overridable for adversarial cases. */
export async function signAssertion(client: TestClient, aud: string, o: AssertionOverrides = {}): Promise<string> {
  const jwk = o.key ?? client.privateJwk;
  const header: Record<string, unknown> = { alg: jwk.alg, kid: client.privateJwk.kid, typ: 'JWT', ...o.header };
  // An override of undefined removes the member (e.g. no kid, no typ).
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = { iss: client.clientId, sub: client.clientId, aud, exp: now + 300, jti: randomUUID(), ...o.claims };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return new SignJWT(claims)
    .setProtectedHeader(header as { alg: string })
    .sign(await importJWK(jwk, header.alg as string));
}

export interface TokenResponse {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

export async function postForm(url: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<TokenResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

export function tokenRequest(assertion: string, scope: string, extra: Record<string, string> = {}): Record<string, string> {
  return { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: assertion, scope, ...extra };
}

export type { GatewayKeys };
