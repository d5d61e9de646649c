// Consent engine benchmark: what consent filtering costs on the read paths.
//
//   node bin/run-ts.js bench/consent-filter.ts [--patients 200] [--per-patient 50] [--rounds 5]
//                                              [--requests 200] [--database-url postgres://…]
//
// In-process, on PostgreSQL (a fresh schema, dropped at the end), measured as CPU time of this
// process (process.cpuUsage) and wall clock, median of interleaved rounds:
//   1. decisions/s of the pure decision point (decide()), and of the per-resource engine work
//      (labels + read-time code scan + decide + obligations);
//   2. a search page (`Observation?patient=…&_count=50`) through the framework-free FhirRouter
//      with consent off (no disclose hook: stored JSON sent as it is) and on (with and without
//      the AuditEvent write), wired as the gateway wires it (discloseStored → filterStored);
//   3. a bulk-export page (1,000 stored rows): fetch only, vs fetch + filterStored (what export
//      runs), vs fetch + parse + filter() + serialise (the object path, for comparison).
// Data: synthetic (bench/fhir-data.ts); every 10th Observation carries a SNOMED SUD code, so it
// is labelled R/SUD/42CFRPart2 on write and withheld from the MCO recipient.
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import type { Resource } from '@medplum/fhirtypes';
import { loadPartners } from '../src/config/partners.js';
import { loadPolicy } from '../src/config/policy.js';
import { AuditTrail } from '../src/consent/audit.js';
import { decide } from '../src/consent/decision-point.js';
import { consentsFor } from '../src/consent/consent-store.js';
import { ConsentEngine } from '../src/consent/engine.js';
import { relatedAmong } from '../src/consent/relationship.js';
import { disclosureContext } from '../src/consent/disclosure-context.js';
import { cutStored, scanStored } from '../src/consent/stored-resource.js';
import { Labeler, labelsOf } from '../src/consent/labeler.js';
import { loadValueSets } from '../src/consent/value-sets.js';
import { trustedAccess } from '../src/fhir/access.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { FhirRouter, type FhirRequest, type RouterOptions } from '../src/fhir/router.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { Repository } from '../src/fhir/store/repository.js';
import { Validator } from '../src/fhir/validation/validator.js';
import { loadCoveredPatients, patientId } from './fhir-data.js';

const args = Object.fromEntries(
  process.argv.slice(2).flatMap((a, i, all) => (a.startsWith('--') ? [[a.slice(2), all[i + 1]]] : [])),
) as Record<string, string>;
const PATIENTS = Number(args.patients ?? 200);
const PER_PATIENT = Number(args['per-patient'] ?? 50);
const ROUNDS = Number(args.rounds ?? 5);
const REQUESTS = Number(args.requests ?? 200);
const DATABASE_URL = args['database-url'] ?? 'postgres://postgres@127.0.0.1:5432/test';

