// The stored-text scan (stored-resource.ts) must give exactly what the object path gives: the
// same people as patientsOf(), and after cutting, the same JSON value as applyObligations() on
// the parsed resource, for PostgreSQL's jsonb text (", " and ": ", keys by length, then bytes).
// Whatever it cannot read exactly — any other layout included — it must refuse (undefined).
import type { Resource } from '@medplum/fhirtypes';
import { makeObservation, makePatient } from '../../../bench/fhir-data.js';
import { applyObligations } from '../../../src/consent/obligations.js';
import { patientsOf } from '../../../src/consent/patients-of.js';
import { cutStored, encodeFacts, scanStored, storedFacts } from '../../../src/consent/stored-resource.js';
import { jsonbText } from '../../../src/fhir/store/jsonb-text.js';

const PLAIN = { dropNarrative: true, scrubReferenceDisplay: true, addLabels: [] };

/** PostgreSQL's jsonb output (keys by length then bytes, ", " and ": "): the store's printer, checked against PostgreSQL in test/integration/fhir/jsonb-text.test.ts. */
const pgText = (v: unknown): string => jsonbText(v) as string;

const TAGGED = { versionId: '3', lastUpdated: '2027-01-01T00:00:00Z', security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] };

const cases: [string, Resource][] = [
  ['bench Patient (generalPractitioner display)', { ...makePatient(7), meta: TAGGED } as Resource],
  ['bench Observation (performer display, Coding displays kept)', { ...makeObservation(8), meta: TAGGED } as Resource],
  [
    'narrative first, display first in its Reference, identifier-only reference, Coding with system kept',
    {
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Acme Methadone Clinic</div>' },
      resourceType: 'Encounter',
      id: 'e1',
      meta: TAGGED,
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      subject: { display: 'Jane Doe', reference: 'Patient/p1' },
      serviceProvider: { identifier: { system: 'urn:x', value: '1' }, display: 'Acme Methadone Clinic' },
      participant: [{ individual: { reference: 'Practitioner/x', display: 'Dr A' } }, { individual: { display: 'only a display' } }],
    } as Resource,
  ],
  [
    'references to several people, absolute and versioned; Patient refs in meta and narrative ignored',
    {
      resourceType: 'Provenance',
      id: 'pv1',
      meta: { ...TAGGED, extension: [{ url: 'urn:x', valueReference: { reference: 'Patient/in-meta', display: 'kept in meta' } }] },
      target: [{ reference: 'https://other.example/fhir/Patient/p2/_history/4' }, { reference: 'Observation/o1' }],
      recorded: '2027-01-01T00:00:00Z',
      agent: [{ who: { reference: 'Patient/p3', display: 'Self' } }],
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Patient/p9</div>' },
    } as Resource,
  ],
  ['nothing to cut', { resourceType: 'Observation', id: 'o2', meta: TAGGED, status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } } as Resource],
  ['unicode and escapes in values', { resourceType: 'Observation', id: 'o3', meta: TAGGED, status: 'final', code: { text: 'a "quoted" \\ Ünïcode ✓\n' }, subject: { reference: 'Patient/p1', display: 'Zoë "Q" \\' } } as Resource],
  [
    '"Patient/" in strings that are not references (note, identifier, display) names no one',
    {
      resourceType: 'Observation',
      id: 'o4',
      meta: TAGGED,
      status: 'final',
      code: { text: 'Patient/p7 said so' },
      identifier: [{ system: 'urn:x', value: 'Patient/p8' }],
      note: [{ text: 'see Patient/p9' }],
      subject: { reference: 'Patient/p1', display: 'Patient/p10' },
      performer: [{ reference: 'Practitioner/Patient/x' }],
    } as Resource,
  ],
  ['a Patient is about itself only', { resourceType: 'Patient', id: 'p5', meta: TAGGED, link: [{ other: { reference: 'Patient/p6', display: 'x' }, type: 'seealso' }] } as Resource],
];

describe('scanStored + cutStored equal patientsOf + applyObligations (jsonb text)', () => {
  for (const [name, resource] of cases) {
    it(name, () => {
      const text = pgText(resource);
      const facts = scanStored(text, resource.resourceType);
      expect(facts).toBeDefined();
      expect(facts!.resourceType).toBe(resource.resourceType);
      expect(facts!.id).toBe(resource.id);
      expect(facts!.meta).toEqual(resource.meta);
      expect([...facts!.patientIds].sort()).toEqual(patientsOf(resource).sort());
      const cut = cutStored(text, facts!, PLAIN);
      expect(JSON.parse(cut)).toEqual(applyObligations(JSON.parse(text) as Resource, PLAIN));
      expect(JSON.parse(cutStored(text, facts!, { dropNarrative: false, scrubReferenceDisplay: false }))).toEqual(JSON.parse(text));
    });
    it(`${name}: refuses any other layout (compact, pretty)`, () => {
      expect(scanStored(JSON.stringify(resource), resource.resourceType)).toBeUndefined();
      expect(scanStored(JSON.stringify(resource, null, 2), resource.resourceType)).toBeUndefined();
    });
  }
});

