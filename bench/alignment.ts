// Alignment run for one performance year over N beneficiaries × 12 member-months (Medicaid +
// Medicare Coverage each month, as the eligibility layout writes them), on PostgreSQL (a fresh
// schema, dropped after) or PGlite. The enrollment rows are loaded with plain SQL inserts (this
// bench measures alignment, not ingest; bench/ingest.ts measures that). Then two runs: the first
// (all members new) and a second after 10% of people changed (new / dropped / changed deltas).
// Reports beneficiaries/s per run, where the time goes (reading facts, deciding, writing the
// roster Groups through the write path, saving decisions) and peak RSS.
//
//   npx tsx bench/alignment.ts [--people 10000] [--store postgres|pglite]
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Coverage, Patient } from '@medplum/fhirtypes';
import { loadConfig } from '../src/config/env.js';
import { parsePartners, type PartnersFile } from '../src/config/partners.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import type { Database } from '../src/fhir/store/database.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { runAlignment } from '../src/alignment/run.js';
import { createWritePath } from '../src/write-path.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const PEOPLE = Number(arg('people', '10000'));
const STORE = arg('store', 'postgres');
const URL_ = 'postgres://postgres@127.0.0.1:5432/test';
const SOPT = 'https://nahdo.org/sopt';
const LEAD = 'https://lead-gateway.example.org/fhir';

const directory: PartnersFile = {
  organizations: [
    { id: 'sma', type: 'SMA', name: 'SMA', clients: [], medicaidStateCodes: ['39'] },
    { id: 'mco-a', type: 'MCO', name: 'MCO A', clients: [], medicaidPlanIds: ['PLAN-A'] },
    { id: 'mco-b', type: 'MCO', name: 'MCO B', clients: [], medicaidPlanIds: ['PLAN-B'] },
    { id: 'aco-1', type: 'ACO', name: 'ACO 1', clients: [], serviceArea: { counties: ['39049', '39041'] } },
    { id: 'aco-2', type: 'ACO', name: 'ACO 2', clients: [], serviceArea: { counties: ['39035', '39049'] } },
  ],
  agreements: [
    { id: 'a1', aco: 'aco-1', medicaidPartner: 'mco-a', dataClasses: ['eligibility'], purposeOfUse: 'TREAT', period: { start: '2027-01-01' } },
    { id: 'a2', aco: 'aco-2', medicaidPartner: 'mco-b', dataClasses: ['eligibility'], purposeOfUse: 'TREAT', period: { start: '2027-01-01' } },
    { id: 'a3', aco: 'aco-2', medicaidPartner: 'sma', dataClasses: ['eligibility'], purposeOfUse: 'TREAT', period: { start: '2027-01-01' } },
  ],
};

/** Person p's resources; `variant` shifts some people (the second run's changes). */
function personRows(p: number, variant: number): { type: string; id: string; content: Patient | Coverage }[] {
  const pid = `bench-p${p}`;
  const county = ['39049', '39041', '39035', '39001'][p % 4];
  const plan = p % 5 === 0 ? undefined : p % 2 ? 'PLAN-A' : 'PLAN-B';
  const dual = p % 7 === 0 ? '01' : '02';
  const rows: { type: string; id: string; content: Patient | Coverage }[] = [
    { type: 'Patient', id: pid, content: { resourceType: 'Patient', id: pid, address: [{ use: 'home', district: county }] } },
  ];
  const changed = variant && p % 10 === 0;
  for (let m = 1; m <= 12; m++) {
    const month = `2027-${String(m).padStart(2, '0')}`;
    const period = { start: `${month}-01`, end: `${month}-28` };
    const common = { status: 'active' as const, beneficiary: { reference: `Patient/${pid}` }, period, payor: [{ reference: 'Organization/x' }] };
    const src = (k: string) => ({ system: `${LEAD}/sid/source/sma/eligibility-month`, value: `${pid}|${month}|${k}` });
    rows.push({
      type: 'Coverage',
      id: `${pid}-${m}-mcd`,
      content: {
        resourceType: 'Coverage',
        id: `${pid}-${m}-mcd`,
        ...common,
        identifier: [{ system: `${LEAD}/sid/medicaid/39`, value: pid }, src('medicaid')],
        type: { coding: [{ system: SOPT, code: '2' }] },
        extension: [{ url: `${LEAD}/StructureDefinition/dual-status`, valueCoding: { code: changed && m > 6 ? '03' : dual } }],
        ...(plan ? { class: [{ type: { coding: [{ code: 'plan' }] }, value: plan }] } : {}),
      },
    });
    rows.push({
      type: 'Coverage',
      id: `${pid}-${m}-mcr`,
      content: {
        resourceType: 'Coverage',
        id: `${pid}-${m}-mcr`,
        ...common,
        identifier: [src('medicare')],
        type: { coding: [{ system: SOPT, code: '121' }] },
        class: [{ type: { coding: [{ code: 'plan' }] }, value: 'C' }],
      },
    });
  }
  return rows;
}

async function load(db: Database, variant: number): Promise<void> {
  for (let p = 0; p < PEOPLE; p += 500) {
    const batch = [];
    for (let q = p; q < Math.min(PEOPLE, p + 500); q++) batch.push(...personRows(q, variant));
    await db.query(
      `INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
       SELECT r->>'type', r->>'id', 1, now(), false, r->'content' FROM jsonb_array_elements($1::jsonb) r
       ON CONFLICT (resource_type, id) DO UPDATE SET content = EXCLUDED.content`,
      [JSON.stringify(batch)],
    );
  }
}

async function main(): Promise<void> {
  loadDefinitions();
  const schema = `bench_align_${randomBytes(4).toString('hex')}`;
  const db = STORE === 'pglite' ? await openDatabase({ dataDir: '', inMemory: true }) : await openDatabase({ databaseUrl: URL_, dataDir: '', schema });
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    const partners = parsePartners(directory, 'bench directory');
    const config = loadConfig({ LOG_LEVEL: 'silent', EXCHANGE_ENABLED: 'false' });
    const { repo } = createWritePath({ config, db, partners });
    const t0 = performance.now();
    await load(db, 0);
    if (STORE === 'postgres') await db.query('ANALYZE');
    const loadS = (performance.now() - t0) / 1000;
    const results = [];
    for (const variant of [0, 1]) {
      if (variant) await load(db, 1);
      const t = performance.now();
      const r = await runAlignment({ db, repo, directory: partners, period: '2027' });
      const s = (performance.now() - t) / 1000;
      results.push({ run: variant + 1, seconds: s, beneficiariesPerSecond: Math.round(r.beneficiaries / s), aligned: r.aligned, timingsMs: r.timings, byPathway: r.byPathway, rosters: r.rosters.map((x) => ({ aco: x.acoId, members: x.members, changes: x.changes })) });
    }
    // PGlite runs on this thread and starves the sampler: sample once more at the end too.
    peak = Math.max(peak, process.memoryUsage().rss);
    const load1 = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Coverage'");
    console.log(JSON.stringify({ store: STORE, people: PEOPLE, coverages: load1.rows[0].n, loadSeconds: +loadS.toFixed(1), runs: results, peakRssMiB: Math.round(peak / 2 ** 20) }, null, 2));
  } finally {
    clearInterval(sample);
    await db.close();
    if (STORE === 'postgres') {
      const c = new pg.Client({ connectionString: URL_ });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
}

await main();
