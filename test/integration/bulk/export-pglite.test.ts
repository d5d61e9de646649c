// The embedded store's export path (keyset pages over bulk_export_item, not a cursor): same
// answers as on PostgreSQL for a small SMA export, `_typeFilter` and `_since`.
import type { Resource } from '@medplum/fhirtypes';
import { downloadAll, runExport, startBulkGateway, type BulkFixture } from './helpers.js';

let fx: BulkFixture;
let admin: string;
const ids = (rs: any[] | undefined) => (rs ?? []).map((r) => r.id).sort();

beforeAll(async () => {
  fx = await startBulkGateway('pglite', { BULK_PAGE_SIZE: '2' });
  const put = (r: Resource) => fx.gw.gateway.repo.update(r);
  for (const p of ['k1', 'k2', 'k3']) await put({ resourceType: 'Patient', id: p, gender: 'male' } as Resource);
  for (const [o, p, code] of [['ko1', 'k1', 'a'], ['ko2', 'k1', 'b'], ['ko3', 'k2', 'a'], ['ko4', 'k3', 'a'], ['ko5', 'k3', 'b']]) {
    await put({ resourceType: 'Observation', id: o, status: 'final', code: { coding: [{ system: 'urn:x', code }] }, subject: { reference: `Patient/${p}` } } as Resource);
  }
  admin = await fx.token('sma-admin', 'system/*.cruds');
}, 60000);

afterAll(async () => {
  await fx?.close();
});

it('exports every page of every type (page size 2)', async () => {
  const all = await downloadAll(await runExport(`${fx.gw.fhir}/$export?_type=Patient,Observation`, admin), admin);
  expect(ids(all.Patient)).toEqual(['k1', 'k2', 'k3']);
  expect(ids(all.Observation)).toEqual(['ko1', 'ko2', 'ko3', 'ko4', 'ko5']);
});

it('applies _typeFilter and _since', async () => {
  const q = encodeURIComponent('Observation?code=urn:x|b');
  const first = await runExport(`${fx.gw.fhir}/$export?_type=Observation&_typeFilter=${q}`, admin);
  expect(ids((await downloadAll(first, admin)).Observation)).toEqual(['ko2', 'ko5']);
  await new Promise((r) => setTimeout(r, 20));
  await fx.gw.gateway.repo.update({ resourceType: 'Observation', id: 'ko3', status: 'amended', code: { coding: [{ system: 'urn:x', code: 'a' }] }, subject: { reference: 'Patient/k2' } } as Resource);
  const next = await runExport(`${fx.gw.fhir}/$export?_type=Observation&_since=${encodeURIComponent(first.transactionTime)}`, admin);
  expect(ids((await downloadAll(next, admin)).Observation)).toEqual(['ko3']);
});
