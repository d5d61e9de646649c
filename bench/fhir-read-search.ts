// FHIR REST core benchmark: read by id and a Patient/Observation search over N stored resources,
// on PostgreSQL and on embedded PGlite, each beside its ceiling measured in the same run — a bare
// express 5 route returning one row's JSONB by primary key with no gateway logic in between.
//
//   npm run bench:fhir -- [--resources 100000] [--duration 10] [--warmup 3] [--connections 32]
//                         [--rounds 3] [--stores postgres,pglite] [--database-url postgres://…]
//
// Each scenario runs `rounds` times, interleaved with the others (ceiling, gateway, ceiling, …)
// so that a neighbour's load on a shared machine hits both alike; the table shows medians.
//
// PostgreSQL: a fresh schema in postgres://postgres@127.0.0.1:5432/test, dropped at the end.
// PGlite: a temporary directory, deleted at the end. Only loopback addresses are used. The load
// generator (autocannon) runs in a child process (bench/load-client.ts). Progress goes to
// stderr; the table and, last, one JSON document of the results go to stdout.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import pg from 'pg';
import { loadConfig } from '../src/config/env.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import type { Database } from '../src/fhir/store/database.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { Repository } from '../src/fhir/store/repository.js';
import { Validator } from '../src/fhir/validation/validator.js';
import { createGateway } from '../src/gateway.js';
import { silentLogger } from '../src/logger.js';
import { makeObservation, makePatient, observationId, observationSearchQuery, patientId } from './fhir-data.js';
import type { LoadResult, LoadSpec } from './load-client.js';

type StoreKind = 'postgres' | 'pglite';

