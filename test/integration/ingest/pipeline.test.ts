// The ingest pipeline against the real store (embedded PGlite, in memory): one transaction per
// record, rejected records reported and not stored, re-ingest idempotent, amend and delete.
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Coverage, Observation, Provenance } from '@medplum/fhirtypes';
import type { Database } from '../../../src/fhir/store/database.js';
import { openDatabase } from '../../../src/fhir/store/open-database.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { Validator } from '../../../src/fhir/validation/validator.js';
import { ingest, type IngestOptions } from '../../../src/ingest/pipeline.js';
import { generateSamples } from '../../../src/ingest/samples.js';
import { createLayouts, type FridClassList, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { ctx } from '../../support/map-context.js';

const layouts = createLayouts({ crosswalk: parseRxNormCrosswalk(readFileSync('samples/ndc-rxnorm-crosswalk.csv', 'utf8')) });
const fridClasses = JSON.parse(readFileSync('config/medication-risk/frid-classes.json', 'utf8')) as FridClassList;
let db: Database;
let repo: Repository;
let small: string; // 4 synthetic people: enough shapes, fast on a shared 2-core machine

beforeAll(async () => {
  small = await mkdtemp(join(tmpdir(), 'ingest-'));
  await generateSamples({ patients: 4, outDir: small, seed: 11 });
  db = await openDatabase({ dataDir: '', inMemory: true });
  const validator = Validator.fromProfileDir('profiles');
  repo = new Repository(db, { validate: (r) => validator.validate(r), now: () => new Date('2026-11-02T09:00:00Z') });
}, 120_000);
afterAll(async () => {
  await db?.close();
  if (small) await rm(small, { recursive: true });
});

const run = (file: string | string[], layout: keyof typeof layouts, extra: Partial<IngestOptions> = {}) =>
  ingest(typeof file === 'string' ? createReadStream(file) : (async function* () { yield file.join('\n') + '\n'; })(), {
    layout: layouts[layout],
    format: 'csv',
    ctx: { ...ctx, fileName: typeof file === 'string' ? file : 'inline.csv' },
    repo,
    ...extra,
  });

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return (await db.query<{ n: number }>(sql, params)).rows[0].n;
}
const versions = () => count('SELECT count(*)::int AS n FROM resource_history');

describe('ingest pipeline', () => {
  it('stores the eligibility sample, and re-ingesting it creates no new versions', async () => {
    const first = await run(join(small, 'eligibility-month.csv'), 'eligibility-month');
    expect(first).toMatchObject({ records: 12, accepted: 12, rejected: 0 });
    expect(first.resources.created).toBeGreaterThan(20);
    const before = await versions();
    const again = await run(join(small, 'eligibility-month.csv'), 'eligibility-month');
    expect(again.resources).toMatchObject({ created: 0, updated: 0 });
    expect(await versions()).toBe(before);
  }, 120_000);

  it('rejects exactly the bad rows with line, field and reason, and stores the rest once', async () => {
    const header = 'msis_id,submtg_state_cd,year_month,medicaid_enrolled,dual_elgbl_cd';
    const rows = [header];
    for (let i = 1; i <= 60; i++) {
      const bad = i % 20 === 0; // 1 in 20 bad: lines 21, 41, 61
      rows.push(`BAD${i},26,${bad ? '2026-13' : '2026-07'},Y,${i % 40 === 0 ? '07' : '02'}`);
    }
    const report = await run(rows, 'eligibility-month');
    expect(report).toMatchObject({ records: 60, accepted: 57, rejected: 3 });
    expect(report.rejects.map((r) => r.lines)).toEqual([[21], [41], [61]]);
    expect(report.rejects[1].issues).toEqual([
      expect.objectContaining({ location: ['Line[41]'], expression: ['year_month'] }),
      expect.objectContaining({ location: ['Line[41]'], expression: ['dual_elgbl_cd'], code: 'code-invalid' }),
    ]);
    const stored = await count("SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Coverage' AND content->'subscriberId' #>> '{}' LIKE 'BAD%'");
    expect(stored).toBe(57);
  }, 120_000);

  it('rejects a whole file with a wrong header', async () => {
    const report = await run(['msis,submtg_state_cd,year_month,medicaid_enrolled', 'X,26,2026-07,Y'], 'eligibility-month');
    expect(report.accepted).toBe(0);
    expect(report.rejects[0].issues.map((i) => i.expression?.[0])).toEqual(['msis', 'msis_id']);
  });

  it('amend makes new versions of the same resources; delete marks them entered-in-error', async () => {
    const h = 'msis_id,submtg_state_cd,year_month,medicaid_enrolled,dual_elgbl_cd,record_action';
    await run([h, 'AMD1,26,2026-07,Y,02,new'], 'eligibility-month');
    const amended = await run([h, 'AMD1,26,2026-07,Y,04,amend'], 'eligibility-month');
    expect(amended.resources).toMatchObject({ created: 1, updated: 1 }); // new Provenance, updated Coverage
    const cov = (await db.query<{ content: Coverage; version_id: string }>(
      "SELECT content, version_id FROM resource WHERE resource_type = 'Coverage' AND content->>'subscriberId' = 'AMD1'",
    )).rows[0];
    expect(String(cov.version_id)).toBe('2');
    expect(cov.content.extension?.[0].valueCoding?.code).toBe('04');
    await run([h, 'AMD1,26,2026-07,Y,04,delete'], 'eligibility-month');
    const deleted = (await db.query<{ content: Coverage }>("SELECT content FROM resource WHERE resource_type = 'Coverage' AND content->>'subscriberId' = 'AMD1'")).rows[0];
    expect(deleted.content.status).toBe('entered-in-error');
    const provenance = (await db.query<{ content: Provenance }>("SELECT content FROM resource WHERE resource_type = 'Provenance' AND content->'target' @> $1::jsonb", [JSON.stringify([{ reference: `Coverage/${deleted.content.id}` }])])).rows;
    expect(provenance.map((p) => p.content.activity?.coding?.[0].code).sort()).toEqual(['CREATE', 'DELETE', 'UPDATE']);
  }, 120_000);

  it('stores falls screens and assessments (one transaction each) and computes medication risk for claims', async () => {
    const falls = await run(join(small, 'falls-screen.csv'), 'falls-screen');
    expect(falls).toMatchObject({ records: 4, rejected: 0 });
    const hcbs = await run(join(small, 'hcbs-assessment.csv'), 'hcbs-assessment');
    expect(hcbs).toMatchObject({ records: 4, rejected: 0 });
    const claims = await run(join(small, 'pharmacy-claims.csv'), 'pharmacy-claims', { medicationRisk: { fridClasses } });
    expect(claims).toMatchObject({ rejected: 0 });
    const poly = (await db.query<{ content: Observation }>(
      "SELECT content FROM resource WHERE resource_type = 'Observation' AND content->'code'->'coding'->0->>'code' = 'polypharmacy'",
    )).rows.map((r) => r.content.valueBoolean);
    expect(poly).toHaveLength(4);
    expect(poly).toContain(true);
    expect(poly).toContain(false);
    const before = await versions();
    const again = await run(join(small, 'pharmacy-claims.csv'), 'pharmacy-claims', { medicationRisk: { fridClasses } });
    expect(again.resources).toMatchObject({ created: 0, updated: 0 });
    expect(await versions()).toBe(before);
  }, 300_000);
});
