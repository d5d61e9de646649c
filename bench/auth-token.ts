// SMART Backend Services benchmark: tokens issued per second over HTTP, and what bearer-token
// verification costs on a read (with and without the verified-token cache), next to the
// library ceilings measured in the same run (jose verify, a bare express route).
//
//   node --import tsx bench/auth-token.ts            # needs Redis at 127.0.0.1:6379
//
// The servers run in a child process so the load generator does not share its event loop.
// Results go to stdout as a markdown table; copy them into docs/benchmarks.md.
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
  requests: { average: number };
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
    app.use(createAuthRouter({ config: { baseUrl }, partners, keys, redis, logger: silentLogger, keyPrefix: setup.prefix }));
    const read = (_req: express.Request, res: express.Response) => {
      res.type('application/fhir+json').send('{"resourceType":"Patient","id":"1"}');
    };
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
async function perSecond(seconds: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    await op();
    n += 1;
  }
  return n / seconds;
}

async function inProcess(keys: GatewayKeys, partners: PartnerDirectory): Promise<Array<[string, number]>> {
  const urls = authUrls('http://127.0.0.1:1');
  const registered = partners.findClient('es-client')!;
  const granted = negotiateScopes('system/*.rs', registered.client.scopes);
  const rows: Array<[string, number]> = [];
  for (const alg of ['RS384', 'ES384'] as const) {
    const issuer = new AccessTokenIssuer({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, alg });
    const { accessToken } = await issuer.issue(registered, granted, 'TREAT');
    const key = await importJWK(keys.publicJwks.keys.find((k) => k.alg === alg)!, alg);
    rows.push([`jose jwtVerify ${alg} (ceiling)`, await perSecond(2, () => jwtVerify(accessToken, key))]);
    const uncached = new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners, cacheSize: 0 });
    rows.push([`AccessTokenVerifier ${alg}, no cache`, await perSecond(2, () => uncached.verify(accessToken))]);
    const cached = new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners });
    rows.push([`AccessTokenVerifier ${alg}, cached`, await perSecond(2, () => cached.verify(accessToken))]);
    rows.push([`AccessTokenIssuer.issue ${alg} (sign)`, await perSecond(2, () => issuer.issue(registered, granted, 'TREAT'))]);
  }
  return rows;
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

function row(name: string, r: AutocannonResult): string {
  const bad = r.non2xx + r.errors;
  return `| ${name} | ${Math.round(r.requests.average).toLocaleString('en-US')} | ${r.latency.p50} | ${r.latency.p99} |${bad ? ` ${bad} failed` : ''}`;
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
  log('In-process, one core, sequential awaits (ops/s):');
  log('');
  log('| Operation | ops/s |');
  log('|---|---|');
  for (const [name, ops] of await inProcess(keys, partners)) log(`| ${name} | ${Math.round(ops).toLocaleString('en-US')} |`);

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'serve', setupFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const { baseUrl } = JSON.parse(first) as { baseUrl: string };
  const tokenUrl = `${baseUrl}/auth/token`;
  try {
    log('');
    log('Over HTTP, server in its own process on loopback, real Redis (autocannon):');
    log('');
    log('| Load | req/s | p50 ms | p99 ms |');
    log('|---|---|---|---|');
    for (const [clientId, n] of [['rs-client', 6000], ['es-client', 3000]] as const) {
      const jwk = setup.clients[clientId];
      const form = (a: string) =>
        new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: a }).toString();
      const warm = (await assertions(jwk, clientId, tokenUrl, 200)).map(form);
      await tokenLoad(tokenUrl, warm, 8);
      const bodies = (await assertions(jwk, clientId, tokenUrl, n)).map(form);
      log(row(`POST /auth/token, ${jwk.alg} client assertion, 16 connections`, await tokenLoad(tokenUrl, bodies, 16)));
    }
    const [assertion] = await assertions(setup.clients['rs-client'], 'rs-client', tokenUrl, 1);
    const tokenRes = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: assertion! }),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const headers = { authorization: `Bearer ${token}` };
    for (const [name, path] of [
      ['GET read stub, no auth (ceiling)', '/plain/Patient/1'],
      ['GET read stub + requireBearer, verified-token cache', '/cached/Patient/1'],
      ['GET read stub + requireBearer, no cache (RS384 verify each request)', '/uncached/Patient/1'],
    ] as const) {
      await autocannon({ url: `${baseUrl}${path}`, connections: 32, duration: 2, headers });
      log(row(`${name}, 32 connections`, await autocannon({ url: `${baseUrl}${path}`, connections: 32, duration: 8, headers })));
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