interface Args {
  resources: number;
  duration: number;
  warmup: number;
  connections: number;
  stores: StoreKind[];
  databaseUrl: string;
  batch: number;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    resources: 100_000,
    duration: 10,
    warmup: 3,
    connections: 32,
    stores: ['postgres', 'pglite'],
    databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
    batch: 1000,
    rounds: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (min: number, max: number): number => {
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} must be an integer in ${min}…${max}, got "${raw}"`);
      return n;
    };
    switch (flag) {
      case '--resources': a.resources = num(2, 5_000_000); break;
      case '--duration': a.duration = num(1, 600); break;
      case '--warmup': a.warmup = num(0, 60); break;
      case '--connections': a.connections = num(1, 1000); break;
      case '--batch': a.batch = num(1, 100_000); break;
      case '--rounds': a.rounds = num(1, 20); break;
      case '--stores': {
        const s = value().split(',').map((x) => x.trim()).filter(Boolean);
        for (const k of s) if (k !== 'postgres' && k !== 'pglite') throw new Error(`--stores: unknown store "${k}"`);
        a.stores = s as StoreKind[];
        break;
      }
      case '--database-url': {
        a.databaseUrl = value();
        const host = new URL(a.databaseUrl).hostname;
        if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) throw new Error('--database-url must be a loopback address');
        break;
      }
      case '--help':
        process.stdout.write('npm run bench:fhir -- [--resources N] [--duration S] [--warmup S] [--connections C] [--rounds R] [--stores postgres,pglite] [--database-url URL] [--batch N]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`Unknown argument ${argv[i]}`);
    }
  }
  return a;
}

const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

// --- cleanup that also runs on Ctrl-C ---------------------------------------------------------
const cleanups: (() => Promise<void> | void)[] = [];
async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    await Promise.resolve()
      .then(fn)
      .catch((e: unknown) => log(`cleanup failed: ${(e as Error).message}`));
  }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  });
}

// --- loading --------------------------------------------------------------------------------

interface LoadStats {
  resources: number;
  seconds: number;
  perSecond: number;
  indexRows: number;
}

/**
 * Writes every resource through Repository.create (the store's own write path: resource row,
 * history row, search-index rows), 1,000 to a transaction, without validation (the data is
 * validated once up front). PostgreSQL runs a few transactions at once; PGlite is one connection.
 */
async function loadStore(db: Database, nPatients: number, nObservations: number, batch: number): Promise<LoadStats> {
  const repo = new Repository(db);
  const jobs: { kind: 'p' | 'o'; from: number; to: number }[] = [];
  for (let i = 0; i < nPatients; i += batch) jobs.push({ kind: 'p', from: i, to: Math.min(nPatients, i + batch) });
  const patientJobs = jobs.length;
  for (let i = 0; i < nObservations; i += batch) jobs.push({ kind: 'o', from: i, to: Math.min(nObservations, i + batch) });
  const total = nPatients + nObservations;
  const concurrency = db.kind === 'postgres' ? 3 : 1;
  const t0 = performance.now();
  let done = 0;
  let lastReport = t0;
  let next = 0;
  const runJob = async (job: (typeof jobs)[number]): Promise<void> => {
    await repo.withTransaction(async (tx) => {
      for (let i = job.from; i < job.to; i++) {
        if (job.kind === 'p') await tx.create(makePatient(i), { id: patientId(i) });
        else await tx.create(makeObservation(i), { id: observationId(i) });
      }
    });
    done += job.to - job.from;
    const now = performance.now();
    if (now - lastReport > 10_000) {
      lastReport = now;
      log(`  ${db.kind}: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} (${Math.round(done / ((now - t0) / 1000))}/s)`);
    }
  };
  // Patients first (Observations refer to them), then Observations.
  const worker = async (phase: 'p' | 'o'): Promise<void> => {
    while (next < jobs.length && jobs[next].kind === phase) await runJob(jobs[next++]);
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker('p')));
  next = Math.max(next, patientJobs);
  await Promise.all(Array.from({ length: concurrency }, () => worker('o')));
  const seconds = (performance.now() - t0) / 1000;
  await db.query('ANALYZE');
  let indexRows = 0;
  for (const t of ['idx_token', 'idx_string', 'idx_date', 'idx_reference', 'idx_number', 'idx_uri']) {
    indexRows += (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n;
  }
  const stored = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource')).rows[0].n;
  if (stored !== total) throw new Error(`${db.kind}: expected ${total} resources, found ${stored}`);
  return { resources: total, seconds, perSecond: total / seconds, indexRows };
}

// --- servers --------------------------------------------------------------------------------

async function listen(handler: express.Express): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

type Query = <T>(text: string, params: unknown[]) => Promise<{ rows: T[] }>;

const CEILING_SEARCH_SQL = `
  SELECT r.id, r.content::text AS content FROM resource r
  WHERE r.resource_type = 'Observation' AND NOT r.deleted
    AND EXISTS (SELECT 1 FROM idx_reference i WHERE i.resource_type = r.resource_type AND i.id = r.id
                AND i.param = 'subject' AND i.target_type = 'Patient' AND i.target_id = $1)
    AND EXISTS (SELECT 1 FROM idx_token t WHERE t.resource_type = r.resource_type AND t.id = r.id
                AND t.param = 'code' AND t.system = $2 AND t.code = $3)
  ORDER BY r.last_updated, r.id LIMIT 51`;

/**
 * The ceiling: bare express 5 routes (its defaults, no gateway logic) over the same tables.
 *   /raw/:id       SELECT content (jsonb, parsed by the driver) → res.json — the reference ceiling
 *   /raw-text/:id  SELECT content::text → res.send as it is (what the gateway's read does)
 *   /raw-search    the SQL the gateway's subject+code search runs, searchset by string assembly
 */
function ceilingApp(query: Query): express.Express {
  const app = express();
  app.get('/raw/:id', async (req, res) => {
    const r = await query<{ content: unknown }>("SELECT content FROM resource WHERE resource_type = 'Patient' AND id = $1", [req.params.id]);
    if (!r.rows[0]) res.status(404).json({ error: 'not found' });
    else res.json(r.rows[0].content);
  });
  app.get('/raw-text/:id', async (req, res) => {
    const r = await query<{ content: string }>("SELECT content::text AS content FROM resource WHERE resource_type = 'Patient' AND id = $1", [req.params.id]);
    if (!r.rows[0]) res.status(404).json({ error: 'not found' });
    else res.type('application/fhir+json').send(r.rows[0].content);
  });
  app.get('/raw-search', async (req, res) => {
    const subject = String(req.query.subject ?? '').replace(/^Patient\//, '');
    const [system, code] = String(req.query.code ?? '').split('|');
    const r = await query<{ id: string; content: string }>(CEILING_SEARCH_SQL, [subject, system, code]);
    const entries = r.rows.slice(0, 50).map((m) => `{"fullUrl":"http://127.0.0.1/fhir/Observation/${m.id}","resource":${m.content},"search":{"mode":"match"}}`);
    res.type('application/fhir+json').send(`{"resourceType":"Bundle","type":"searchset","entry":[${entries.join(',')}]}`);
  });
  return app;
}

// --- load generation ------------------------------------------------------------------------

const here = fileURLToPath(new URL('.', import.meta.url));
const runTs = join(here, '..', 'bin', 'run-ts.js');
const clientTs = join(here, 'load-client.ts');

function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runTs, clientTs, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const limit = setTimeout(() => child.kill('SIGKILL'), (spec.duration + spec.warmup + 60) * 1000);
    cleanups.push(() => void child.kill('SIGKILL'));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) reject(new Error(`load client exited with ${code ?? signal}`));
      else resolve(JSON.parse(line) as LoadResult);
    });
  });
}

async function expectOk(url: string, check: (body: any) => boolean, what: string): Promise<void> {
  const res = await fetch(url, { headers: { accept: 'application/fhir+json' } });
  const body = (await res.json()) as unknown;
  if (res.status !== 200 || !check(body)) throw new Error(`sanity check failed for ${what}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
}

