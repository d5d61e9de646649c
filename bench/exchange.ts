// Queued exchange throughput: N committed bundles (one routed resource each, one transaction
// each) through outbox → dispatcher → BullMQ → delivery worker(s) → a receiver on loopback.
// Reports deliveries/s and commit-to-receiver latency (p50/p99, from the delivery log:
// delivered_at − the commit's clock) with 1 and 2 `lead-gateway worker` processes.
//
//   npm run bench:exchange -- [--bundles 10000] [--workers 1,2] [--concurrency 8] [--trickle 200] [--trickle-rate 20]
//
// Needs PostgreSQL (postgres://postgres@127.0.0.1:5432/test; a fresh schema per run, dropped
// after) and Redis (127.0.0.1:6379, own key prefix, removed after). The receiver is a stub in a
// child process (token endpoint + transaction endpoint answering 200 at once), so the figures
// are the hub's: routing, outbox, queue, bundle assembly with the consent filter (and its
// AuditEvent), SMART token, HTTP. Throughput: the workers drain a backlog of N committed
// bundles (each delivery put back to pending between runs). Latency: with the workers idle, a
// trickle of bundles committed one at a time; commit → receiver acceptance from the delivery log.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { generatePrivateJwk } from '../src/auth/gateway-keys.js';
import { loadConfig } from '../src/config/env.js';
import { createGateway } from '../src/gateway.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { silentLogger } from '../src/logger.js';

const PG = 'postgres://postgres@127.0.0.1:5432/test';
const SYSTEM = 'https://lead-gateway.example.org/fhir/sid/source/mco-bench/hcbs-assessment';
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};

if (process.argv[2] === 'receiver') {
  // The stub receiver: any client assertion gets a token; any transaction is accepted.
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/auth/token') return res.end(JSON.stringify({ access_token: 'bench', token_type: 'bearer', expires_in: 3600 }));
      const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { entry?: unknown[] };
      res.end(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response', entry: (bundle.entry ?? []).map(() => ({ response: { status: '200' } })) }));
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
} else {
  await main();
}

async function startReceiver(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['bin/run-ts.js', 'bench/exchange.ts', 'receiver'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((r) => child.stdout!.once('data', (d) => r(String(d).trim())));
  return { url: `http://127.0.0.1:${port}`, child };
}

interface Setup {
  env: Record<string, string>;
  db: Awaited<ReturnType<typeof openDatabase>>;
  hub: Awaited<ReturnType<typeof createGateway>>;
  receiver: { url: string; child: ChildProcess };
  schema: string;
  work: string;
  prefix: string;
  patients: number;
  next: number;
}

async function setup(concurrency: number): Promise<Setup> {
  const schema = `bench_x_${randomBytes(4).toString('hex')}`;
  const work = join(process.cwd(), 'tmp', schema);
  mkdirSync(work, { recursive: true });
  const prefix = `bench:exchange:${schema}:`;
  const receiver = await startReceiver();
  const keys = { keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] };
  writeFileSync(join(work, 'keys.json'), JSON.stringify(keys));
  writeFileSync(
    join(work, 'partners.json'),
    JSON.stringify({
      organizations: [
        { id: 'mco-bench', type: 'MCO', name: 'Bench MCO', clients: [] },
        { id: 'aco-bench', type: 'ACO', name: 'Bench ACO', clients: [], endpoint: { fhirBaseUrl: `${receiver.url}/fhir`, tokenUrl: `${receiver.url}/auth/token`, clientId: 'lead-gateway', scope: 'system/*.cruds' } },
      ],
      agreements: [{ id: 'agr', aco: 'aco-bench', medicaidPartner: 'mco-bench', dataClasses: ['hcbs-assessment'], purposeOfUse: 'TREAT', period: { start: '2020-01-01' } }],
    }),
  );
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    PARTNERS_FILE: join(work, 'partners.json'),
    GATEWAY_KEYS_FILE: join(work, 'keys.json'),
    DATA_DIR: work,
    EXCHANGE_QUEUE_PREFIX: `${prefix}q`,
    BULK_QUEUE_PREFIX: `${prefix}b`,
    INGEST_QUEUE_PREFIX: `${prefix}i`,
    EXCHANGE_CONCURRENCY: String(concurrency),
    EXCHANGE_DISPATCH_INTERVAL_MS: '50',
    LOG_LEVEL: 'error',
  };
  const db = await openDatabase({ databaseUrl: PG, dataDir: '', schema });
  const hub = await createGateway({ config: loadConfig(env), logger: silentLogger, db, auth: 'none' });
  const patients = 1000;
  for (let p = 0; p < patients; p++) await hub.repo.update({ resourceType: 'Patient', id: `p${p}`, active: true });
  await hub.repo.create({ resourceType: 'Group', type: 'person', actual: true, managingEntity: { reference: 'Organization/aco-bench' }, member: Array.from({ length: patients }, (_, p) => ({ entity: { reference: `Patient/p${p}` } })) } as never);
  return { env, db, hub, receiver, schema, work, prefix, patients, next: 0 };
}