describe('meta: parsed whole, labels shared between versions', () => {
  const meta = (versionId: string, lastUpdated: string, extra: object = {}) => ({ ...TAGGED, versionId, lastUpdated, ...extra });
  const scanMeta = (m: object) => scanStored(pgText({ resourceType: 'Observation', id: 'o1', meta: m, status: 'final' }), 'Observation')!;

  it('two rows that differ only in versionId and lastUpdated share one frozen label meta', () => {
    const a = scanMeta(meta('1', '2027-01-01T00:00:00Z'));
    const b = scanMeta(meta('2', '2027-02-01T00:00:00.123+00:00'));
    expect(a.meta).toEqual(meta('1', '2027-01-01T00:00:00Z'));
    expect(b.meta).toEqual(meta('2', '2027-02-01T00:00:00.123+00:00'));
    expect(a.labelMeta).toBe(b.labelMeta);
    expect(a.labelMeta).toEqual({ security: TAGGED.security });
    expect(Object.isFrozen(a.labelMeta!.security![0])).toBe(true);
  });

  it('other labels, or a meta without versionId, do not share it', () => {
    const r = scanMeta({ ...meta('1', '2027-01-01T00:00:00Z'), security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] });
    expect(r.labelMeta).not.toBe(scanMeta(meta('1', '2027-01-01T00:00:00Z')).labelMeta);
    const bare = scanMeta({ security: TAGGED.security, source: 'x' });
    expect(bare.meta).toEqual({ security: TAGGED.security, source: 'x' });
    expect(bare.labelMeta).toBeUndefined();
  });

  it('versionId nested in an extension (valueMeta) is not taken for the root one', () => {
    const m = { extension: [{ url: 'http://example.org/x', valueMeta: { versionId: '9', lastUpdated: '2020-01-01T00:00:00Z' } }], ...meta('1', '2027-01-01T00:00:00Z') };
    const r = scanMeta(m);
    expect(r.meta).toEqual(m);
    expect(r.labelMeta).toBeUndefined();
  });

  it('a tail it does not expect (an escape, another member) is parsed the ordinary way', () => {
    const m = meta('1', '2027-01-01T00:00:00Z', { versionIdX: 'y' });
    expect(scanMeta(m).meta).toEqual(m);
  });

  // A head seen just before is matched in place (knownMeta): the tail must still be read exactly.
  it('after a row with the same labels: escapes, a missing versionId and a longer meta are read exactly', () => {
    const seen = scanMeta(meta('1', '2027-01-01T00:00:00Z'));
    const tails: object[] = [
      meta('a"b', '2027-01-01T00:00:00Z'),
      meta('x\\', '2027-01-01T00:00:00Z'),
      meta('2', 'z\\"}'),
      { security: TAGGED.security, lastUpdated: '2027-03-01T00:00:00Z' },
      { security: TAGGED.security, versionId: '7' },
      meta('3', '2027-01-01T00:00:00Z', { extension: [{ url: 'urn:x', valueString: 'y' }] }),
    ];
    for (const m of tails) {
      expect(scanMeta(m).meta).toEqual(m);
      expect(scanMeta(meta('1', '2027-01-01T00:00:00Z')).labelMeta).toBe(seen.labelMeta);
    }
  });

  it('a head that is a prefix of another meta does not cut it short', () => {
    scanMeta(meta('1', '2027-01-01T00:00:00Z')); // head: security only
    const longer = meta('2', '2027-01-01T00:00:00Z', { source: 'urn:src' });
    expect(scanMeta(longer).meta).toEqual(longer);
    const r = scanStored(`{"id": "o1", "meta": ${pgText(meta('3', '2027-01-01T00:00:00Z'))}, "status": "final", "subject": {"display": "x", "reference": "Patient/p1"}}`, 'Observation')!;
    expect(r.meta).toEqual(meta('3', '2027-01-01T00:00:00Z'));
    expect(r.patientIds).toEqual(['p1']);
    expect(r.displays).toHaveLength(1);
  });
});

