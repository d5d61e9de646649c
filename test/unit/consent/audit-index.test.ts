// auditIndexRows must index an AuditEvent exactly as FHIRPath extraction of the whole event does
// (the accounting-of-disclosures and recipient searches rely on it), while extracting only once per
// distinct skeleton.
import type { Resource } from '@medplum/fhirtypes';
import { auditEventFor, auditIndexRows, packDisclosed, unpackDisclosed, type DisclosureRecord } from '../../../src/consent/audit.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { extractIndexRows, type IndexRows } from '../../../src/fhir/store/index-extraction.js';

beforeAll(() => loadDefinitions());

const sorted = (rows: IndexRows): Record<string, string[]> =>
  Object.fromEntries(Object.entries(rows).map(([k, list]) => [k, [...new Set((list as object[]).map((r) => JSON.stringify(r)))].sort()]));

const record = (over: Partial<DisclosureRecord>): DisclosureRecord => ({
  recipient: { organizationId: 'mco-bluecare', organizationType: 'MCO', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' },
  channel: 'search',
  disclosed: ['Observation/o1/_history/2'],
  withheld: 1,
  patientIds: ['p1'],
  basedOn: ['https://lead-gateway.example.org/fhir/policy/default-disclosure'],
  rules: ['tpo', 'part2-no-consent'],
  ...over,
});

const cases: [string, DisclosureRecord][] = [
  ['one person, search', record({})],
  ['many people, bulk export, a consent policy', record({ channel: 'bulk-export', patientIds: ['p1', 'p2', 'p3'], basedOn: ['Consent/c1', 'x'], disclosed: ['Patient/p1', 'Patient/p2/_history/1'] })],
  ['nothing disclosed, nobody', record({ patientIds: [], disclosed: [], withheld: 3, rules: ['no-relationship'] })],
  ['the SMA, another purpose, no client', record({ recipient: { organizationId: 'sma-state', organizationType: 'SMA', purposeOfUse: 'HOPERAT' } })],
];

describe('auditIndexRows equals full FHIRPath extraction', () => {
  for (const [name, rec] of cases) {
    it(name, () => {
      for (const recorded of ['2027-03-04T05:06:07.089Z', '2027-12-31T23:59:59.999Z']) {
        const ev = { ...auditEventFor(rec, new Date(recorded)), id: 'a1', meta: { versionId: '1', lastUpdated: recorded } } as Resource;
        expect(sorted(auditIndexRows(ev))).toEqual(sorted(extractIndexRows(ev)));
      }
    });
  }
});

describe('the audit journal packs a disclosed list and gives it back unchanged', () => {
  it.each([
    ['a search page', ['Observation/a-1/_history/1', 'Observation/b.2/_history/12', 'Condition/c/_history/3']],
    ['types interleaved, unversioned references', ['Patient/p1', 'Observation/o1/_history/2', 'Patient/p2/_history/1', 'Patient/p3']],
    ['nothing', []],
  ])('%s', (_name, refs) => {
    const packed = packDisclosed(refs);
    expect(unpackDisclosed(packed)).toEqual(refs);
    if (refs.length) expect(packed.length).toBeLessThan(JSON.stringify(refs).length);
  });

  it('writes each type once per run of it', () => {
    expect(packDisclosed(['Observation/a/_history/1', 'Observation/b/_history/2', 'Patient/p', 'Observation/c/_history/1'])).toBe('Observation/ a/1 b/2 Patient/ p Observation/ c/1');
  });
});