/** One committed bundle: a QuestionnaireResponse (routed) in its own transaction. */
async function commitOne(s: Setup): Promise<void> {
  const i = s.next++;
  await s.hub.repo.create({ resourceType: 'QuestionnaireResponse', status: 'completed', identifier: { system: SYSTEM, value: `q${i}` }, subject: { reference: `Patient/p${i % s.patients}` }, authored: '2026-11-01' } as never);
}

async function undelivered(s: Setup): Promise<number> {
  return (await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_delivery WHERE state NOT IN ('delivered', 'dead', 'withheld')`)).rows[0].n;
}

function startWorkers(s: Setup, n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['bin/lead-gateway.js', 'worker'], { env: s.env, stdio: ['ignore', 'ignore', 'inherit'] }));
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
}

/**
 * Throughput: the whole backlog (every delivery back to pending, new job ids) drained by
 * `workers` processes. Latency: with the workers idle, `trickle` bundles committed one by one
 * at `ratePerSecond`; commit → receiver acceptance from the delivery log.
 */
async function measure(s: Setup, workers: number, trickle: number, ratePerSecond: number): Promise<{ rate: number; drain: number; p50: number; p99: number; dead: number }> {
  await s.db.query(`UPDATE exchange_delivery SET state = 'pending', replays = replays + 1, delivered_at = NULL`);
  const total = (await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM exchange_delivery')).rows[0].n;
  const children = startWorkers(s, workers);
  // Wait until the workers are up: the first delivery lands.
  while ((await undelivered(s)) === total) await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  const delivered0 = total - (await undelivered(s));
  while ((await undelivered(s)) > 0) await new Promise((r) => setTimeout(r, 100));
  const drain = (Date.now() - t0) / 1000;
  const mark = (await s.db.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0].t;
  for (let i = 0; i < trickle; i++) {
    const t = Date.now();
    await commitOne(s);
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 / ratePerSecond - (Date.now() - t))));
  }
  while ((await undelivered(s)) > 0) await new Promise((r) => setTimeout(r, 100));
  const lat = (
    await s.db.query<{ p50: number; p99: number }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) * 1000 AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) * 1000 AS p99
       FROM exchange_delivery WHERE created_at >= $1`,
      [mark],
    )
  ).rows[0];
  const dead = (await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_delivery WHERE state <> 'delivered'`)).rows[0].n;
  await stopWorkers(children);
  return { rate: (total - delivered0) / drain, drain, p50: Number(lat.p50), p99: Number(lat.p99), dead };
}

/** The 1-minute load average, sampled every 5 s while a phase runs: what else the machine was doing. */
function loadSampler(): { stop(): string } {
  const samples = [loadavg()[0]];
  const timer = setInterval(() => samples.push(loadavg()[0]), 5000);
  return {
    stop() {
      clearInterval(timer);
      samples.push(loadavg()[0]);
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      return `${Math.min(...samples).toFixed(1)}–${Math.max(...samples).toFixed(1)} (mean ${mean.toFixed(1)})`;
    },
  };
}

async function teardown(s: Setup): Promise<void> {
  s.receiver.child.kill();
  await s.hub.close();
  await s.db.close();
  const admin = new pg.Client({ connectionString: PG });
  await admin.connect();
  await admin.query(`DROP SCHEMA ${s.schema} CASCADE`);
  await admin.end();
  const redis = new Redis();
  for (let cursor = '0'; ; ) {
    const [next, k] = await redis.scan(cursor, 'MATCH', `${s.prefix}*`, 'COUNT', 1000);
    if (k.length) await redis.del(...k);
    cursor = next;
    if (cursor === '0') break;
  }
  redis.disconnect();
  rmSync(s.work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const bundles = Number(arg('bundles', '10000'));
  const concurrency = Number(arg('concurrency', '8'));
  const trickle = Number(arg('trickle', '200'));
  const rate = Number(arg('trickle-rate', '20'));
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}; ${new Date().toISOString()}; load average at start ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const s = await setup(concurrency);
  try {
    const t0 = Date.now();
    const commitLoad = loadSampler();
    for (let i = 0; i < bundles; i += 16) await Promise.all(Array.from({ length: Math.min(16, bundles - i) }, () => commitOne(s)));
    const commitSeconds = (Date.now() - t0) / 1000;
    log(`${bundles} bundles (one QuestionnaireResponse + its Patient each, ${s.patients} people) committed in ${commitSeconds.toFixed(0)} s (${(bundles / commitSeconds).toFixed(0)}/s, 16 concurrent writers; load average ${commitLoad.stop()}); per-destination concurrency ${concurrency} per worker process`);
    log('');
    log(`| Worker processes | deliveries/s (backlog of ${bundles}) | drain s | commit→receiver p50 ms | p99 ms (${trickle} bundles at ${rate}/s, workers idle) | load average (1 min) during the row |`);
    log('|---|---|---|---|---|---|');
    for (const w of arg('workers', '1,2').split(',').map(Number)) {
      const load = loadSampler();
      const r = await measure(s, w, trickle, rate);
      log(`| ${w} | ${r.rate.toFixed(0)} | ${r.drain.toFixed(1)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${load.stop()} |${r.dead ? ` ${r.dead} not delivered` : ''}`);
    }
    log(`load average at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    await teardown(s);
  }
  process.exit(0);
}
