// The accounting's searches over audit_event rows (auditEventStore) must answer as the FHIR search
// engine answers over the same AuditEvents stored and indexed as ordinary resources: the rows are
// written by the AuditTrail into one database, rendered, and written as resources into another
// through a plain Repository; then every query of the table runs against both and must return the
// same AuditEvents (same order where sorted, same totals, same includes). Bulk export reads them
// too (exportPage: the job's people, _since, transaction time, _typeFilter).
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import { AuditTrail, type DisclosureRecord } from '../../../src/consent/audit.js';
import { auditEventStore } from '../../../src/consent/audit-events.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { parseSearchRequest } from '../../../src/fhir/search/search-request.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../../helpers/database.js';

const CHANNEL = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-channel';
const RULE = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-rule';
const POLICY = 'https://lead-gateway.example.org/fhir/policy/default';

const bluecare = { organizationId: 'mco-bluecare', organizationType: 'MCO', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' } as const;
const greenway = { organizationId: 'mco-greenway', organizationType: 'MCO', purposeOfUse: 'HPAYMT', clientId: 'greenway-care-mgmt' } as const;
const sma = { organizationId: 'sma-state', organizationType: 'SMA', purposeOfUse: 'HOPERAT' } as const;

/** Disclosures at known times: [recorded, record]. */
const DISCLOSURES: [string, DisclosureRecord][] = [
  ['2027-01-01T09:00:00.000Z', { recipient: bluecare, channel: 'search', disclosed: ['Observation/o1/_history/1'], withheld: 0, patientIds: ['p1'], basedOn: [POLICY], rules: ['tpo'] }],
  ['2027-01-02T08:00:00.000Z', { recipient: bluecare, channel: 'read', disclosed: ['Condition/c1/_history/2'], withheld: 1, patientIds: ['p2'], basedOn: [POLICY, 'Consent/k1'], rules: ['part2-consent', 'tpo'] }],
  ['2027-01-02T12:30:00.000Z', { recipient: greenway, channel: 'search', disclosed: [], withheld: 3, patientIds: [], basedOn: [], rules: ['no-relationship'] }],
  ['2027-01-02T18:00:00.000Z', { recipient: sma, channel: 'bulk-export', disclosed: ['Patient/p1/_history/1', 'Patient/p3/_history/1'], withheld: 0, patientIds: ['p1', 'p3'], basedOn: [POLICY], rules: ['sma'], series: 'bulk-export/j1' }],
  ['2027-01-03T00:00:00.000Z', { recipient: sma, channel: 'bulk-export', disclosed: ['Observation/o9/_history/1'], withheld: 0, patientIds: [], basedOn: [POLICY], rules: ['sma'], series: 'bulk-export/j1' }],
  ['2027-01-04T10:00:00.000Z', { recipient: greenway, channel: 'exchange', disclosed: ['Observation/o2/_history/1'], withheld: 0, patientIds: ['p3'], basedOn: [POLICY], rules: ['tpo'], series: 'bulk-export/j22' }],
];

const QUERIES: string[] = [
  '',
  'patient=Patient/p1',
  'patient=p1',
  'patient=Patient/p1,Patient/p3',
  'entity=Patient/p2',
  'patient:missing=true',
  'patient:missing=false',
  'patient=Organization/mco-bluecare',
  'agent=Organization/mco-bluecare',
  'agent=mco-greenway',
  'agent=Organization/mco-greenway,Organization/sma-state',
  'altid=bluecare-care-mgmt',
  'altid=|greenway-care-mgmt',
  'altid:not=bluecare-care-mgmt',
  'altid:missing=true',
  'subtype=search',
  `subtype=${CHANNEL}|bulk-export`,
  `subtype=${RULE}|tpo`,
  `subtype=${RULE}|`,
  'subtype=tpo,read',
  'subtype:not=tpo',
  'subtype=|tpo',
  `policy=${POLICY}`,
  'policy=Consent/k1',
  'policy:below=https://lead-gateway.example.org/fhir/',
  'policy:missing=true',
  'entity-name=bulk-export',
  'entity-name=BULK-EXPORT/J2',
  'entity-name:exact=bulk-export/j1',
  'entity-name:contains=j2',
  'entity-name:missing=true',
  'date=ge2027-01-02',
  'date=lt2027-01-02T12:00:00Z',
  'date=2027-01-02',
  'date=gt2027-01-02&date=le2027-01-03',
  '_lastUpdated=gt2027-01-02T12:30:00Z',
  'type=rest',
  'type=http://terminology.hl7.org/CodeSystem/audit-event-type|rest',
  'type=http://example.org/other|rest',
  'type:not=rest',
  'action=R',
  'action=C',
  'outcome=0',
  'outcome=8',
  'patient=Patient/p1&agent=Organization/sma-state&date=ge2027-01-02',
  '_sort=-date',
  '_sort=date&_count=2&_offset=1',
  'agent=Organization/mco-bluecare,Organization/mco-greenway&_sort=-_lastUpdated&_count=2',
];

const pairs = (q: string): [string, string][] => [...new URLSearchParams(q)];
const search = (repo: Repository, type: string, q: string) =>
  repo.search(parseSearchRequest(type, [...pairs(q), ['_total', 'accurate']], { strict: true, defaultCount: 50, maxCount: 1000 }));

describe.each(STORE_KINDS)('AuditEvents from audit_event rows (%s)', (kind) => {
  let rows: TestDatabase;
  let indexed: TestDatabase;
  let fromRows: Repository;
  let fromIndex: Repository;
  const ids: string[] = [];

  beforeAll(async () => {
    loadDefinitions();
    [rows, indexed] = await Promise.all([openTestDatabase(kind), openTestDatabase(kind)]);
    let now = new Date(0);
    const trail = new AuditTrail(rows.db, () => now);
    for (const [recorded, rec] of DISCLOSURES) {
      now = new Date(recorded);
      await trail.record(rec);
    }
    fromRows = new Repository(rows.db, { typeStores: [auditEventStore] });
    let stamp = new Date(0);
    const plain = new Repository(indexed.db, { now: () => stamp });
    const all = await search(fromRows, 'AuditEvent', '_sort=date');
    for (const m of all.matches) {
      const ev = JSON.parse(m.content) as AuditEvent;
      stamp = new Date(ev.recorded);
      await plain.update(ev); // the same id; meta.lastUpdated = recorded, as the rows say
      ids.push(m.id);
    }
    // What _include / _revinclude reach, in both.
    for (const db of [rows.db, indexed.db]) {
      const repo = new Repository(db);
      for (const id of ['p1', 'p2', 'p3']) await repo.update({ resourceType: 'Patient', id } as Resource);
      for (const id of ['mco-bluecare', 'mco-greenway', 'sma-state']) await repo.update({ resourceType: 'Organization', id } as Resource);
    }
    fromIndex = new Repository(indexed.db);
  });
  afterAll(async () => {
    await rows?.drop();
    await indexed?.drop();
  });

  it('renders each row as the AuditEvent that, stored as a resource, reads back the same', async () => {
    expect(ids).toHaveLength(DISCLOSURES.length);
    for (const id of ids) expect(await fromRows.read('AuditEvent', id)).toEqual(await fromIndex.read('AuditEvent', id));
  });

  it.each(QUERIES)('AuditEvent?%s answers as the search engine over indexed AuditEvents', async (q) => {
    const [a, b] = [await search(fromRows, 'AuditEvent', q), await search(fromIndex, 'AuditEvent', q)];
    const order = (r: typeof a): string[] => (q.includes('_sort') ? r.matches.map((m) => m.id) : r.matches.map((m) => m.id).sort());
    expect(order(a)).toEqual(order(b));
    expect([a.total, a.hasNext]).toEqual([b.total, b.hasNext]);
    expect(a.matches.map((m) => JSON.parse(m.content))).toEqual(b.matches.map((m) => JSON.parse(m.content)));
  });

  it.each([
    ['AuditEvent', 'patient=Patient/p1&_include=AuditEvent:patient'],
    ['AuditEvent', 'agent=Organization/sma-state&_include=AuditEvent:agent&_include=AuditEvent:entity'],
    ['AuditEvent', '_include=AuditEvent:agent:Organization'],
    ['Patient', '_id=p1,p2&_revinclude=AuditEvent:patient'],
    ['Patient', '_revinclude=AuditEvent:entity'],
    ['Organization', '_id=mco-greenway&_revinclude=AuditEvent:agent'],
  ])('%s?%s includes the same resources', async (type, q) => {
    const keys = (r: Awaited<ReturnType<Repository['search']>>): string[] => r.included.map((i) => `${i.resourceType}/${i.id}`).sort();
    const [a, b] = [await search(fromRows, type, q), await search(fromIndex, type, q)];
    expect(keys(a)).toEqual(keys(b));
    expect(keys(a).length).toBeGreaterThan(0);
  });

  it.each([
    ['site=x', 'AuditEvent cannot be searched by site'],
    ['agent-name=LEAD', 'AuditEvent cannot be searched by agent-name'],
    ['patient.name=x', 'Chained search is not supported on AuditEvent'],
    ['_sort=subtype', 'AuditEvent cannot be sorted by subtype'],
  ])('refuses what it does not answer (%s): 400 not-supported', async (q, message) => {
    await expect(search(fromRows, 'AuditEvent', q)).rejects.toMatchObject({ status: 400, outcome: { issue: [{ code: 'not-supported', diagnostics: expect.stringContaining(message) }] } });
  });

  it('exports the AuditEvents about the job\'s people, recorded after _since and not after the transaction time, in id pages', async () => {
    const jobId = `job-${kind}`;
    await rows.db.query("INSERT INTO bulk_export_patient (job_id, patient_id) VALUES ($1, 'p1'), ($1, 'p3')", [jobId]);
    const page = (over: Partial<Parameters<typeof auditEventStore.exportPage>[1]>) =>
      auditEventStore.exportPage(rows.db, { jobId, transactionTime: '2027-12-31T00:00:00Z', typeFilters: [], baseUrl: '', afterId: '', limit: 100, ...over });
    const about = async (q: string): Promise<string[]> => (await search(fromRows, 'AuditEvent', q)).matches.map((m) => m.id).sort();
    const all = await page({});
    expect(all.map((r) => r.id)).toEqual(await about('patient=p1,p3'));
    expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort()); // id order: keyset pages
    expect((await page({ since: '2027-01-02T00:00:00Z' })).map((r) => r.id)).toEqual(await about('patient=p1,p3&date=gt2027-01-02T00:00:00Z'));
    expect((await page({ transactionTime: '2027-01-02T00:00:00Z' })).map((r) => r.id)).toEqual(await about('patient=p1,p3&date=le2027-01-02T00:00:00Z'));
    // _typeFilter: criteria OR-ed, each one's parameters AND-ed.
    const criteria = (q: string) => parseSearchRequest('AuditEvent', pairs(q), { strict: true, defaultCount: 50, maxCount: 1000 });
    const filtered = await page({ typeFilters: [criteria('agent=Organization/nobody&subtype=exchange'), criteria('subtype=exchange')] });
    expect(filtered.map((r) => r.id)).toEqual(await about('patient=p1,p3&subtype=exchange'));
    expect(filtered).toHaveLength(1);
    const first = await page({ limit: 1 });
    const second = await page({ limit: 1, afterId: first[0].id });
    expect([...first, ...second].map((r) => r.id)).toEqual(all.slice(0, 2).map((r) => r.id));
    expect(JSON.parse(first[0].content)).toEqual(await fromRows.read('AuditEvent', first[0].id));
  });
});
