// A disclosure is one audit_event row (auditEventRow) and is read as the AuditEvent auditEventFor
// makes of it (auditEventText): the same AuditEvent, every time. Its disclosed list is packed.
import { auditEventFor, auditEventRow, auditEventText, packDisclosed, unpackDisclosed, type DisclosureRecord } from '../../../src/consent/audit.js';

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

describe('an audit_event row renders as the AuditEvent of its disclosure', () => {
  for (const [name, rec] of cases) {
    it(name, () => {
      for (const recorded of ['2027-03-04T05:06:07.089Z', '2027-12-31T23:59:59.999Z']) {
        const expected = { ...auditEventFor(rec, new Date(recorded)), id: 'a1', meta: { versionId: '1', lastUpdated: recorded } };
        const row = auditEventRow(rec, 'a1', new Date(recorded));
        // As the database gives it back: a Date, arrays, no `resource`.
        const text = auditEventText({ ...row, recorded: new Date(recorded) });
        expect(JSON.parse(text)).toEqual(expected);
        expect(auditEventText(row)).toBe(text); // the same text every time
      }
    });
  }

  it('keeps the lists the accounting searches by, sorted and once each', () => {
    const row = auditEventRow(record({ rules: ['tpo', 'b', 'tpo'], basedOn: ['x', 'Consent/c1', 'x'], patientIds: ['p2', 'p1'] }), 'a1', new Date(0));
    expect(row).toMatchObject({ rules: ['b', 'tpo'], policies: ['Consent/c1', 'x'], people: ['p2', 'p1'], recipient: 'mco-bluecare', client: 'bluecare-care-mgmt', channel: 'search' });
  });

  it('serves an AuditEvent stored whole (before migration 13) as it was stored', () => {
    const stored = '{"resourceType":"AuditEvent","id":"old","recorded":"2026-01-01T00:00:00Z"}';
    expect(auditEventText({ ...auditEventRow(record({}), 'old', new Date(0)), resource: stored })).toBe(stored);
  });
});

describe('the audit trail packs a disclosed list and gives it back unchanged', () => {
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
