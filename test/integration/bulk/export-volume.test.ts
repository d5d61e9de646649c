// 10,000 patients through $export: the right counts for the SMA (everyone) and for an MCO (its
// members only), output split into several files by size, each line a whole resource.
import type { Resource } from '@medplum/fhirtypes';
import type { Database } from '../../../src/fhir/store/database.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { download, runExport, startBulkGateway, type BulkFixture } from './helpers.js';

const PATIENTS = 10_000;
let fx: BulkFixture;

/**
 * One template of each resource goes in through the Repository (validation off), which writes
 * its row and index rows; SQL then clones them `PATIENTS` times with new ids (and references
 * to the cloned Patient) — 10,000 people in about a second instead of minutes of single writes.
 * History rows are not cloned: export reads current versions only.
 */
async function load(db: Database): Promise<void> {
  const repo = new Repository(db, {});
  await repo.update({ resourceType: 'Patient', id: 'tp', gender: 'female', birthDate: '1948-03-02' } as Resource);
  await repo.update({ resourceType: 'Observation', id: 'to', status: 'final', code: { text: 'fall risk' }, subject: { reference: 'Patient/tp' } } as Resource);
  await repo.update({ resourceType: 'Coverage', id: 'tc', status: 'active', beneficiary: { reference: 'Patient/tp' }, payor: [{ reference: 'Organization/mco-bluecare' }] } as Resource);
  const tables = ['idx_token', 'idx_string', 'idx_date', 'idx_reference', 'idx_number', 'idx_uri'];
  const clone = async (type: string, tid: string, prefix: string, every: number, refPath?: string): Promise<void> => {
    const series = `generate_series(0, ${PATIENTS - 1}, ${every}) i`;
    const content = refPath ? `jsonb_set(jsonb_set(t.content, '{id}', to_jsonb('${prefix}' || i)), '${refPath}', to_jsonb('Patient/vp' || i))` : `jsonb_set(t.content, '{id}', to_jsonb('${prefix}' || i))`;
    await db.query(
      `INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
       SELECT t.resource_type, '${prefix}' || i, 1, t.last_updated, false, ${content}
       FROM resource t, ${series} WHERE t.resource_type = '${type}' AND t.id = '${tid}'`,
    );
    for (const table of tables) {
      const cols = (await db.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${table}' AND table_schema = current_schema() ORDER BY ordinal_position`)).rows.map((r) => r.c);
      const select = cols.map((c) => (c === 'id' ? `'${prefix}' || i` : c === 'target_id' ? `CASE WHEN x.target_id = 'tp' THEN 'vp' || i ELSE x.target_id END` : `x.${c}`));
      await db.query(`INSERT INTO ${table} (${cols.join(', ')}) SELECT ${select.join(', ')} FROM ${table} x, ${series} WHERE x.resource_type = '${type}' AND x.id = '${tid}'`);
    }
    await repo.delete(type, tid);
  };
  await clone('Observation', 'to', 'vo', 1, '{subject,reference}');
  await clone('Coverage', 'tc', 'vc', 4, '{beneficiary,reference}');
  await clone('Patient', 'tp', 'vp', 1);
  // As autovacuum would after a load this size: the planner needs statistics to pick hash joins.
  await db.query('ANALYZE');
}

beforeAll(async () => {
  fx = await startBulkGateway('postgres', { BULK_MAX_FILE_BYTES: String(256 * 1024), BULK_PAGE_SIZE: '1000' });
  await load(fx.gw.gateway.db);
}, 60000);

afterAll(async () => {
  await fx?.close();
});

it('exports 10,000 patients and their observations with the right counts, split by size', async () => {
  const admin = await fx.token('sma-admin', 'system/*.cruds');
  const m = await runExport(`${fx.gw.fhir}/Patient/$export?_type=Patient,Observation,Coverage`, admin);
  const count = (type: string) => m.output.filter((o) => o.type === type).reduce((n, o) => n + o.count, 0);
  expect(count('Patient')).toBe(PATIENTS);
  expect(count('Observation')).toBe(PATIENTS);
  expect(count('Coverage')).toBe(PATIENTS / 4);
  expect(m.output.filter((o) => o.type === 'Observation').length).toBeGreaterThan(1);
  // Each file holds what the manifest says, and every id once.
  const seen = new Set<string>();
  for (const f of m.output.filter((o) => o.type === 'Observation')) {
    const lines = await download(f.url, admin);
    expect(lines).toHaveLength(f.count);
    for (const r of lines) {
      expect(r.resourceType).toBe('Observation');
      seen.add(r.id);
    }
  }
  expect(seen.size).toBe(PATIENTS);
}, 60000);

it('an MCO gets its members only', async () => {
  const bluecare = await fx.token('bluecare-care-mgmt', 'system/Patient.rs system/Observation.rs');
  const m = await runExport(`${fx.gw.fhir}/$export`, bluecare);
  const count = (type: string) => m.output.filter((o) => o.type === type).reduce((n, o) => n + o.count, 0);
  expect(count('Patient')).toBe(PATIENTS / 4);
  expect(count('Observation')).toBe(PATIENTS / 4);
}, 60000);
