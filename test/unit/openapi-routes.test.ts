// openapi.yaml must describe every HTTP endpoint the gateway really serves.
//
// 1. Every concrete express route (method + path) of the real app — built by createGateway,
//    once with auth 'none' and once with the real SMART wiring from createAuth (token endpoint,
//    introspection, JWKS, discovery) — must be an operation in openapi.yaml. Routes are found by
//    walking the express 5 router stack (app.router.stack, nested routers' handle.stack).
// 2. The FHIR API is not express routes: one catch-all router is mounted at /fhir and the
//    framework-free FhirRouter decides. For every catch-all mount, each documented path below it
//    is probed with every method against the real app (on an existing Patient): a method the
//    server answers must be documented, a documented one must not be a 405 or 404. Paths the
//    router does not serve today (e.g. $everything, $export, _history at type level) are probed
//    too, so starting to serve one without documenting it fails here.
// 3. Every documented path must be served: by an express route or under a catch-all mount.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { generatePrivateJwk, publicJwksOf } from '../../src/auth/gateway-keys.js';
import { createAuth, type Auth } from '../../src/auth/wiring.js';
import { loadConfig } from '../../src/config/env.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/logger.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';

const OPENAPI_FILE = new URL('../../openapi.yaml', import.meta.url);
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const PROBE_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** FHIR interactions the gateway must offer (issue 2): method + OpenAPI path. */
const REQUIRED_FHIR = [
  'GET /fhir/metadata',
  'POST /fhir',
  'GET /fhir/{type}',
  'POST /fhir/{type}',
  'PUT /fhir/{type}',
  'DELETE /fhir/{type}',
  'POST /fhir/{type}/_search',
  'POST /fhir/{type}/$validate',
  'GET /fhir/{type}/{id}',
  'PUT /fhir/{type}/{id}',
  'DELETE /fhir/{type}/{id}',
  'GET /fhir/{type}/{id}/_history',
  'GET /fhir/{type}/{id}/_history/{vid}',
];

/** Shapes that are NOT documented today; the FHIR router must keep answering them 404/405. */
const UNDOCUMENTED_PROBES = [
  '/fhir/_history',
  '/fhir/_search',
  '/fhir/$export',
  '/fhir/$everything',
  '/fhir/{type}/_history',
  '/fhir/{type}/$export',
  '/fhir/{type}/$everything',
  '/fhir/{type}/{id}/$everything',
  '/fhir/{type}/{id}/$validate',
  '/fhir/{type}/{id}/$meta',
  '/fhir/{type}/{id}/_history/{vid}/extra',
  '/fhir/{type}/{id}/other',
];

// --- the express 5 router stack --------------------------------------------------------------

interface ExpressRoute {
  method: string; // upper case; '*' for .all()
  path: string; // express syntax, mount paths joined
}

interface RouteInventory {
  routes: ExpressRoute[];
  /** Paths where plain middleware (not a route) can answer anything below: e.g. /fhir. */
  catchAllMounts: string[];
}

/* eslint-disable @typescript-eslint/no-explicit-any -- express's router internals are untyped */
function layerPaths(layer: any): string[] {
  // router ≥ 2.3 keeps the path a layer was registered with (string, RegExp or array of them).
  let raw: unknown = layer.rawPath;
  if (raw === undefined && layer.route) raw = layer.route.path;
  if (raw === undefined && layer.slash) raw = '/';
  if (raw === undefined) {
    throw new Error(
      'Cannot read the path of an express layer (no layer.rawPath): the express/router internals ' +
        'changed; update layerPaths() in test/unit/openapi-routes.test.ts',
    );
  }
  const list = (Array.isArray(raw) ? raw.flat(Infinity) : [raw]) as unknown[];
  return list.map((p) => {
    if (typeof p !== 'string') {
      throw new Error(`Express path ${String(p)} is not a string: document it and teach this test to map it`);
    }
    return p;
  });
}

function joinPath(prefix: string, path: string): string {
  const joined = prefix.replace(/\/+$/, '') + (path === '/' ? '' : path);
  return joined === '' ? '/' : joined;
}

