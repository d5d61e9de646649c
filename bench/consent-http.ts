// What the consent engine costs a search over HTTP, as partners call it: the gateway with SMART
// Backend Services (real tokens, scope checks, rate limiting) and its consent engine (relationship
// and Consent context, decisions on stored text, narrative/display cut, each response's AuditEvent
// committed — one audit_event row — before it is sent), against the same gateway whose engine
// discloses everything and records nothing — and, with `noaudit` in --modes, the engine without
// the audit (its share). Nothing is left to do after a round: every round is sustained load.
//
//   node bin/run-ts.js bench/consent-http.ts [--patients 200] [--per-patient 50] [--connections 16]
//                                           [--duration 10] [--warmup 3] [--rounds 3] [--keep true]
//                                           [--modes on,off,noaudit]
//                                           [--profile <folder>]
//
// Data (PostgreSQL, a fresh schema dropped at the end): `patients` people covered by the MCO
// (mco-bluecare) with `per-patient` Observations each, written through the gateway's write path
// (labels); every 10th Observation carries SNOMED 66214007 (opioid dependence), so it is labelled
// R / SUD / 42CFRPart2 and withheld from the MCO. Request: `GET /fhir/Observation?patient=<random
// person>&_count=50` with the MCO client's token (bluecare-care-mgmt, purpose HPAYMT).
//
// The gateways run in this process, on one database; only one is loaded at a time, rounds
// interleaved (on, off, on, off, …). The load generator (autocannon) runs in a child process
// (bench/load-client.ts). Besides requests/s: CPU per request of this process (gateway) and of
// PostgreSQL's processes (/proc), which other load on the machine moves far less than requests/s.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Session } from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observation } from '@medplum/fhirtypes';
import { Redis } from 'ioredis';
import { importJWK, type JWK } from 'jose';
import pg from 'pg';
import { signClientAssertion, JWT_BEARER } from '../src/auth/client-assertion.js';
import { createAuth } from '../src/auth/wiring.js';
import { loadConfig } from '../src/config/env.js';
import { ConsentEngine, type ConsentEngineOptions } from '../src/consent/engine.js';
import { createGateway, type Gateway } from '../src/gateway.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { silentLogger } from '../src/logger.js';
import { loadCoveredPatients, patientId } from './fhir-data.js';
import { DiscloseEverything } from './disclose-everything.js';
import type { LoadResult, LoadSpec } from './load-client.js';
import { postgresCpuSeconds } from './postgres-cpu.js';