const log = (m: string): void => void process.stderr.write(`${m}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(n: number, fn: (i: number) => Promise<unknown> | unknown): Promise<{ cpuUs: number; wallOps: number }> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { cpuUs: (c.user + c.system) / n, wallOps: n / wall };
}

async function main(): Promise<void> {
  loadDefinitions();
  const schema = `bench_consent_${randomBytes(4).toString('hex')}`;
  const db = await openDatabase({ databaseUrl: DATABASE_URL, dataDir: '', schema });
  try {
    const partners = loadPartners('config/partners.json');
    const policy = loadPolicy();
    const labeler = new Labeler({ valueSets: loadValueSets(), part2Organizations: new Set(['aco-riverside']) });
    const repo = new Repository(db, { prepare: (tx, r) => labeler.prepare(tx, r), baseUrl: 'http://bench/fhir' });
    log(`loading ${PATIENTS} patients × ${PER_PATIENT} observations…`);
    await loadCoveredPatients(repo, PATIENTS, PER_PATIENT);
    await db.query('ANALYZE');

    const engineWith = new ConsentEngine({ db, partners, policy, labeler, audit: new AuditTrail(db) });
    const engineWithout = new ConsentEngine({ db, partners, policy, labeler });
    const recipient = { organizationId: 'mco-bluecare', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' };
    const validator = Validator.fromProfileDir('profiles');
    const routerOpts: RouterOptions = { baseUrl: 'http://bench/fhir', defaultPageSize: 50, maxPageSize: 1000, capabilityStatement: () => ({ resourceType: 'CapabilityStatement' }) as Resource };
    const withEngine = (engine: ConsentEngine): FhirRouter =>
      new FhirRouter(repo, validator, {
        ...routerOpts,
        disclose: async (req, resources) => (await engine.filter(req.recipient!, resources, 'search')).permitted,
        discloseStored: async (req, rows) => (await engine.filterStored(req.recipient!, rows, 'search')).texts,
        screen: (req, interaction, sreq) => engine.screen(req.recipient!, interaction, sreq),
      });
    const routers = { off: new FhirRouter(repo, validator, routerOpts), 'on, no audit': withEngine(engineWithout), 'on, with AuditEvent': withEngine(engineWith) };
    const search = (router: FhirRouter, i: number) => {
      const req: FhirRequest = {
        method: 'GET',
        path: '/Observation',
        query: [['patient', patientId(i % PATIENTS)], ['_count', '50']],
        headers: {},
        access: trustedAccess,
        recipient,
      };
      return router.handle(req);
    };

    // 1. decisions
    const sample = (await db.query<{ content: string }>(`SELECT content::text AS content FROM resource WHERE resource_type = 'Observation' LIMIT 1000`)).rows.map((r) => JSON.parse(r.content) as Resource);
    const profile = engineWith.profile(recipient)!;
    const prepared = sample.map((r) => ({ r, labels: labelsOf(r) }));
    const decisionRows: Record<string, number[]> = { 'decide() only': [], 'labels + code scan + decide': [] };
    for (let round = 0; round < ROUNDS; round++) {
      const m1 = await measure(100_000, (i) => {
        const x = prepared[i % prepared.length];
        decide({ recipient: profile, resource: x.r, labels: x.labels, patientIds: ['p'], related: () => true, consents: () => [], policy, now: new Date() });
      });
      decisionRows['decide() only'].push(m1.cpuUs);
      const m2 = await measure(20_000, (i) => {
        const r = sample[i % sample.length];
        const labels = labelsOf(r);
        for (const c of labeler.codeLabels(r)) labels.actCodes.add(c);
        decide({ recipient: profile, resource: r, labels, patientIds: ['p'], related: () => true, consents: () => [], policy, now: new Date() });
      });
      decisionRows['labels + code scan + decide'].push(m2.cpuUs);
    }

    // Per-disclosure queries: relationship + Consents for one person.
    decisionRows['relationship + Consent queries, two queries (before)'] = [];
    decisionRows['relationship + Consent queries, one query (per disclosure, not per resource)'] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const m = await measure(200, async (i) => {
        await relatedAmong(db, profile, [patientId(i % PATIENTS)]);
        await consentsFor(db, [patientId(i % PATIENTS)]);
      });
      decisionRows['relationship + Consent queries, two queries (before)'].push(m.cpuUs);
      const m1 = await measure(200, (i) => disclosureContext(db, profile, [patientId(i % PATIENTS)]));
      decisionRows['relationship + Consent queries, one query (per disclosure, not per resource)'].push(m1.cpuUs);
    }
    // The stored-text scan that replaces parsing for most rows (stored-resource.ts).
    decisionRows['scan of the stored text + cut (filterStored fast path, per resource)'] = [];
    const storedTexts = (await db.query<{ content: string }>(`SELECT content::text AS content FROM resource WHERE resource_type = 'Observation' LIMIT 1000`)).rows.map((r) => r.content);
    for (let round = 0; round < ROUNDS; round++) {
      const m = await measure(20_000, (i) => {
        const t = storedTexts[i % storedTexts.length];
        const f = scanStored(t, 'Observation');
        if (f) cutStored(t, f, { dropNarrative: true, scrubReferenceDisplay: true });
      });
      decisionRows['scan of the stored text + cut (filterStored fast path, per resource)'].push(m.cpuUs);
    }
    // What the router does for any disclose hook: parse stored JSON and serialise it again.
    decisionRows['JSON.parse + JSON.stringify of the stored resource'] = [];
    const texts = sample.map((r) => JSON.stringify(r));
    for (let round = 0; round < ROUNDS; round++) {
      const m = await measure(20_000, (i) => JSON.stringify(JSON.parse(texts[i % texts.length])));
      decisionRows['JSON.parse + JSON.stringify of the stored resource'].push(m.cpuUs);
    }

    // 2. search pages, interleaved
    const searchRows: Record<string, { cpu: number[]; wall: number[] }> = {};
    for (const name of Object.keys(routers)) searchRows[name] = { cpu: [], wall: [] };
    for (const router of Object.values(routers)) for (let i = 0; i < 20; i++) await search(router, i); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, router] of Object.entries(routers)) {
        const m = await measure(REQUESTS, (i) => search(router, i + round * REQUESTS));
        searchRows[name].cpu.push(m.cpuUs);
        searchRows[name].wall.push(m.wallOps);
      }
    }

    // 3. bulk export pages of 1,000 rows
    const pages = Math.max(1, Math.floor((PATIENTS * PER_PATIENT) / 1000));
    const page = async (i: number) =>
      (await db.query<{ content: string }>(`SELECT content::text AS content FROM resource WHERE resource_type = 'Observation' ORDER BY id LIMIT 1000 OFFSET $1`, [(i % pages) * 1000])).rows;
    const bulkRows: Record<string, { cpu: number[]; wall: number[] }> = { off: { cpu: [], wall: [] }, on: { cpu: [], wall: [] }, 'on, parsed objects (filter(), the path before)': { cpu: [], wall: [] } };
    for (let round = 0; round < ROUNDS; round++) {
      const off = await measure(10, async (i) => {
        for (const r of await page(i)) void r.content.length; // stored text goes out unchanged
      });
      const on = await measure(10, async (i) => {
        const rows = await page(i);
        const { texts } = await engineWith.filterStored(recipient, rows.map((r) => ({ resourceType: 'Observation', content: r.content })), 'bulk-export');
        for (const t of texts) void t?.length;
      });
      const parsed = await measure(10, async (i) => {
        const rows = await page(i);
        const { permitted } = await engineWith.filter(recipient, rows.map((r) => JSON.parse(r.content) as Resource), 'bulk-export');
        for (const r of permitted) JSON.stringify(r);
      });
      bulkRows.off.cpu.push(off.cpuUs / 1000);
      bulkRows.off.wall.push(off.wallOps * 1000);
      bulkRows.on.cpu.push(on.cpuUs / 1000);
      bulkRows.on.wall.push(on.wallOps * 1000);
      bulkRows['on, parsed objects (filter(), the path before)'].cpu.push(parsed.cpuUs / 1000);
      bulkRows['on, parsed objects (filter(), the path before)'].wall.push(parsed.wallOps * 1000);
    }

    const fmt = (n: number, d = 1): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
    const out: string[] = [];
    out.push(`Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.versions.node}, ${cpus().length} × ${cpus()[0]?.model.trim()}, load average ${loadavg()[0].toFixed(1)}; ${PATIENTS * PER_PATIENT} Observations, median of ${ROUNDS} rounds.`);
    out.push('', '| Decision work | CPU µs/op | ops per CPU-second |', '|---|---|---|');
    for (const [k, v] of Object.entries(decisionRows)) out.push(`| ${k} | ${fmt(median(v), 2)} | ${fmt(1e6 / median(v), 0)} |`);
    const base = median(searchRows.off.cpu);
    out.push('', '| Search page (`Observation?patient=…&_count=50`, in-process router) | CPU µs/request | wall requests/s | CPU overhead |', '|---|---|---|---|');
    for (const [k, v] of Object.entries(searchRows)) {
      const cpu = median(v.cpu);
      out.push(`| consent ${k} | ${fmt(cpu, 0)} | ${fmt(median(v.wall), 0)} | ${k === 'off' ? 'baseline' : `+${fmt(((cpu - base) / base) * 100, 0)}%`} |`);
    }
    const bOff = median(bulkRows.off.cpu);
    out.push('', '| Bulk-export page (1,000 stored rows) | CPU µs/resource | wall resources/s | CPU overhead |', '|---|---|---|---|');
    for (const [k, v] of Object.entries(bulkRows)) {
      const cpu = median(v.cpu);
      out.push(`| consent ${k} | ${fmt(cpu, 2)} | ${fmt(median(v.wall), 0)} | ${k === 'off' ? 'baseline (fetch only)' : `+${fmt(((cpu - bOff) / bOff) * 100, 0)}%`} |`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
    process.stdout.write(`${JSON.stringify({ decisionRows, searchRows, bulkRows })}\n`);
  } finally {
    await db.close();
    const c = new pg.Client({ connectionString: DATABASE_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}

await main();