function walkStack(stack: any[], prefix: string, out: RouteInventory): void {
  for (const layer of stack) {
    const paths = layerPaths(layer);
    if (layer.route) {
      const methods = Object.keys(layer.route.methods).map((m) => (m === '_all' ? '*' : m.toUpperCase()));
      for (const p of paths) for (const method of methods) out.routes.push({ method, path: joinPath(prefix, p) });
      continue;
    }
    const handle = layer.handle;
    if (Array.isArray(handle?.stack)) {
      for (const p of paths) walkStack(handle.stack, joinPath(prefix, p), out);
      continue;
    }
    if (typeof handle === 'function' && handle.length === 4) continue; // error handler
    // Plain middleware: at the root it is global (body parsing, the 404 fallback); mounted at a
    // path (directly or through a router) it can answer every request below that path.
    for (const p of paths) {
      const full = joinPath(prefix, p);
      if (full !== '/' && !out.catchAllMounts.includes(full)) out.catchAllMounts.push(full);
    }
  }
}

function inventory(app: Express): RouteInventory {
  const out: RouteInventory = { routes: [], catchAllMounts: [] };
  walkStack((app as any).router.stack, '', out);
  return out;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * Express 5 path syntax → OpenAPI paths: `:name` and `*name` → `{name}`; `{…}` optional groups
 * expand to both variants.
 */
function toOpenApiPaths(expressPath: string): string[] {
  const optional = /\{([^{}]*)\}/.exec(expressPath);
  if (optional) {
    const before = expressPath.slice(0, optional.index);
    const after = expressPath.slice(optional.index + optional[0].length);
    return [...toOpenApiPaths(before + after), ...toOpenApiPaths(before + optional[1] + after)];
  }
  const p = expressPath.replace(/[:*]([A-Za-z_$][\w$]*)/g, '{$1}').replace(/\/+$/, '');
  return [p === '' ? '/' : p];
}

/** OpenAPI treats `/a/{x}` and `/a/{y}` as the same path: compare by shape. */
const shape = (p: string): string => p.replace(/\{[^}]*\}/g, '{}');

interface OpenApi {
  paths: Record<string, Record<string, unknown>>;
}

function documentedOps(doc: OpenApi): Map<string, Set<string>> {
  const ops = new Map<string, Set<string>>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const methods = ops.get(shape(path)) ?? new Set<string>();
    for (const m of HTTP_METHODS) if (item[m]) methods.add(m.toUpperCase());
    ops.set(shape(path), methods);
  }
  return ops;
}

/** Express routes that openapi.yaml does not describe, as "METHOD /path". */
function undocumentedRoutes(inv: RouteInventory, doc: OpenApi): string[] {
  const ops = documentedOps(doc);
  const missing: string[] = [];
  for (const r of inv.routes) {
    for (const p of toOpenApiPaths(r.path)) {
      const methods = ops.get(shape(p));
      const ok = r.method === '*' ? methods !== undefined && methods.size > 0 : methods?.has(r.method);
      if (!ok) missing.push(`${r.method} ${p}`);
    }
  }
  return [...new Set(missing)];
}

const isRoute = (inv: RouteInventory[], method: string, path: string): boolean =>
  inv.some((i) =>
    i.routes.some((r) => (r.method === method || r.method === '*') && toOpenApiPaths(r.path).some((p) => shape(p) === shape(path))),
  );

/** Is `concretePath` (e.g. /fhir/Group/g1/$export) served by an express route for `method`? */
const routeServes = (inv: RouteInventory[], method: string, concretePath: string): boolean =>
  inv.some((i) =>
    i.routes.some(
      (r) =>
        (r.method === method || r.method === '*') &&
        toOpenApiPaths(r.path).some((p) => {
          const re = p.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]*\}/g, '[^/]+');
          return new RegExp(`^${re}$`).test(concretePath);
        }),
    ),
  );

const underMount = (inv: RouteInventory[], path: string): string | undefined =>
  inv.flatMap((i) => i.catchAllMounts).find((m) => path === m || path.startsWith(`${m}/`));

