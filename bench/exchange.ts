// Queued exchange throughput: N committed bundles (one routed resource each, one transaction
// each) through outbox → dispatcher → BullMQ → delivery worker(s) → a receiver on loopback.
// Reports deliveries/s and commit-to-receiver latency (p50/p99, from the delivery log:
// delivered_at − the commit's clock) with 1 and 2 `lead-gateway worker` processes.
//
//   npm run bench:exchange -- [--bundles 10000] [--workers 1,2] [--concurrency 8]
//
// Needs PostgreSQL (postgres://postgres@127.0.0.1:5432/test; a fresh schema per run, dropped
// after) and Redis (127.0.0.1:6379, own key prefix, removed after). The receiver is a stub in a
// child process (token endpoint + transaction endpoint answering 200 at once), so the figures
// are the hub's: routing, outbox, queue, bundle assembly with the consent filter (and its
// AuditEvent), SMART token, HTTP. Writes happen while the workers run (a burst: commits are
// faster than deliveries, so latency includes the backlog).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { generatePrivateJwk } from '../src/auth/gateway-keys.js';
import { loadConfig } from '../src/config/env.js';
import { createGateway } from '../src/gateway.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { silentLogger } from '../src/logger.js';

const PG = 'postgres://postgres@127.0.0.1:5432/test';
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

async function run(bundles: number, workers: number, concurrency: number): Promise<{ rate: number; p50: number; p99: number; seconds: number }> {
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
    EXCHANGE_CONCURRENCY: String(concurrency),
    EXCHANGE_DISPATCH_INTERVAL_MS: '50',
    LOG_LEVEL: 'error',
  };
  const db = await openDatabase({ databaseUrl: PG, dataDir: '', schema });
  const hub = await createGateway({ config: loadConfig(env), logger: silentLogger, db, auth: 'none' });
  const patients = 100;
  for (let p = 0; p < patients; p++) await hub.repo.update({ resourceType: 'Patient', id: `p${p}`, active: true });
  await hub.repo.create({ resourceType: 'Group', type: 'person', actual: true, managingEntity: { reference: 'Organization/aco-bench' }, member: Array.from({ length: patients }, (_, p) => ({ entity: { reference: `Patient/p${p}` } })) } as never);
  const children = Array.from({ length: workers }, () => spawn(process.execPath, ['bin/lead-gateway.js', 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
  await new Promise((r) => setTimeout(r, 3000));
  const t0 = Date.now();
  const system = 'https://lead-gateway.example.org/fhir/sid/source/mco-bench/hcbs-assessment';
  for (let i = 0; i < bundles; i++) {
    await hub.repo.create({ resourceType: 'QuestionnaireResponse', status: 'completed', identifier: { system, value: `q${i}` }, subject: { reference: `Patient/p${i % patients}` }, authored: '2026-11-01' } as never);
  }
  const committed = (Date.now() - t0) / 1000;
  for (;;) {
    const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_delivery WHERE state NOT IN ('delivered', 'dead', 'withheld')`);
    if (r.rows[0].n === 0) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  const stats = (
    await db.query<{ n: number; first: Date; last: Date; p50: number; p99: number; bad: number }>(
      `SELECT count(*)::int AS n, min(created_at) AS first, max(delivered_at) AS last,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) * 1000 AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) * 1000 AS p99,
              count(*) FILTER (WHERE state <> 'delivered')::int AS bad
       FROM exchange_delivery`,
    )
  ).rows[0];
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  receiver.child.kill();
  await hub.close();
  await db.close();
  const admin = new pg.Client({ connectionString: PG });
  await admin.connect();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  const redis = new Redis();
  for (let cursor = '0'; ; ) {
    const [next, k] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (k.length) await redis.del(...k);
    cursor = next;
    if (cursor === '0') break;
  }
  redis.disconnect();
  rmSync(work, { recursive: true, force: true });
  if (stats.n !== bundles || stats.bad) throw new Error(`expected ${bundles} delivered, got ${stats.n} (${stats.bad} not delivered)`);
  const seconds = (new Date(stats.last).getTime() - new Date(stats.first).getTime()) / 1000;
  process.stderr.write(`  commits took ${committed.toFixed(1)} s (${(bundles / committed).toFixed(0)}/s)\n`);
  return { rate: bundles / seconds, p50: Number(stats.p50), p99: Number(stats.p99), seconds };
}

async function main(): Promise<void> {
  const bundles = Number(arg('bundles', '10000'));
  const concurrency = Number(arg('concurrency', '8'));
  const log = (s: string) => process.stdout.write(`${s}\n`);
  log(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}; ${new Date().toISOString()}; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  log(`${bundles} bundles (one QuestionnaireResponse + its Patient each), per-destination concurrency ${concurrency} per worker process`);
  log('');
  log('| Worker processes | deliveries/s | commit→receiver p50 ms | p99 ms | first commit → last delivery s |');
  log('|---|---|---|---|---|');
  for (const w of arg('workers', '1,2').split(',').map(Number)) {
    const r = await run(bundles, w, concurrency);
    log(`| ${w} | ${r.rate.toFixed(0)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.seconds.toFixed(1)} |`);
  }
  process.exit(0);
}