describe('refuses what it cannot read exactly (the caller parses instead)', () => {
  const refused: [string, string][] = [
    ['a \\u escape (could spell a key)', '{"id": "o1", "subject": {"displa\\u0079": "Jane", "reference": "Patient/p1"}}'],
    ['a duplicate display', '{"id": "o1", "subject": {"display": "a", "display": "b", "reference": "Patient/p1"}}'],
    ['a duplicate narrative', '{"id": "o1", "text": {"div": "a"}, "text": {"div": "b"}}'],
    ['a duplicate meta', '{"id": "o1", "meta": {"versionId": "1"}, "meta": {"versionId": "2"}}'],
    ['contained resources', '{"id": "o1", "contained": [{"id": "x", "text": {"div": "n"}, "resourceType": "Patient"}]}'],
    ['a display nested in a display', '{"id": "o1", "subject": {"display": {"display": "x", "reference": "Patient/p2"}, "reference": "Patient/p1"}}'],
    ['members out of jsonb order after a display', '{"id": "o1", "subject": {"display": "Jane", "id": "x", "reference": "Patient/p1"}}'],
    ['an identifier-only reference whose display is not first (system unseen)', '{"id": "o1", "performer": [{"type": "Organization", "display": "Acme", "identifier": {"value": "1"}}]}'],
    ['no id first', '{"subject": {"reference": "Patient/p1"}, "resourceType": "Observation"}'],
    ['an unterminated meta', '{"id": "o1", "meta": {"versionId": "1"'],
    ['an escaped quote before "Patient/" in a string', '{"id": "o1", "subject": {"reference": "x\\"Patient/p1"}}'],
  ];
  for (const [name, text] of refused) it(name, () => expect(scanStored(text, 'Observation')).toBeUndefined());
  it('a Group (inactive members)', () => expect(scanStored('{"id": "g1", "member": [{"entity": {"reference": "Patient/p1"}, "inactive": true}]}', 'Group')).toBeUndefined());
});

// Facts found when a version is written (encodeFacts, kept by the store) must be what a scan of
// the same text finds; read back against any other text, they must be refused, never misapplied.
describe('facts kept with the version (encodeFacts / storedFacts)', () => {
  for (const [name, resource] of cases) {
    it(`${name}: read back equal to a scan`, () => {
      const text = pgText(resource);
      const scanned = scanStored(text, resource.resourceType)!;
      const encoded = encodeFacts(scanned, text)!;
      expect(encoded).toBeDefined();
      const kept = storedFacts(encoded, text, resource.resourceType);
      expect(kept).toEqual(scanned);
      expect(cutStored(text, kept!, PLAIN)).toBe(cutStored(text, scanned, PLAIN));
    });
  }

  const text = pgText(cases[2][1]); // narrative, displays first and later, people, meta
  const facts = scanStored(text, 'Encounter')!;
  const encoded = encodeFacts(facts, text)!;
  const shift = (f: typeof facts, by: number): typeof facts => ({
    ...f,
    metaAt: f.metaAt && [f.metaAt[0] + by, f.metaAt[1] + by],
    narrative: f.narrative && [f.narrative[0] + by, f.narrative[1] + by],
    displays: f.displays.map(([a, b]) => [a + by, b + by] as [number, number]),
  });

  it('refuses facts of another text: other length, or the same length with members elsewhere', () => {
    expect(storedFacts(encoded, `${text} `, 'Encounter')).toBeUndefined();
    // The same length, the narrative's status one character shorter and the id one longer:
    // every range after the id moves by one.
    const moved = text.replace('"id": "e1"', '"id": "e1x"').replace('"generated"', '"generate"');
    expect(moved.length).toBe(text.length);
    expect(storedFacts(encoded, moved, 'Encounter')).toBeUndefined();
  });

  it('refuses ranges that do not sit on their members', () => {
    for (const by of [-2, -1, 1, 2]) expect(storedFacts(encodeFacts(shift(facts, by), text)!, text, 'Encounter')).toBeUndefined();
    const onlyDisplays = { ...facts, displays: facts.displays.map(([a, b]) => [a, b + 1] as [number, number]) };
    expect(storedFacts(encodeFacts(onlyDisplays, text)!, text, 'Encounter')).toBeUndefined();
    const onlyNarrative = { ...facts, narrative: [facts.narrative![0] + 1, facts.narrative![1]] as [number, number] };
    expect(storedFacts(encodeFacts(onlyNarrative, text)!, text, 'Encounter')).toBeUndefined();
  });

  it('refuses another encoding, and encodes no person whose id would not survive it', () => {
    expect(storedFacts(encoded.replace(/^1\|/, '2|'), text, 'Encounter')).toBeUndefined();
    expect(storedFacts(`${encoded}|x`, text, 'Encounter')).toBeUndefined();
    for (const bad of ['', 'x', '1|5', encoded.replace(/\|/g, ','), `1|${text.length}|-1 -1|-1 -1|1 2 3|`, `1|${text.length}|--1 -1|-1 -1||`, `1|${text.length}|-1 1x|-1 -1||`, `1|${text.length}|-1  -1|-1 -1||`])
      expect(storedFacts(bad, text, 'Encounter')).toBeUndefined();
    // No meta, narrative or display recorded, no one: valid, and nothing cut.
    expect(storedFacts(`1|${text.length}|-1 -1|-1 -1||`, text, 'Encounter')).toMatchObject({ id: 'e1', displays: [], patientIds: [] });
    expect(encodeFacts({ ...facts, patientIds: ['a b'] }, text)).toBeUndefined();
    expect(encodeFacts({ ...facts, patientIds: ['a|b'] }, text)).toBeUndefined();
  });
});