// --- probing the catch-all -------------------------------------------------------------------

const PROBE_ID = 'openapi-probe-1';

function concrete(path: string): string {
  return path
    .replace('{type}', 'Patient')
    .replace('{id}', PROBE_ID)
    .replace('{vid}', '1')
    .replace(/\{[^}]*\}/g, 'x');
}

/**
 * Sends `method` to the concrete form of `path` (Patient/openapi-probe-1, which exists: it is
 * re-created before every probe, so a read is a 200 and not a 404). Bodies are `{}`, so writes
 * are 400s: what matters is whether the router takes the request at all.
 */
async function probe(base: string, method: string, path: string): Promise<{ status: number; detail: string }> {
  const put = await fetch(`${base}/fhir/Patient/${PROBE_ID}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Patient', id: PROBE_ID, active: true }),
  });
  if (put.status >= 300) throw new Error(`Could not create the probe Patient: ${put.status} ${await put.text()}`);
  const withBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
  const res = await fetch(`${base}${concrete(path)}?_id=${PROBE_ID}`, {
    method,
    headers: { accept: 'application/fhir+json', ...(withBody ? { 'content-type': 'application/fhir+json' } : {}) },
    body: withBody ? '{}' : undefined,
  });
  const text = await res.text();
  let detail = text.slice(0, 120);
  try {
    detail = (JSON.parse(text) as { issue?: { diagnostics?: string }[] }).issue?.[0]?.diagnostics ?? detail;
  } catch {
    /* not JSON */
  }
  return { status: res.status, detail };
}

// --- fixtures --------------------------------------------------------------------------------

let doc: OpenApi;
let testDb: TestDatabase;
let redis: Redis;
let plain: Gateway;
let wired: Gateway;
let auth: Auth;
let server: Server;
let base: string;
let tmp: string;
let inventories: RouteInventory[];

beforeAll(async () => {
  doc = parse(readFileSync(OPENAPI_FILE, 'utf8')) as OpenApi;
  tmp = mkdtempSync(join(tmpdir(), 'openapi-routes-'));
  const client = await generatePrivateJwk('ES384');
  const partnersFile = join(tmp, 'partners.json');
  writeFileSync(
    partnersFile,
    JSON.stringify({
      organizations: [
        { id: 'probe-org', type: 'HIE', name: 'Probe', clients: [{ clientId: 'probe', jwks: publicJwksOf({ keys: [client] }), scopes: ['system/*.rs'] }] },
      ],
      agreements: [],
    }),
  );
  const config = loadConfig({ BASE_URL: 'http://127.0.0.1:8080', LOG_LEVEL: 'silent', DATA_DIR: tmp, PARTNERS_FILE: partnersFile });
  testDb = await openTestDatabase('pglite');
  // Never connected: nothing here needs Redis, and the test must not depend on one running.
  redis = new Redis(config.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  plain = await createGateway({ config, logger: silentLogger, db: testDb.db, redis, auth: 'none' });
  // The real SMART wiring, as `lead-gateway serve` builds it.
  auth = await createAuth(config, silentLogger, { redis, keyPrefix: 'test:openapi:' });
  wired = await createGateway({ config, logger: silentLogger, db: testDb.db, redis, auth: auth.wiring });
  inventories = [inventory(plain.app), inventory(wired.app)];

  server = createServer(plain.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 180_000); // two gateways on a loaded machine: the R4 definitions load takes a while

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await plain?.close();
  await wired?.close();
  await auth?.close();
  redis?.disconnect();
  await testDb?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// --- tests -----------------------------------------------------------------------------------

describe('openapi.yaml', () => {
  test('is OpenAPI 3.1 with a bearer security scheme', () => {
    const d = doc as unknown as { openapi: string; components: { securitySchemes: Record<string, { type: string; scheme?: string }> } };
    expect(d.openapi).toMatch(/^3\.1\./);
    expect(Object.values(d.components.securitySchemes)).toContainEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
  });

  test('the route walk finds the routes we know exist (sanity check of the walker)', () => {
    const all = inventories.flatMap((i) => i.routes).map((r) => `${r.method} ${r.path}`);
    expect(all).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'GET /readyz',
        'GET /fhir/metadata',
        'POST /auth/token',
        'GET /.well-known/jwks.json',
        'GET /.well-known/smart-configuration',
        'GET /fhir/.well-known/smart-configuration',
      ]),
    );
    expect(inventories[0].catchAllMounts).toContain('/fhir');
  });

  test('documents every express route of the gateway (auth none and SMART-wired)', () => {
    const missing = [...new Set(inventories.flatMap((inv) => undocumentedRoutes(inv, doc)))];
    expect(missing).toEqual([]);
  });

  test('represents the FHIR catch-all mount at /fhir by the FHIR interaction paths', () => {
    const ops = documentedOps(doc);
    const absent = REQUIRED_FHIR.filter((op) => {
      const [method, path] = op.split(' ');
      return !ops.get(shape(path))?.has(method);
    });
    expect(absent).toEqual([]);
    for (const mount of new Set(inventories.flatMap((i) => i.catchAllMounts))) {
      const below = Object.keys(doc.paths).filter((p) => p === mount || p.startsWith(`${mount}/`));
      expect({ mount, documentedPaths: below.length > 0 }).toEqual({ mount, documentedPaths: true });
    }
  });

  test('every method the FHIR router answers under /fhir is documented, and every documented one is answered', async () => {
    const ops = documentedOps(doc);
    const problems: string[] = [];
    const paths = [...new Set([...Object.keys(doc.paths), ...UNDOCUMENTED_PROBES])].filter((p) => underMount(inventories, p));
    for (const path of paths) {
      const pathDocumented = doc.paths[path] !== undefined;
      for (const method of PROBE_METHODS) {
        // An express route: the route walk above already requires it to be documented.
        if (isRoute(inventories, method, path) || routeServes(inventories, method, concrete(path))) continue;
        const documented = ops.get(shape(path))?.has(method) ?? false;
        const { status, detail } = await probe(base, method, path);
        // On a documented path, 405 (method) and 404 (the probe resource exists, so only "no
        // such path/type/operation") mean "not offered". On a path that is not documented at
        // all, anything below 400 means the router has started serving it.
        const served = pathDocumented ? status !== 404 && status !== 405 : status < 400;
        if (served && !documented) problems.push(`undocumented: ${method} ${path} answered ${status} (${detail})`);
        if (!served && documented) problems.push(`documented but not served: ${method} ${path} answered ${status} (${detail})`);
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);

  test('every documented path is served by an express route or a catch-all mount', () => {
    const stale: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const m of HTTP_METHODS) {
        if (!item[m]) continue;
        if (!isRoute(inventories, m.toUpperCase(), path) && !underMount(inventories, path)) stale.push(`${m.toUpperCase()} ${path}`);
      }
    }
    expect(stale).toEqual([]);
  });

  test('the check fails for an express route that is not documented', () => {
    const app = express();
    app.get('/healthz', (_req, res) => void res.end());
    app.post('/admin/reindex', (_req, res) => void res.end());
    const nested = express.Router();
    nested.get('/jobs/:jobId', (_req, res) => void res.end());
    nested.route('/jobs{/:kind}').delete((_req, res) => void res.end());
    app.use('/admin/:org', nested);
    expect(undocumentedRoutes(inventory(app), doc).sort()).toEqual(
      ['DELETE /admin/{org}/jobs', 'DELETE /admin/{org}/jobs/{kind}', 'GET /admin/{org}/jobs/{jobId}', 'POST /admin/reindex'].sort(),
    );
    // …and the same for a route added to the real gateway app.
    const before = undocumentedRoutes(inventory(plain.app), doc);
    plain.app.get('/fhir-admin/status', (_req, res) => void res.end());
    try {
      expect(undocumentedRoutes(inventory(plain.app), doc).filter((r) => !before.includes(r))).toEqual(['GET /fhir-admin/status']);
    } finally {
      (plain.app as unknown as { router: { stack: unknown[] } }).router.stack.pop();
    }
  });
});
