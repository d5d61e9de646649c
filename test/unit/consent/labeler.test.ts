// The security labeling service with real codes (consent-security.md §3 "Tests for the labeler"),
// through the real store (PGlite) for propagation and stickiness.
import type { Coding, Resource } from '@medplum/fhirtypes';
import { Labeler, labelsOf } from '../../../src/consent/labeler.js';
import { loadValueSets } from '../../../src/consent/value-sets.js';
import { ACT_CODE, CONFIDENTIALITY } from '../../../src/consent/vocabulary.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { FhirError } from '../../../src/fhir/outcomes.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/database.js';

const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';
const labeler = new Labeler({ valueSets: loadValueSets(), part2Organizations: new Set(['aco-riverside']) });
const condition = (system: string, code: string): Resource =>
  ({ resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: { coding: [{ system, code }] } }) as Resource;
const codes = (r: Resource): string[] => [...labeler.codeLabels(r)].sort();

describe('labels from codes', () => {
  it.each([
    ['F11.20 opioid dependence', ICD, 'F11.20', ['42CFRPart2', 'OPIOIDUD', 'SUD']],
    ['F11.20 with a trailing space', ICD, 'F11.20 ', ['42CFRPart2', 'OPIOIDUD', 'SUD']],
    ['F1120 without the dot', ICD, 'F1120', ['42CFRPart2', 'OPIOIDUD', 'SUD']],
    ['F10.20 alcohol dependence (OID system)', 'urn:oid:2.16.840.1.113883.6.90', 'F10.20', ['42CFRPart2', 'ETHUD', 'SUD']],
    ['B20 HIV disease', ICD, 'B20', ['HIV']],
    ['F32.9 depression', ICD, 'F32.9', ['MH']],
    ['F20.9 schizophrenia', ICD, 'F20.9', ['MH', 'PSY']],
    ['Z33.2 elective termination', ICD, 'Z33.2', ['SEX']],
    ['A54.00 gonorrhoea', ICD, 'A54.00', ['STD']],
    ['T74.11XA adult physical abuse', ICD, 'T74.11XA', ['SDV']],
    ['SNOMED 86406008 HIV infection', 'http://snomed.info/sct', '86406008', ['HIV']],
  ])('%s', (_name, system, code, expected) => {
    expect(codes(condition(system, code))).toEqual(expected);
  });

  it('does not label F17.210 nicotine dependence (Part 2 excludes tobacco)', () => {
    expect(codes(condition(ICD, 'F17.210'))).toEqual([]);
  });

  it('does not label I10 hypertension', () => {
    expect(codes(condition(ICD, 'I10'))).toEqual([]);
  });

  it('labels a Suboxone film dispensed by NDC (product code prefix)', () => {
    const md = {
      resourceType: 'MedicationDispense',
      status: 'completed',
      subject: { reference: 'Patient/p1' },
      medicationCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '12496120803' }] },
    } as Resource;
    expect(codes(md)).toEqual(['42CFRPart2', 'OPIOIDUD', 'SUD']);
  });

  it('leaves a methadone 10 mg tablet alone below the threshold (also an analgesic)', () => {
    const mr = {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: 'Patient/p1' },
      medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '864706' }] },
    } as Resource;
    expect(codes(mr)).toEqual([]);
  });

  it('labels a whole ExplanationOfBenefit whose only SUD signal is line-item HCPCS H0020', () => {
    const eob = {
      resourceType: 'ExplanationOfBenefit',
      patient: { reference: 'Patient/p1' },
      item: [
        { sequence: 1, productOrService: { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99213' }] } },
        { sequence: 2, productOrService: { coding: [{ system: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', code: 'H0020' }] } },
      ],
    } as unknown as Resource;
    expect(codes(eob)).toEqual(['42CFRPart2', 'SUD']);
  });

  it('ignores codes in the narrative and in meta', () => {
    const r = { ...condition(ICD, 'I10'), text: { status: 'generated', div: '<div>F11.20</div>' }, meta: { tag: [{ system: ICD, code: 'F11.20' }] } } as Resource;
    expect(codes(r)).toEqual([]);
  });
});

describe('labels on write (Repository.prepare, real store)', () => {
  let t: TestDatabase;
  let repo: Repository;
  beforeAll(async () => {
    loadDefinitions();
    t = await openTestDatabase('pglite');
    repo = new Repository(t.db, { prepare: (tx, r) => labeler.prepare(tx, r) });
  });
  afterAll(() => t.db.close());

  const security = (r: Resource): string[] => (r.meta?.security ?? []).map((c: Coding) => `${c.system === CONFIDENTIALITY ? 'C' : 'A'}:${c.code}`);

  it('sets exactly one confidentiality code: N for normal data, R for sensitive', async () => {
    const n = (await repo.create(condition(ICD, 'I10'))).resource;
    expect(security(n)).toEqual(['C:N']);
    const r = (await repo.create(condition(ICD, 'F11.20'))).resource;
    expect(security(r)).toEqual(['C:R', 'A:42CFRPart2', 'A:OPIOIDUD', 'A:SUD']);
  });

  it('propagates from a QuestionnaireResponse to the Observations derived from it', async () => {
    const qr = (
      await repo.create({
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        subject: { reference: 'Patient/p1' },
        item: [{ linkId: 'dx', answer: [{ valueCoding: { system: ICD, code: 'F11.20' } }] }],
      } as Resource)
    ).resource;
    const obs = (
      await repo.create({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'total score' },
        subject: { reference: 'Patient/p1' },
        derivedFrom: [{ reference: `QuestionnaireResponse/${qr.id}` }],
      } as Resource)
    ).resource;
    expect(labelsOf(obs).actCodes.has('SUD')).toBe(true);
    expect(labelsOf(obs).confidentiality).toBe('R');
  });

  it('propagates from a Medication to the MedicationRequest, and from a Condition to its Provenance', async () => {
    const med = (
      await repo.create({ resourceType: 'Medication', code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '352364' }] } } as Resource)
    ).resource;
    const mr = (
      await repo.create({
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        subject: { reference: 'Patient/p1' },
        medicationReference: { reference: `Medication/${med.id}` },
      } as Resource)
    ).resource;
    expect(labelsOf(mr).actCodes.has('SUD')).toBe(true);
    const cond = (await repo.create(condition(ICD, 'B20'))).resource;
    const prov = (
      await repo.create({
        resourceType: 'Provenance',
        target: [{ reference: `Condition/${cond.id}` }],
        recorded: '2026-01-01T00:00:00Z',
        agent: [{ who: { reference: 'Organization/sma-state' } }],
      } as Resource)
    ).resource;
    expect(labelsOf(prov).actCodes.has('HIV')).toBe(true);
  });

  it('does not propagate through context references (an HbA1c in an SUD encounter stays normal)', async () => {
    const enc = (await repo.create({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, reasonCode: [{ coding: [{ system: ICD, code: 'F11.20' }] }] } as Resource)).resource;
    expect(labelsOf(enc).actCodes.has('SUD')).toBe(true);
    const obs = (
      await repo.create({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '4548-4' }] }, encounter: { reference: `Encounter/${enc.id}` } } as Resource)
    ).resource;
    expect(security(obs)).toEqual(['C:N']);
  });

  it('labels an Encounter at a Part 2 program SSP + 42CFRPart2 without any clinical code', async () => {
    const enc = (await repo.create({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, serviceProvider: { reference: 'Organization/aco-riverside' } } as Resource)).resource;
    expect(security(enc)).toEqual(['C:R', 'A:42CFRPart2', 'A:SSP']);
    const viaSource = (await repo.create({ ...condition(ICD, 'I10'), meta: { source: 'https://riverside.example.org/fhir/Organization/aco-riverside' } } as Resource)).resource;
    expect(security(viaSource)).toEqual(['C:R', 'A:42CFRPart2', 'A:SSP']);
  });

  it('lets a client raise confidentiality but not lower it', async () => {
    const v = (await repo.create({ ...condition(ICD, 'I10'), meta: { security: [{ system: CONFIDENTIALITY, code: 'V' }] } } as Resource)).resource;
    expect(security(v)).toEqual(['C:V']);
    const low = (await repo.create({ ...condition(ICD, 'F11.20'), meta: { security: [{ system: CONFIDENTIALITY, code: 'N' }] } } as Resource)).resource;
    expect(security(low)[0]).toBe('C:R');
  });

  it('keeps labels across an update that omits them (labels are sticky)', async () => {
    const r = (await repo.create({ ...condition(ICD, 'I10'), meta: { security: [{ system: ACT_CODE, code: 'HIV' }] } } as Resource)).resource;
    expect(security(r)).toEqual(['C:R', 'A:HIV']);
    const { meta: _m, ...bare } = r;
    const u = (await repo.update({ ...bare, meta: { security: [{ system: CONFIDENTIALITY, code: 'N' }] } } as Resource)).resource;
    expect(security(u)).toEqual(['C:R', 'A:HIV']);
  });

  it('maps the deprecated v3-Confidentiality ETH to ActCode SUD', async () => {
    const r = (await repo.create({ ...condition(ICD, 'I10'), meta: { security: [{ system: CONFIDENTIALITY, code: 'ETH' }] } } as Resource)).resource;
    expect(security(r)).toEqual(['C:R', 'A:SUD']);
  });

  it.each([
    ['an unknown label system', { system: 'http://example.org/labels', code: 'SECRET' }],
    ['an unknown ActCode', { system: ACT_CODE, code: 'NOTACODE' }],
    ['a confidentiality modifier', { system: CONFIDENTIALITY, code: 'T' }],
  ])('rejects %s with 422', async (_n, coding) => {
    const err = await repo.create({ ...condition(ICD, 'I10'), meta: { security: [coding] } } as Resource).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FhirError);
    expect((err as FhirError).status).toBe(422);
  });

  it('leaves an unchanged update unchanged (deterministic labels)', async () => {
    const r = (await repo.create(condition(ICD, 'F11.20'))).resource;
    const again = await repo.update(r);
    expect(again.outcome).toBe('unchanged');
  });
});