const args = Object.fromEntries(
  process.argv.slice(2).flatMap((a, i, all) => (a.startsWith('--') ? [[a.slice(2), all[i + 1]]] : [])),
) as Record<string, string>;
const PATIENTS = Number(args.patients ?? 200);
const PER_PATIENT = Number(args['per-patient'] ?? 50);
const CONNECTIONS = Number(args.connections ?? 16);
const DURATION = Number(args.duration ?? 10);
const WARMUP = Number(args.warmup ?? 3);
const ROUNDS = Number(args.rounds ?? 3);
const DATABASE_URL = args['database-url'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLIENT = 'bluecare-care-mgmt';
/** Keep the schema (named on stderr) for EXPLAIN and the like. */
const KEEP = args.keep === 'true';
/** Which gateways to load, rounds interleaved in this order: on, off and noaudit (consent on, no AuditEvent: what the audit costs). */
const MODES = (args.modes ?? 'on,off').split(',') as Mode[];
/** A folder: each round's CPU profile of this process (the gateways) is written there. */
const PROFILE = args.profile;

/** Starts V8's sampling profiler in this process; the function returned stops it and gives the profile. */
async function startProfile(): Promise<() => Promise<object>> {
  const session = new Session();
  session.connect();
  const post = (method: string): Promise<{ profile?: object }> =>
    new Promise((resolve, reject) => session.post(method, (err, res) => (err ? reject(err) : resolve(res as { profile?: object }))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async () => {
    const { profile } = await post('Profiler.stop');
    session.disconnect();
    return profile as object;
  };
}
type Mode = 'on' | 'off' | 'noaudit';

const log = (m: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/run-ts.js', 'bench/load-client.ts', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() as string) as LoadResult) : reject(new Error(`load client exited ${code}`))));
  });
}

async function listen(): Promise<{ server: Server; url: string }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function token(url: string): Promise<string> {
  const jwk = (JSON.parse(readFileSync(`config/demo/${CLIENT}.private.jwks.json`, 'utf8')) as { keys: JWK[] }).keys[0];
  const tokenUrl = `${url}/auth/token`;
  const assertion = await signClientAssertion({ clientId: CLIENT, tokenUrl, key: { alg: jwk.alg as string, kid: jwk.kid as string, privateKey: await importJWK(jwk, jwk.alg) } });
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Observation.rs', client_assertion_type: JWT_BEARER, client_assertion: assertion }),
  });
  if (res.status !== 200) throw new Error(`token: ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function main(): Promise<void> {
  const schema = `bench_consent_http_${randomBytes(4).toString('hex')}`;
  const work = mkdtempSync(join(tmpdir(), 'bench-consent-http-'));
  // The demo partners, with a rate limit the load cannot reach (both gateways alike).
  const partners = JSON.parse(readFileSync('config/partners.json', 'utf8')) as Record<string, unknown>;
  writeFileSync(join(work, 'partners.json'), JSON.stringify({ ...partners, defaults: { ...(partners.defaults as object), rateLimit: { requests: 1_000_000_000, windowSeconds: 60 } } }));
  const prefix = `bench-consent-http-${randomBytes(3).toString('hex')}:`;
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const db = await openDatabase({ databaseUrl: DATABASE_URL, dataDir: '', schema });
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const gateways = {} as Record<Mode, { gateway: Gateway; url: string; server: Server }>;
    for (const mode of new Set<Mode>(['on', ...MODES])) {
      const { server, url } = await listen();
      const config = loadConfig({
        BASE_URL: url,
        LOG_LEVEL: 'silent',
        PARTNERS_FILE: join(work, 'partners.json'),
        DATA_DIR: work,
        EXCHANGE_QUEUE_PREFIX: `${prefix}${mode}:q`,
        BULK_QUEUE_PREFIX: `${prefix}${mode}:b`,
        INGEST_QUEUE_PREFIX: `${prefix}${mode}:i`,
      });
      const auth = await createAuth(config, silentLogger, { redis, keyPrefix: `${prefix}${mode}:auth:` });
      const gateway = await createGateway({
        config,
        logger: silentLogger,
        db,
        redis,
        auth: auth.wiring,
        ...(mode === 'off' ? { consentEngine: (o: ConsentEngineOptions) => new DiscloseEverything(o) } : {}),
        ...(mode === 'noaudit' ? { consentEngine: (o: ConsentEngineOptions) => new ConsentEngine({ ...o, audit: undefined }) } : {}),
      });
      server.on('request', gateway.app);
      cleanups.push(async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await gateway.close();
        await auth.close();
      });
      gateways[mode] = { gateway, url, server };
    }

    log(`loading ${PATIENTS} patients × ${PER_PATIENT} Observations (schema ${schema})`);
    const repo = gateways.on.gateway.repo;
    await loadCoveredPatients(repo, PATIENTS, PER_PATIENT);
    await db.query('ANALYZE');

    const tokens = {} as Record<Mode, string>;
    for (const mode of MODES) tokens[mode] = await token(gateways[mode].url);
    log(`consent on: disclosure-context cache ${gateways.on.gateway.consent.opts.contextCache?.serving ? 'serving' : 'NOT serving'}`);
    // Both answer, and differ only by consent: the SUD-labelled tenth withheld, displays cut.
    for (const mode of MODES) {
      const res = await fetch(`${gateways[mode].url}/fhir/Observation?patient=${patientId(0)}&_count=50`, { headers: { authorization: `Bearer ${tokens[mode]}` } });
      const body = (await res.json()) as { entry?: { resource: Observation }[] };
      const entries = body.entry?.length ?? 0;
      log(`check ${mode}: ${res.status}, ${entries} entries, displays ${JSON.stringify(body).includes('"display":"Community clinic laboratory"') ? 'kept' : 'cut'}`);
      const expected = mode !== 'off' ? PER_PATIENT - Math.ceil(PER_PATIENT / 10) : PER_PATIENT;
      if (res.status !== 200 || entries !== Math.min(50, expected)) throw new Error(`consent ${mode}: expected ${expected} entries, got ${entries}`);
    }

    const rows: { mode: string; round: number; rps: number; p50: number; p99: number; cpuUs: number; pgCpuUs: number; failed: number; load: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of MODES) {
        const spec: LoadSpec = {
          url: gateways[mode].url,
          kind: 'read',
          pathPrefix: '/fhir/Observation?_count=50&patient=',
          count: PATIENTS,
          connections: CONNECTIONS,
          duration: DURATION,
          warmup: round === 1 ? WARMUP : 0,
          headers: { authorization: `Bearer ${tokens[mode]}` },
        };
        const load = Math.round(loadavg()[0] * 100) / 100;
        // Warm-up (JIT, pools) in the first round, not measured.
        if (spec.warmup) await runLoad({ ...spec, duration: spec.warmup, warmup: 0 });
        const cpu0 = process.cpuUsage();
        const pg0 = postgresCpuSeconds();
        const profiling = PROFILE ? await startProfile() : undefined;
        const r = await runLoad({ ...spec, warmup: 0 });
        const cpu = process.cpuUsage(cpu0);
        const pgCpu = postgresCpuSeconds() - pg0;
        if (profiling) writeFileSync(`${PROFILE}/consent-http-${mode}-${round}.cpuprofile`, JSON.stringify(await profiling()));
        const row = {
          mode,
          round,
          rps: r.rps,
          p50: r.p50,
          p99: r.p99,
          cpuUs: Math.round((cpu.user + cpu.system) / Math.max(1, r.requests)),
          pgCpuUs: Math.round((pgCpu * 1e6) / Math.max(1, r.requests)),
          failed: r.non2xx + r.errors + r.timeouts,
          load,
        };
        log(`round ${round} consent ${mode}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, gateway ${row.cpuUs} µs CPU/req, PostgreSQL ${row.pgCpuUs} µs CPU/req, failed ${row.failed} (load ${load})`);
        rows.push(row);
      }
    }
    const agg = (mode: string) => {
      const mine = rows.filter((r) => r.mode === mode);
      return { rps: median(mine.map((r) => r.rps)), p50: median(mine.map((r) => r.p50)), p99: median(mine.map((r) => r.p99)), cpuUs: median(mine.map((r) => r.cpuUs)), pgCpuUs: median(mine.map((r) => r.pgCpuUs)), failed: mine.reduce((a, r) => a + r.failed, 0) };
    };
    const on = agg('on');
    const off = agg('off');
    const noaudit = agg('noaudit');
    const out = [
      '',
      `Machine: ${cpus().length} × ${cpus()[0]?.model}; ${PATIENTS} patients × ${PER_PATIENT} Observations; ${CONNECTIONS} connections; ${ROUNDS} interleaved rounds of ${DURATION} s (medians)`,
      `1-minute load average at the start of runs: ${Math.min(...rows.map((r) => r.load))}–${Math.max(...rows.map((r) => r.load))}`,
      '',
      '| Search `Observation?patient=…&_count=50`, MCO token | requests/s | p50 | p99 | gateway CPU µs/req | PostgreSQL CPU µs/req | errors |',
      '|---|---:|---:|---:|---:|---:|---:|',
      `| consent off (everything disclosed, no audit) | ${Math.round(off.rps)} | ${off.p50} ms | ${off.p99} ms | ${off.cpuUs} | ${off.pgCpuUs} | ${off.failed} |`,
      `| consent on (gateway as deployed) | ${Math.round(on.rps)} | ${on.p50} ms | ${on.p99} ms | ${on.cpuUs} | ${on.pgCpuUs} | ${on.failed} |`,
      ...(MODES.includes('noaudit') ? [`| consent on, no AuditEvent (what the audit costs) | ${Math.round(noaudit.rps)} | ${noaudit.p50} ms | ${noaudit.p99} ms | ${noaudit.cpuUs} | ${noaudit.pgCpuUs} | ${noaudit.failed} |`] : []),
      '',
      `Throughput with consent on: ${(on.rps / off.rps).toFixed(2)} of consent off (${Math.round((1 - on.rps / off.rps) * 100)} % less; consent off serves ${Math.round((off.rps / on.rps - 1) * 100)} % more); gateway CPU +${Math.round((on.cpuUs / off.cpuUs - 1) * 100)} %, PostgreSQL CPU +${Math.round((on.pgCpuUs / Math.max(1, off.pgCpuUs) - 1) * 100)} %`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    process.stdout.write(`${JSON.stringify({ benchmark: 'consent-http', date: new Date().toISOString(), patients: PATIENTS, perPatient: PER_PATIENT, connections: CONNECTIONS, rows, on, off })}\n`);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await db.close();
    const c = new pg.Client({ connectionString: DATABASE_URL });
    await c.connect();
    if (KEEP) log(`schema ${schema} kept`);
    else await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
