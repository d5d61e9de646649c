// The batched store of ingest on PostgreSQL (src/ingest/store-batches.ts): several records per
// transaction, a savepoint each, several transactions in flight. A record that fails in the
// store rolls back alone; reports come after the commit; lanes racing to create the same shared
// resource retry instead of rejecting; a person's records keep file order.
import type { Coverage, Resource } from '@medplum/fhirtypes';
import { outcomes } from '../../../src/fhir/outcomes.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { ingest, type WrittenResource } from '../../../src/ingest/pipeline.js';
import { createLayouts, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { ctx } from '../../support/map-context.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/database.js';

const layouts = createLayouts({ crosswalk: parseRxNormCrosswalk('ndc11,rxcui,rxnorm_display\n') });
let t: TestDatabase;

beforeAll(async () => {
  t = await openTestDatabase('postgres');
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

const H = 'msis_id,submtg_state_cd,year_month,medicaid_enrolled,dual_elgbl_cd,record_action';
const lines = (rows: string[]) =>
  (async function* () {
    yield [H, ...rows].join('\n') + '\n';
  })();

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return (await t.db.query<{ n: number }>(sql, params)).rows[0].n;
}

describe('batched, concurrent ingest store', () => {
  it('rolls back only the record that fails in the store, and reports each record after its commit', async () => {
    // The store refuses one Coverage (as validation would): its record fails inside a batch of 40.
    const repo = new Repository(t.db, {
      validate: (r: Resource) => {
        if (r.resourceType === 'Coverage' && (r as Coverage).subscriberId === 'SBFAIL7') throw outcomes.unprocessable([{ severity: 'error', code: 'invariant', diagnostics: 'refused' }]);
      },
    });
    const rows = Array.from({ length: 40 }, (_, i) => `${i === 7 ? 'SBFAIL7' : `SBOK${i}`},26,2026-07,Y,02,new`);
    const committedWhenReported: boolean[] = [];
    const report = await ingest(lines(rows), {
      layout: layouts['eligibility-month'],
      format: 'csv',
      ctx,
      repo,
      store: { lanes: 4, records: 10 },
      onStored: async (written: WrittenResource[]) => {
        // Another connection sees the record's Coverage: onStored runs after the commit.
        const cov = written.find((w) => w.resourceType === 'Coverage')!;
        committedWhenReported.push((await count('SELECT count(*)::int AS n FROM resource WHERE resource_type = $1 AND id = $2', ['Coverage', cov.id])) === 1);
      },
    });
    expect(report).toMatchObject({ records: 40, accepted: 39, rejected: 1 });
    expect(report.rejects).toEqual([
      { lines: [9], issues: [expect.objectContaining({ location: ['Line[9]'], diagnostics: expect.stringContaining('refused') })] },
    ]);
    expect(committedWhenReported).toHaveLength(39);
    expect(committedWhenReported.every(Boolean)).toBe(true);
    // Nothing of the failed record (no Patient, Coverage or Provenance), everything of the others.
    expect(await count(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Patient' AND content::text LIKE '%SBFAIL7%'`)).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Coverage' AND content->>'subscriberId' LIKE 'SBOK%'`)).toBe(39);
  }, 120_000);

  it('lanes racing to create the same shared Organization retry: all stored, the Organization once', async () => {
    const repo = new Repository(t.db);
    const before = await count(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Organization'`);
    // Fresh schema per run of this test: a state code no other test uses makes a new agency Organization.
    const rows = Array.from({ length: 60 }, (_, i) => `RACE${i},27,2026-07,Y,02,new`);
    const report = await ingest(lines(rows), { layout: layouts['eligibility-month'], format: 'csv', ctx, repo, store: { lanes: 4, records: 1 } });
    expect(report).toMatchObject({ records: 60, accepted: 60, rejected: 0 });
    const orgs = await t.db.query<{ id: string; version_id: string }>(`SELECT id, version_id::text FROM resource WHERE resource_type = 'Organization'`);
    expect(orgs.rows.length).toBeGreaterThan(before);
    expect(orgs.rows.every((o) => o.version_id === '1')).toBe(true);
    expect(await count(`SELECT count(*)::int AS n FROM resource_history WHERE resource_type = 'Organization'`)).toBe(orgs.rows.length);
  }, 120_000);

  it("keeps a person's records in file order across batches: new, amend, delete", async () => {
    const repo = new Repository(t.db);
    const rows: string[] = [];
    for (let i = 0; i < 30; i++) rows.push(`ORD${i},26,2026-07,Y,02,new`);
    for (let i = 0; i < 30; i++) rows.push(`ORD${i},26,2026-07,Y,04,amend`);
    for (let i = 0; i < 30; i += 3) rows.push(`ORD${i},26,2026-07,Y,04,delete`);
    const report = await ingest(lines(rows), { layout: layouts['eligibility-month'], format: 'csv', ctx, repo, store: { lanes: 4, records: 7 } });
    expect(report).toMatchObject({ accepted: rows.length, rejected: 0 });
    const cov = await t.db.query<{ sub: string; status: string; dual: string; version_id: string }>(
      `SELECT content->>'subscriberId' AS sub, content->>'status' AS status, content->'extension'->0->'valueCoding'->>'code' AS dual, version_id::text
       FROM resource WHERE resource_type = 'Coverage' AND content->>'subscriberId' LIKE 'ORD%'`,
    );
    expect(cov.rows).toHaveLength(30);
    for (const c of cov.rows) {
      const deleted = Number(c.sub.slice(3)) % 3 === 0;
      expect(c).toMatchObject({ dual: '04', status: deleted ? 'entered-in-error' : 'active', version_id: deleted ? '3' : '2' });
    }
  }, 120_000);
});