// --- one store ------------------------------------------------------------------------------

const CEILING_READ = 'ceiling: read by id (express+jsonb)';
const CEILING_TEXT = 'ceiling: read by id (express+text)';
const CEILING_SEARCH = 'ceiling: search subject+code';

interface RunResult extends LoadResult {
  store: StoreKind;
  scenario: string;
  target: 'gateway' | 'ceiling';
  round: number;
  /** 1-minute load average when the run started: the machine may be shared. */
  loadavg1: number;
  /** CPU time of the benchmark process (server side) per request, µs. */
  cpuUsPerRequest: number;
}

/** Medians over the rounds of one scenario. */
interface ScenarioResult {
  store: StoreKind;
  scenario: string;
  target: 'gateway' | 'ceiling';
  rounds: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  requests: number;
  /** non-2xx + errors + timeouts, all rounds. */
  failed: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function benchStore(kind: StoreKind, args: Args): Promise<{ load: LoadStats; results: ScenarioResult[]; runs: RunResult[]; engine: string }> {
  const nPatients = Math.ceil(args.resources / 2);
  const nObservations = Math.floor(args.resources / 2);
  let db: Database;
  let ceilingQuery: Query;
  let closeCeilingDb: () => Promise<void> = async () => undefined;
  if (kind === 'postgres') {
    const schema = `bench_${randomBytes(5).toString('hex')}`;
    log(`postgres: schema ${schema}`);
    cleanups.push(async () => {
      const c = new pg.Client({ connectionString: args.databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
      log(`postgres: schema ${schema} dropped`);
    });
    db = await openDatabase({ databaseUrl: args.databaseUrl, dataDir: '', schema });
    cleanups.push(() => db.close());
    const pool = new pg.Pool({ connectionString: args.databaseUrl, max: 10, options: `-c search_path=${schema}` });
    pool.on('error', () => undefined);
    ceilingQuery = async <T>(text: string, params: unknown[]) => ({ rows: (await pool.query(text, params)).rows as T[] });
    closeCeilingDb = () => pool.end();
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'lead-bench-pglite-'));
    log(`pglite: ${dir}`);
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
      log(`pglite: ${dir} deleted`);
    });
    db = await openDatabase({ dataDir: dir });
    cleanups.push(() => db.close());
    // PGlite is one connection in this process: the ceiling queries the same instance.
    ceilingQuery = (text, params) => db.query(text, params);
  }
  const engine = (await db.query<{ v: string }>('SELECT version() AS v')).rows[0].v;

  log(`${kind}: loading ${nPatients.toLocaleString('en-US')} Patients + ${nObservations.toLocaleString('en-US')} Observations`);
  const load = await loadStore(db, nPatients, nObservations, args.batch);
  log(`${kind}: loaded ${load.resources.toLocaleString('en-US')} in ${load.seconds.toFixed(1)} s (${Math.round(load.perSecond)}/s, ${load.indexRows.toLocaleString('en-US')} index rows)`);

  // The gateway as the tests start it: auth 'none', silent logs, the already open database.
  const gwServer = createServer();
  await new Promise<void>((r) => gwServer.listen(0, '127.0.0.1', r));
  const gwUrl = `http://127.0.0.1:${(gwServer.address() as AddressInfo).port}`;
  const config = loadConfig({ BASE_URL: gwUrl, LOG_LEVEL: 'silent' });
  const gateway = await createGateway({ config, logger: silentLogger, db, auth: 'none' });
  gwServer.on('request', gateway.app);
  const closeGateway = async (): Promise<void> => {
    await closeServer(gwServer);
    await gateway.close();
    gateway.redis.disconnect();
  };
  cleanups.push(closeGateway);
  const ceiling = await listen(ceilingApp(ceilingQuery));
  cleanups.push(async () => {
    await closeServer(ceiling.server);
    await closeCeilingDb();
  });

  const last = nObservations - 1;
  await expectOk(`${gwUrl}/fhir/Patient/${patientId(nPatients - 1)}`, (b) => b.id === patientId(nPatients - 1), 'gateway read');
  await expectOk(`${gwUrl}/fhir/Observation?${observationSearchQuery(last)}`, (b) => b.entry?.length === 1 && b.entry[0].resource.id === observationId(last), 'gateway search');
  await expectOk(`${ceiling.url}/raw/${patientId(0)}`, (b) => b.id === patientId(0), 'ceiling read');
  await expectOk(`${ceiling.url}/raw-text/${patientId(0)}`, (b) => b.id === patientId(0), 'ceiling read (text)');
  await expectOk(`${ceiling.url}/raw-search?${observationSearchQuery(last)}`, (b) => b.entry?.length === 1, 'ceiling search');

  const common = { connections: args.connections, duration: args.duration };
  const scenarios: { scenario: string; target: 'gateway' | 'ceiling'; spec: Omit<LoadSpec, 'warmup'> }[] = [
    { scenario: CEILING_READ, target: 'ceiling', spec: { ...common, url: ceiling.url, kind: 'read', pathPrefix: '/raw/', count: nPatients } },
    { scenario: 'read by id', target: 'gateway', spec: { ...common, url: gwUrl, kind: 'read', pathPrefix: '/fhir/Patient/', count: nPatients } },
    { scenario: CEILING_TEXT, target: 'ceiling', spec: { ...common, url: ceiling.url, kind: 'read', pathPrefix: '/raw-text/', count: nPatients } },
    { scenario: CEILING_SEARCH, target: 'ceiling', spec: { ...common, url: ceiling.url, kind: 'search', pathPrefix: '/raw-search?', count: nObservations } },
    { scenario: 'search subject+code', target: 'gateway', spec: { ...common, url: gwUrl, kind: 'search', pathPrefix: '/fhir/Observation?', count: nObservations } },
  ];
  const runs: RunResult[] = [];
  for (let round = 1; round <= args.rounds; round++) {
    for (const s of scenarios) {
      // Warm-up (JIT, connection pools, caches) in the first round only.
      const warmup = round === 1 ? args.warmup : 0;
      const loadavg1 = Math.round(loadavg()[0] * 100) / 100;
      log(`${kind} round ${round}/${args.rounds}: ${s.scenario} — ${warmup ? `${warmup} s warm-up + ` : ''}${args.duration} s, ${args.connections} connections (load average ${loadavg1})`);
      if (warmup) await runLoad({ ...s.spec, duration: warmup, warmup: 0 });
      // CPU time of this process (server, drivers; for PGlite also the database) per request:
      // a figure that a neighbour's load on a shared machine disturbs far less than requests/s.
      const cpu0 = process.cpuUsage();
      const r0 = await runLoad({ ...s.spec, warmup: 0 });
      const cpu = process.cpuUsage(cpu0);
      const r = { ...r0, cpuUsPerRequest: Math.round((cpu.user + cpu.system) / Math.max(1, r0.requests)) };
      log(`  ${Math.round(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.cpuUsPerRequest} µs CPU/request${r.non2xx || r.errors || r.timeouts ? `, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}` : ''}`);
      runs.push({ store: kind, scenario: s.scenario, target: s.target, round, loadavg1, ...r });
    }
  }
  const results = scenarios.map((s): ScenarioResult => {
    const mine = runs.filter((r) => r.scenario === s.scenario);
    return {
      store: kind,
      scenario: s.scenario,
      target: s.target,
      rounds: mine.length,
      rps: median(mine.map((r) => r.rps)),
      rpsMin: Math.min(...mine.map((r) => r.rps)),
      rpsMax: Math.max(...mine.map((r) => r.rps)),
      p50: median(mine.map((r) => r.p50)),
      p99: median(mine.map((r) => r.p99)),
      cpuUsPerRequest: median(mine.map((r) => r.cpuUsPerRequest)),
      requests: mine.reduce((a, r) => a + r.requests, 0),
      failed: mine.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0),
    };
  });

  // Tear this store down now (the next store gets the machine to itself).
  await runCleanups();
  return { load, results, runs, engine };
}

