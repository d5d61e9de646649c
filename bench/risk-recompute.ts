// Shared risk recomputation throughput on PostgreSQL (a fresh schema, dropped after): N people,
// each with a falls screen, an HCBS assessment and medication-risk findings written through the
// gateway's write path (so the write hook marks them), then the drain as the worker runs it:
//   1. first computation (every RiskAssessment created),
//   2. recomputation with nothing changed (every update 'unchanged', no version),
//   3. an amended falls screen for everyone, drained by 1 and by 2 concurrent drains (new versions).
// Reports recomputations/s, ms per person, and the load average (the machine is shared).
//
//   npx tsx bench/risk-recompute.ts [--people 200] [--database-url postgres://postgres@127.0.0.1:5432/test]
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import { loadConfig } from '../src/config/env.js';
import { loadPartners } from '../src/config/partners.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { storeRecord } from '../src/ingest/pipeline.js';
import { loadProtocol } from '../src/risk/protocol.js';
import { drainAll, type DrainCounts, type RiskDrainOptions } from '../src/risk/risk-drain.js';
import { markAllPending, pendingCount, riskInputWriteHook } from '../src/risk/risk-pending.js';
import { createWritePath } from '../src/write-path.js';
import { FIVE_PLAIN_DRUGS, fallsScreen, hcbsAssessment, medicationRisk } from '../test/support/risk-fixtures.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const PEOPLE = Number(arg('people', '200'));
const DATABASE_URL = arg('database-url', 'postgres://postgres@127.0.0.1:5432/test');
const NOW = () => new Date('2026-11-01T12:00:00.000Z');

const schema = `bench_risk_${randomBytes(4).toString('hex')}`;
const db = await openDatabase({ databaseUrl: DATABASE_URL, dataDir: '', schema });
loadDefinitions();
const config = loadConfig({ LOG_LEVEL: 'silent', EXCHANGE_ENABLED: 'false' });
const { repo } = createWritePath({ config, db, partners: loadPartners(config.partnersFile), hooks: [riskInputWriteHook] });
const protocol = loadProtocol();
const msis = (i: number) => `BENCH${String(i).padStart(6, '0')}`;
const screen = (i: number, action: 'new' | 'amend') =>
  fallsScreen({ msisId: msis(i), screenId: `B${i}`, date: '2026-10-01', tool: 'STEADI_3Q', answers: action === 'new' ? { KQ1: 'Y', KQ2: 'Y' } : {}, action });

const rows: string[] = [];
async function phase(name: string, drains: number, expect: keyof DrainCounts): Promise<void> {
  const pending = await pendingCount(db);
  const opts: RiskDrainOptions = { db, repo, protocol, now: NOW, batchSize: 50, leaseMs: 60000 };
  const load = loadavg()[0];
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: drains }, () => drainAll(opts)));
  const s = (performance.now() - t0) / 1000;
  const sum = (k: keyof DrainCounts) => results.reduce((n, r) => n + r[k], 0);
  if (sum('claimed') !== pending || sum(expect) !== pending) throw new Error(`${name}: ${JSON.stringify(results)} for ${pending} pending`);
  rows.push(`| ${name} | ${drains} | ${pending} | ${expect} ${sum(expect)} | ${s.toFixed(1)} | ${(pending / s).toFixed(1)} | ${((s * 1000) / pending).toFixed(1)} | ${load.toFixed(1)} |`);
  console.error(rows.at(-1));
}

try {
  const t0 = performance.now();
  for (let i = 0; i < PEOPLE; i++) {
    await storeRecord(repo, { resources: screen(i, 'new') });
    await storeRecord(repo, {
      resources: hcbsAssessment({ msisId: msis(i), assessmentId: `BA${i}`, date: '2026-09-13', items: [['GG0130A', 'usual_3d', '02'], ['GG0130B', 'usual_3d', '01'], ['GG0170I', 'usual_3d', '03']] }),
    });
    await storeRecord(repo, { resources: medicationRisk(msis(i), '2026-10-20', [...FIVE_PLAIN_DRUGS, 'zolpidem tartrate 10 MG Oral Tablet']) });
  }
  console.error(`setup: ${PEOPLE} people, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  await phase('first computation', 1, 'created');
  await markAllPending(db);
  await phase('nothing changed', 1, 'unchanged');
  for (let i = 0; i < PEOPLE / 2; i++) await storeRecord(repo, { resources: screen(i, 'amend') });
  await phase('amended screen', 1, 'updated');
  for (let i = PEOPLE / 2; i < PEOPLE; i++) await storeRecord(repo, { resources: screen(i, 'amend') });
  await phase('amended screen', 2, 'updated');
  console.log(`people: ${PEOPLE}, PostgreSQL, protocol ${protocol.id} ${protocol.version}`);
  console.log('| phase | drains | people | outcome | s | recomputations/s | ms / person | load avg (1 min) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
} finally {
  await db.close();
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
}
