// `npm run demo`: the queued exchange on one machine. Starts a second gateway as the ACO's FHIR
// server (aco-sunrise, its own SMART token server, on the loopback port the partner directory
// names), runs the hub gateway with its delivery worker in this process, aligns the sample
// people to the ACO (a roster Group), ingests the sample files as the MCO mco-bluecare, shows
// deliveries arriving, and prints a summary.
//
// Needs Redis (REDIS_URL, default 127.0.0.1:6379; a demo-only queue prefix is used and removed).
// Uses the embedded store (PGlite) for both gateways under tmp/demo-*; nothing else is touched.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import { Redis } from 'ioredis';
import { generatePrivateJwk, publicJwksOf } from '../src/auth/gateway-keys.js';
import { loadConfig } from '../src/config/env.js';
import { parsePartners, type PartnersFile } from '../src/config/partners.js';
import { startDeliveryWorker } from '../src/exchange/delivery-worker.js';
import { outbox } from '../src/exchange/outbox.js';
import { createGateway } from '../src/gateway.js';
import { ingest } from '../src/ingest/pipeline.js';
import { silentLogger } from '../src/logger.js';
import { patientId } from '../src/mappers/common/parties.js';
import { createLayouts, parseRxNormCrosswalk, type FridClassList } from '../src/mappers/index.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const SOURCE = 'mco-bluecare';
const ACO = 'aco-sunrise';
const say = (s: string) => process.stdout.write(`${s}\n`);
let stopping = false;
let removeRedisKeys = async (): Promise<void> => undefined;

async function portFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((r) => {
    s.once('error', () => r(false));
    s.listen(port, '127.0.0.1', () => s.close(() => r(true)));
  });
}