// --- report ---------------------------------------------------------------------------------

function ratioOf(results: ScenarioResult[], r: ScenarioResult): { ratio?: number; vs?: string } {
  const find = (name: string): ScenarioResult | undefined => results.find((x) => x.store === r.store && x.scenario === name);
  const base = find(CEILING_READ);
  if (!base) return {};
  if (r.scenario === 'search subject+code') {
    const s = find(CEILING_SEARCH);
    return s ? { ratio: r.rps / s.rps, vs: CEILING_SEARCH } : {};
  }
  if (r.scenario === CEILING_SEARCH) return {};
  return { ratio: r.rps / base.rps, vs: base.scenario };
}

function table(results: ScenarioResult[]): string {
  const rows = results.map((r) => {
    const { ratio } = ratioOf(results, r);
    const bad = r.failed;
    const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
    return [
      r.store,
      r.scenario,
      r.rounds > 1 ? `${fmt(r.rps)} (${fmt(r.rpsMin)}–${fmt(r.rpsMax)})` : fmt(r.rps),
      `${r.p50} ms`,
      `${r.p99} ms`,
      String(r.cpuUsPerRequest),
      ratio === undefined ? '' : `${Math.round(ratio * 100)}%`,
      bad ? String(bad) : '0',
    ];
  });
  const head = ['store', 'scenario', 'requests/s (median, range)', 'p50', 'p99', 'server CPU µs/req', 'ratio to ceiling', 'errors'];
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_h, i) => (i >= 2 ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** The commit measured, with "+dirty" when the working tree differs from it. */
function gitDescribe(): string | undefined {
  try {
    const opts = { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[] };
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim() !== '';
    return `${head}${dirty ? '+dirty' : ''}`;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  loadDefinitions();
  // The generated data is valid R4: checked once here, so loading can skip validation.
  const validator = Validator.fromProfileDir(fileURLToPath(new URL('../profiles', import.meta.url)));
  validator.validate(makePatient(0));
  validator.validate(makeObservation(0));
  const sizes = {
    patientBytes: Buffer.byteLength(JSON.stringify(makePatient(1))),
    observationBytes: Buffer.byteLength(JSON.stringify(makeObservation(1))),
  };
  log(`${args.resources.toLocaleString('en-US')} resources (Patient ≈${sizes.patientBytes} B, Observation ≈${sizes.observationBytes} B before meta), stores: ${args.stores.join(', ')}`);

  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    engines: {} as Record<string, string>,
    git: gitDescribe(),
  };
  const loads: Record<string, LoadStats> = {};
  const results: ScenarioResult[] = [];
  const runs: RunResult[] = [];
  for (const kind of args.stores) {
    const r = await benchStore(kind, args);
    loads[kind] = r.load;
    machine.engines[kind] = r.engine;
    results.push(...r.results);
    runs.push(...r.runs);
  }

  const out: string[] = [];
  out.push('');
  out.push(`Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB} GB, Node ${machine.node}; commit ${machine.git ?? 'unknown'}`);
  for (const [k, v] of Object.entries(machine.engines)) out.push(`  ${k}: ${v}`);
  out.push(`Resources: ${args.resources.toLocaleString('en-US')}; ${args.connections} connections; ${args.rounds} interleaved rounds of ${args.duration} s per scenario (${args.warmup} s warm-up in round 1); p50/p99 are medians over rounds`);
  const avgs = runs.map((r) => r.loadavg1);
  out.push(`1-minute load average at the start of runs: ${Math.min(...avgs)}–${Math.max(...avgs)} (on ${machine.cpus} cores)`);
  out.push('');
  out.push('Load (Repository.create, 1,000 per transaction, index rows included):');
  for (const [k, v] of Object.entries(loads)) {
    out.push(`  ${k}: ${v.resources.toLocaleString('en-US')} resources in ${v.seconds.toFixed(1)} s = ${Math.round(v.perSecond).toLocaleString('en-US')}/s (${v.indexRows.toLocaleString('en-US')} index rows)`);
  }
  out.push('');
  out.push(table(results));
  out.push('');
  for (const kind of args.stores) {
    const read = results.find((r) => r.store === kind && r.scenario === 'read by id');
    const base = results.find((r) => r.store === kind && r.scenario === CEILING_READ);
    const text = results.find((r) => r.store === kind && r.scenario === CEILING_TEXT);
    if (read && base && text) {
      out.push(`${kind}: read by id = ${Math.round((read.rps / base.rps) * 100)}% of the ceiling (goal ≥ 70%); ${Math.round((read.rps / text.rps) * 100)}% of the text-passthrough route`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n\n`);
  const json = {
    benchmark: 'fhir-read-search',
    date: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    args,
    machine,
    sizes,
    load: loads,
    results: results.map((r) => ({ ...r, ...ratioOf(results, r) })),
    runs,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

try {
  await main();
  await runCleanups();
  process.exit(0);
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  await runCleanups();
  process.exit(1);
}
