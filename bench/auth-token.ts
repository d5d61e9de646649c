// SMART Backend Services benchmark: tokens issued per second over HTTP, and what bearer-token
// verification costs on a read (with and without the verified-token cache), next to the
// library ceilings measured in the same run (jose verify, a bare express route).
//
//   node --import tsx bench/auth-token.ts            # needs Redis at 127.0.0.1:6379
//
// The servers run in a child process so the load generator does not share its event loop.
// Besides req/s (which drifts with whatever else the machine runs), every figure comes with the
// CPU time it cost (process.cpuUsage of the process doing the work), which other load on the
// machine barely moves: CPU µs per operation is the number to compare between runs.
// Results go to stdout as markdown tables; copy them into docs/benchmarks.md.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Redis } from 'ioredis';
import { importJWK, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { AccessTokenIssuer, AccessTokenVerifier } from '../src/auth/access-token.js';
import { authUrls } from '../src/auth/auth-urls.js';
import { requireBearer } from '../src/auth/bearer.js';
import { JWT_BEARER, signClientAssertion } from '../src/auth/client-assertion.js';
import { gatewayKeysFromJwks, generatePrivateJwk, publicJwksOf, type GatewayKeys } from '../src/auth/gateway-keys.js';
import { negotiateScopes } from '../src/auth/scopes.js';
import { createAuthRouter } from '../src/auth/token-server.js';
import { parsePartners, type PartnerDirectory } from '../src/config/partners.js';
import { silentLogger } from '../src/logger.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const REDIS_URL = 'redis://127.0.0.1:6379';

interface Setup {
  gatewayJwks: JSONWebKeySet;
  clients: Record<'es-client' | 'rs-client', JWK>;
  prefix: string;
}

function directoryFor(setup: Setup): PartnerDirectory {
  return parsePartners({
    organizations: [
      {
        id: 'bench-org',
        type: 'ACO',
        name: 'Bench',
        clients: Object.entries(setup.clients).map(([clientId, jwk]) => ({
          clientId,
          jwks: publicJwksOf({ keys: [jwk] }),
          scopes: ['system/*.rs'],
          rateLimit: { requests: 1_000_000_000, windowSeconds: 60 },
        })),
      },
    ],
    agreements: [],
  });
}

// ---------------------------------------------------------------- child: the servers
async function serve(setupFile: string): Promise<void> {
  const setup = JSON.parse(readFileSync(setupFile, 'utf8')) as Setup;
  const keys = await gatewayKeysFromJwks(setup.gatewayJwks, 'bench');
  const partners = directoryFor(setup);
  const redis = new Redis(REDIS_URL);
  const app = express();
  const server = app.listen(0, '127.0.0.1', () => {
    const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const urls = authUrls(baseUrl);
    const verifier = (cacheSize: number) =>
      new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners, cacheSize });
    // No per-address limit: all the load comes from one loopback address.
    app.use(createAuthRouter({ config: { baseUrl }, partners, keys, redis, logger: silentLogger, keyPrefix: setup.prefix, tokenRateLimit: false }));
    const read = (_req: express.Request, res: express.Response) => {
      res.type('application/fhir+json').send('{"resourceType":"Patient","id":"1"}');
    };
    app.get('/__cpu', (_req, res) => {
      const { user, system } = process.cpuUsage();
      res.json({ micros: user + system });
    });
    app.get('/plain/Patient/1', read);
    app.get('/cached/Patient/1', requireBearer({ verifier: verifier(10_000) }), read);
    app.get('/uncached/Patient/1', requireBearer({ verifier: verifier(0) }), read);
    process.stdout.write(`${JSON.stringify({ baseUrl })}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    void redis.quit().then(() => process.exit(0));
  });
}

// ---------------------------------------------------------------- parent: the measurements
interface Cost {
  opsPerSecond: number;
  cpuMicros: number;
}

/** Runs `op` n times, one after another; wall-clock rate and CPU µs per op of this process. */
async function measure(n: number, op: () => Promise<unknown>): Promise<Cost> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await op();
  const c = process.cpuUsage(c0);
  return { opsPerSecond: (n / (performance.now() - t0)) * 1000, cpuMicros: (c.user + c.system) / n };
}

const median = <T>(xs: T[], by: (x: T) => number): T => [...xs].sort((a, b) => by(a) - by(b))[Math.floor(xs.length / 2)]!;

/**
 * Runs each variant round-robin `rounds` times and keeps each one's median: load from other
 * processes then hits every variant alike.
 */
async function interleaved<T>(rounds: number, variants: Array<[string, () => Promise<T>]>, by: (r: T) => number): Promise<Map<string, T>> {
  const results = new Map<string, T[]>(variants.map(([name]) => [name, []]));
  for (let i = 0; i < rounds; i++) {
    // Rotate the order each round, so no variant always inherits the previous one's GC debt.
    for (let j = 0; j < variants.length; j++) {
      const [name, run] = variants[(i + j) % variants.length]!;
      results.get(name)!.push(await run());
    }
  }
  return new Map([...results].map(([name, list]) => [name, median(list, by)]));
}

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function inProcess(keys: GatewayKeys, partners: PartnerDirectory): Promise<string[]> {
  const urls = authUrls('http://127.0.0.1:1');
  const registered = partners.findClient('es-client')!;
  const granted = negotiateScopes('system/*.rs', registered.client.scopes);
  const variants: Array<[string, () => Promise<Cost>]> = [];
  for (const alg of ['RS384', 'ES384'] as const) {
    const n = alg === 'RS384' ? 1000 : 200;
    const issuer = new AccessTokenIssuer({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, alg });
    const { accessToken } = await issuer.issue(registered, granted, 'TREAT');
    const key = await importJWK(keys.publicJwks.keys.find((k) => k.alg === alg)!, alg);
    const uncached = new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners, cacheSize: 0 });
    const cached = new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners });
    variants.push(
      [`jose jwtVerify ${alg} (library ceiling)`, () => measure(n, () => jwtVerify(accessToken, key))],
      [`AccessTokenVerifier.verify ${alg}, no cache`, () => measure(n, () => uncached.verify(accessToken))],
      [`AccessTokenVerifier.verify ${alg}, cached`, () => measure(100_000, () => cached.verify(accessToken))],
      [`AccessTokenIssuer.issue ${alg} (sign)`, () => measure(n / 2, () => issuer.issue(registered, granted, 'TREAT'))],
    );
  }
  for (const [, run] of variants) await run(); // warm-up
  const results = await interleaved(3, variants, (c) => c.cpuMicros);
  return variants.map(([name]) => {
    const c = results.get(name)!;
    return `| ${name} | ${fmt(c.cpuMicros, 2)} | ${fmt(1e6 / c.cpuMicros)} | ${fmt(c.opsPerSecond)} |`;
  });
}

async function assertions(jwk: JWK, clientId: string, tokenUrl: string, n: number): Promise<string[]> {
  const key = { alg: jwk.alg!, kid: jwk.kid!, privateKey: (await importJWK(jwk, jwk.alg)) as CryptoKey };
  return Promise.all(Array.from({ length: n }, () => signClientAssertion({ clientId, tokenUrl, key })));
}

async function tokenLoad(tokenUrl: string, bodies: string[], connections: number): Promise<AutocannonResult> {
  let i = 0;
  return autocannon({
    url: tokenUrl,
    connections,
    amount: bodies.length,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[i++ % bodies.length] }),
      },
    ],
  });
}

interface HttpCost {
  result: AutocannonResult;
  /** Server-process CPU µs per request. */
  cpuMicros: number;
}

async function serverCpu(baseUrl: string): Promise<number> {
  return ((await (await fetch(`${baseUrl}/__cpu`)).json()) as { micros: number }).micros;
}

async function withServerCpu(baseUrl: string, run: () => Promise<AutocannonResult>): Promise<HttpCost> {
  const c0 = await serverCpu(baseUrl);
  const result = await run();
  const c1 = await serverCpu(baseUrl);
  return { result, cpuMicros: (c1 - c0) / result.requests.total };
}

function row(name: string, { result: r, cpuMicros }: HttpCost, extra = ''): string {
  const bad = r.non2xx + r.errors;
  return `| ${name} | ${fmt(r.requests.average)} | ${r.latency.p50} | ${r.latency.p99} | ${fmt(cpuMicros)} | ${extra}${bad ? ` ${bad} failed` : ''} |`;
}

async function main(): Promise<void> {
  const gatewayJwks = { keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] };
  const setup: Setup = {
    gatewayJwks,
    clients: { 'es-client': await generatePrivateJwk('ES384'), 'rs-client': await generatePrivateJwk('RS384') },
    prefix: `bench:auth:${randomUUID()}:`,
  };
  const setupFile = join(mkdtempSync(join(tmpdir(), 'bench-auth-')), 'setup.json');
  writeFileSync(setupFile, JSON.stringify(setup), { mode: 0o600 });
  const keys = await gatewayKeysFromJwks(gatewayJwks, 'bench');
  const partners = directoryFor(setup);

  const out: string[] = [];
  const log = (line: string) => {
    out.push(line);
    process.stdout.write(`${line}\n`);
  };
  log(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}; ${new Date().toISOString()}`);
  log('');
  log('In-process, sequential awaits; median of 3 interleaved rounds:');
  log('');
  log('| Operation | CPU µs/op | ops per CPU-second | wall-clock ops/s |');
  log('|---|---|---|---|');
  for (const line of await inProcess(keys, partners)) log(line);

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'serve', setupFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const { baseUrl } = JSON.parse(first) as { baseUrl: string };
  const tokenUrl = `${baseUrl}/auth/token`;
  try {
    log('');
    log('Over HTTP, server in its own process on loopback, real Redis (autocannon; reads: median of 6 rotated 3 s rounds by CPU):');
    log('');
    log('| Load | req/s | p50 ms | p99 ms | server CPU µs/req | |');
    log('|---|---|---|---|---|---|');
    for (const [clientId, n] of [['rs-client', 6000], ['es-client', 3000]] as const) {
      const jwk = setup.clients[clientId];
      const form = (a: string) =>
        new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: a }).toString();
      const warm = (await assertions(jwk, clientId, tokenUrl, 200)).map(form);
      await tokenLoad(tokenUrl, warm, 8);
      const bodies = (await assertions(jwk, clientId, tokenUrl, n)).map(form);
      const cost = await withServerCpu(baseUrl, () => tokenLoad(tokenUrl, bodies, 16));
      log(row(`POST /auth/token, ${jwk.alg} client assertion, 16 connections`, cost, 'Redis CPU not counted'));
    }
    const [assertion] = await assertions(setup.clients['rs-client'], 'rs-client', tokenUrl, 1);
    const tokenRes = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: assertion! }),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const headers = { authorization: `Bearer ${token}` };
    const reads: Array<[string, string]> = [
      ['GET read stub, no auth (ceiling)', '/plain/Patient/1'],
      ['GET read stub + requireBearer, verified-token cache', '/cached/Patient/1'],
      ['GET read stub + requireBearer, no cache (RS384 verify each request)', '/uncached/Patient/1'],
    ];
    const load = (path: string) => () =>
      withServerCpu(baseUrl, () => autocannon({ url: `${baseUrl}${path}`, connections: 32, duration: 3, headers }));
    await interleaved(1, reads.map(([name, path]) => [name, load(path)]), (r) => r.cpuMicros); // warm-up
    const results = await interleaved(6, reads.map(([name, path]) => [name, load(path)]), (r) => r.cpuMicros);
    const base = results.get(reads[0]![0])!.cpuMicros;
    for (const [name] of reads) {
      const cost = results.get(name)!;
      const extra = cost.cpuMicros === base ? 'baseline' : `${fmt(cost.cpuMicros - base)} µs/req over the baseline`;
      log(row(`${name}, 32 connections`, cost, extra));
    }
  } finally {
    child.kill('SIGTERM');
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${setup.prefix}*`, 'COUNT', 1000);
      if (found.length) await redis.del(...found);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3]!);
else await main();