async function main(): Promise<void> {
  const work = join(process.cwd(), 'tmp', `demo-${Date.now()}`);
  mkdirSync(work, { recursive: true });
  const env = loadConfig(process.env);
  const prefix = `demo:${Date.now()}:`;
  const today = new Date().toISOString().slice(0, 10);

  // 1. The hub's signing keys, and the ACO's registration of the hub as a client.
  const hubJwks = { keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] };
  writeFileSync(join(work, 'hub-keys.json'), JSON.stringify(hubJwks), { mode: 0o600 });
  const viewer = await generatePrivateJwk('ES384');

  // 2. The partner directory: config/partners.json, with the agreements active from today
  //    (the demo file's start in 2028) and the ACO's endpoint on a free loopback port.
  const directory = JSON.parse(readFileSync('config/partners.json', 'utf8')) as PartnersFile;
  const aco = directory.organizations.find((o) => o.id === ACO)!;
  let port = Number(new URL(aco.endpoint!.fhirBaseUrl).port);
  if (!(await portFree(port))) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
  }
  const acoUrl = `http://127.0.0.1:${port}`;
  aco.endpoint = { ...aco.endpoint!, fhirBaseUrl: `${acoUrl}/fhir`, tokenUrl: `${acoUrl}/auth/token` };
  for (const a of directory.agreements) if (a.period.start > today) a.period = { start: today };
  // Loopback only: the demo never sends anything (data, tokens, queue jobs) off this machine.
  const remote = [
    env.redisUrl,
    ...directory.organizations.flatMap((o) => [...(o.endpoint ? [o.endpoint.fhirBaseUrl, o.endpoint.tokenUrl] : []), ...(o.notificationEndpoints ?? [])]),
  ].filter(
    (u) => !LOOPBACK.has(new URL(u).hostname),
  );
  if (remote.length) throw new Error(`the demo only talks to loopback; not loopback: ${remote.join(', ')}`);
  // The demo's queue keys go whatever happens (a failed run too).
  removeRedisKeys = async () => {
    const r = new Redis(env.redisUrl, { maxRetriesPerRequest: 1 });
    r.on('error', () => undefined);
    for (let cursor = '0'; ; ) {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await r.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
    r.disconnect();
  };
  writeFileSync(join(work, 'hub-partners.json'), JSON.stringify(directory, null, 2));
  parsePartners(directory);
  writeFileSync(
    join(work, 'aco-partners.json'),
    JSON.stringify({
      organizations: [
        { id: 'lead-hub', type: 'SMA', name: 'LEAD hub gateway', clients: [{ clientId: 'lead-gateway', jwks: publicJwksOf(hubJwks), scopes: ['system/*.cruds'], purposeOfUse: 'TREAT', rateLimit: { requests: 100000, windowSeconds: 60 } }] },
        { id: 'aco-admin', type: 'SMA', name: 'ACO data team (demo viewer)', clients: [{ clientId: 'aco-viewer', jwks: publicJwksOf({ keys: [viewer] }), scopes: ['system/*.rs'] }] },
      ],
      agreements: [],
    }),
  );

  // 3. The ACO's FHIR server: a second gateway process.
  const receiverLog = join(work, 'aco-gateway.log');
  say(`▶ ACO ${ACO}: gateway on ${acoUrl} (own SMART token server, own store; log ${receiverLog})`);
  const receiver = spawn(process.execPath, ['bin/lead-gateway.js', 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      BASE_URL: acoUrl,
      DATA_DIR: join(work, 'aco-data'),
      PARTNERS_FILE: join(work, 'aco-partners.json'),
      EXCHANGE_ENABLED: 'false',
      REDIS_URL: env.redisUrl,
      BULK_QUEUE_PREFIX: `${prefix}aco-bulk`,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', openSync(receiverLog, 'a'), openSync(receiverLog, 'a')],
  });
  const stopReceiver = () => receiver.kill('SIGTERM');
  receiver.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`the ACO gateway exited (code ${code}, signal ${signal}); see ${receiverLog}\n`);
  });
  process.once('exit', stopReceiver);
  for (let i = 0; ; i++) {
    if ((await fetch(`${acoUrl}/healthz`).then((r) => r.ok, () => false))) break;
    if (i > 600) throw new Error('the ACO gateway did not start');
    await new Promise((r) => setTimeout(r, 500));
  }

  // 4. The hub, with its delivery worker in this process (like `serve --with-worker`).
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: undefined, // the embedded store under tmp/demo-*, whatever the shell has set
    DATA_DIR: join(work, 'hub-data'),
    PARTNERS_FILE: join(work, 'hub-partners.json'),
    GATEWAY_KEYS_FILE: join(work, 'hub-keys.json'),
    EXCHANGE_QUEUE_PREFIX: `${prefix}hub`,
    BULK_QUEUE_PREFIX: `${prefix}hub-bulk`,
    EXCHANGE_BACKOFF_MS: '500',
    LOG_LEVEL: 'silent',
  });
  say('▶ hub gateway: store, routing, outbox');
  const hub = await createGateway({ config, logger: silentLogger, auth: 'none' });
  const worker = await startDeliveryWorker({ config, logger: silentLogger, db: hub.db, metrics: hub.exchange.metrics });

  // 5. The roster: the sample people are aligned to the ACO.
  const msisIds = [...new Set(readFileSync('samples/eligibility-month.csv', 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(',')[0]))];
  await hub.repo.create({
    resourceType: 'Group',
    type: 'person',
    actual: true,
    name: 'Demo roster',
    managingEntity: { reference: `Organization/${ACO}` },
    member: msisIds.map((m) => ({ entity: { reference: `Patient/${patientId({ state: '26', msisId: m })}` } })),
  } as never);
  say(`▶ roster: ${msisIds.length} people aligned to ${ACO}`);

  // 6. Ingest the samples as the MCO; watch deliveries arrive.
  const layouts = createLayouts({ crosswalk: parseRxNormCrosswalk(readFileSync('samples/ndc-rxnorm-crosswalk.csv', 'utf8')) });
  const started = Date.now();
  for (const layout of ['hcbs-assessment', 'falls-screen', 'pharmacy-claims'] as const) {
    const report = await ingest(createReadStream(`samples/${layout}.csv`), {
      layout: layouts[layout],
      format: 'csv',
      repo: hub.repo,
      ctx: { sourceOrg: SOURCE, sourceOrgName: 'BlueCare Medicaid Health Plan', fileName: `${layout}.csv`, now: () => new Date() },
      medicationRisk: layout === 'pharmacy-claims' ? { fridClasses: JSON.parse(readFileSync('config/medication-risk/frid-classes.json', 'utf8')) as FridClassList } : undefined,
    });
    say(`▶ ingested ${layout}: ${report.accepted} records (${report.rejected} rejected)`);
  }

  const token = await viewerToken(viewer, `${acoUrl}/auth/token`);
  const acoCount = async (type: string): Promise<number | string> => {
    try {
      // Counted from a page of ids (the consent engine refuses _summary=count to partners).
      const res = await fetch(`${acoUrl}/fhir/${type}?_count=1000&_elements=id`, { headers: { authorization: `Bearer ${token}` } });
      if (!res.ok) return `HTTP ${res.status}`;
      const page = (await res.json()) as { entry?: unknown[]; link?: { relation: string }[] };
      const n = page.entry?.length ?? 0;
      return page.link?.some((l) => l.relation === 'next') ? `${n}+` : n;
    } catch (err) {
      return `unreachable (${(err as Error).message})`;
    }
  };
  for (;;) {
    const counts = Object.fromEntries((await outbox.countsByDestinationAndState(hub.db)).map((r) => [r.state, r.n]));
    say(`  deliveries ${JSON.stringify(counts)}   at the ACO: ${await acoCount('QuestionnaireResponse')} QuestionnaireResponse, ${await acoCount('Observation')} Observation`);
    if (!counts.pending && !counts.queued && !counts.retrying) break;
    await new Promise((r) => setTimeout(r, 1000));
  }

  // 7. Summary.
  const rows = await outbox.list(hub.db, { limit: 100000 });
  const latencies = rows.filter((r) => r.deliveredAt).map((r) => Date.parse(r.deliveredAt!) - Date.parse(r.createdAt)).sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  say('\n=== Summary ===');
  say(`deliveries: ${rows.length} (${Object.entries(rows.reduce<Record<string, number>>((m, r) => ({ ...m, [r.state]: (m[r.state] ?? 0) + 1 }), {})).map(([k, v]) => `${v} ${k}`).join(', ')})`);
  say(`attempts: ${rows.reduce((n, r) => n + r.attempts, 0)}; commit→ACO latency p50 ${pct(50)} ms, p99 ${pct(99)} ms; wall clock ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const type of ['Patient', 'QuestionnaireResponse', 'Observation', 'MedicationRequest', 'MedicationDispense', 'RiskAssessment', 'Condition']) {
    say(`  at the ACO: ${String(await acoCount(type)).padStart(5)} ${type}`);
  }
  const clean = process.argv.includes('--clean');
  if (!clean) say(`inspect: DATA_DIR=${join(work, 'hub-data')} npx lead-gateway deliveries list   (after this demo exits)`);

  stopping = true;
  await worker.close();
  await hub.close();
  await removeRedisKeys();
  stopReceiver();
  if (clean) rmSync(work, { recursive: true, force: true });
}

/** A token for the demo viewer; a dropped connection (the ACO busy storing deliveries) is retried. */
async function viewerToken(jwk: JWK, tokenUrl: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await requestViewerToken(jwk, tokenUrl);
    } catch (err) {
      if (attempt >= 5 || !(err instanceof TypeError)) throw err; // fetch failed: no answer at all
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function requestViewerToken(jwk: JWK, tokenUrl: string): Promise<string> {
  const assertion = await new SignJWT({ jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES384', kid: jwk.kid!, typ: 'JWT' })
    .setIssuer('aco-viewer')
    .setSubject('aco-viewer')
    .setAudience(tokenUrl)
    .setExpirationTime('5m')
    .sign(await importJWK(jwk, 'ES384'));
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
  });
  if (!res.ok) throw new Error(`the ACO's token endpoint answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const cause = (err as Error).cause as Error | undefined;
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}${cause ? `\ncaused by: ${cause.message}` : ''}\n`);
    stopping = true;
    void removeRedisKeys()
      .catch(() => undefined)
      .finally(() => process.exit(1));
  },
);
