import type { MedicationDispense, MedicationRequest, Observation } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import {
  checkRecord,
  mapPharmacyClaim,
  normalizeNdc,
  parseRxNormCrosswalk,
} from '../../../src/mappers/pharmacy-claims/index.js';
import { assessMedicationRisk, type FridClassList } from '../../../src/mappers/pharmacy-claims/medication-risk.js';
import { buildPatient } from '../../../src/mappers/common/parties.js';
import type { MappedRecord, SourceRow } from '../../../src/mappers/common/types.js';
import { expectAllValid } from '../../support/fhir-validation.js';
import { ctx } from '../../support/map-context.js';

const crosswalk = parseRxNormCrosswalk(
  [
    'ndc11,rxcui,rxnorm_display',
    '99999000101,1001,lisinopril 10 MG Oral Tablet',
    '99999000201,1002,zolpidem tartrate 10 MG Oral Tablet',
    '99999000301,1003,sertraline 50 MG Oral Tablet',
    '99999000401,1004,metformin hydrochloride 500 MG Oral Tablet',
    '99999000501,1005,atorvastatin 20 MG Oral Tablet',
  ].join('\n'),
);
const fridClasses = JSON.parse(readFileSync('config/medication-risk/frid-classes.json', 'utf8')) as FridClassList;

const claim: SourceRow = {
  MSIS_IDENT_NUM: 'M0000001',
  SUBMTG_STATE_CD: '26',
  ORGNL_CLM_NUM: 'RX-1',
  ORGNL_LINE_NUM: '1',
  RX_FILL_DT: '2026-09-01',
  PRSCRBD_DT: '2026-08-30',
  RX_NUM: '700001',
  NDC_CD: '99999-0001-01',
  DTL_MTRC_DCML_QTY: '30',
  UOM_CD: 'EA',
  SUPLY_DAYS_CNT: '30',
  NEW_REFL_IND: '00',
  PRSCRBNG_PRVDR_NUM: '1234567893',
  DSPNSNG_PD_PRVDR_NPI_NUM: '1987654321',
};

function map(row: SourceRow): MappedRecord {
  expect(checkRecord(row, 3)).toEqual([]);
  const result = mapPharmacyClaim([{ line: 3, row }], ctx, crosswalk);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.record;
}
const first = <T>(r: MappedRecord, type: string): T => r.resources.find((m) => m.resource.resourceType === type)!.resource as T;

describe('NDC normalisation', () => {
  it.each([
    ['12345678901', '12345678901'],
    ['12345-6789-01', '12345678901'],
    ['1234-5678-90', '01234567890'],
    ['12345-678-90', '12345067890'],
    ['12345-6789-0', '12345678900'],
  ])('%s → %s', (raw, ndc11) => expect(normalizeNdc(raw)).toEqual({ ok: true, ndc11 }));

  it('rejects an unhyphenated 10-digit NDC as ambiguous', () => {
    expect(normalizeNdc('1234567890')).toEqual({ ok: false, reason: expect.stringContaining('ambiguous') });
    expect(checkRecord({ ...claim, NDC_CD: '1234567890' }, 9)).toEqual([
      expect.objectContaining({ expression: ['NDC_CD'], location: ['Line[9]'], diagnostics: expect.stringContaining('ambiguous') }),
    ]);
  });
});

describe('pharmacy claims mapper', () => {
  it('maps a TAF RX line to MedicationDispense and MedicationRequest with NDC and RxNorm', () => {
    const record = map(claim);
    const dispense = first<MedicationDispense>(record, 'MedicationDispense');
    const request = first<MedicationRequest>(record, 'MedicationRequest');
    expect(dispense.medicationCodeableConcept).toEqual({
      coding: [
        { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1001', display: 'lisinopril 10 MG Oral Tablet' },
        { system: 'http://hl7.org/fhir/sid/ndc', code: '99999000101' },
      ],
      text: 'lisinopril 10 MG Oral Tablet',
    });
    expect(dispense).toMatchObject({
      status: 'completed',
      whenHandedOver: '2026-09-01',
      daysSupply: { value: 30, unit: 'day', system: 'http://unitsofmeasure.org', code: 'd' },
      quantity: { value: 30, unit: 'each', system: 'http://unitsofmeasure.org', code: '{each}' },
      type: { coding: [expect.objectContaining({ code: 'FF' })] },
      authorizingPrescription: [{ reference: `MedicationRequest/${request.id}` }],
    });
    expect(request).toMatchObject({ intent: 'order', status: 'unknown', authoredOn: '2026-08-30' });
    expect(record.issues).toEqual([]);
    expectAllValid(record.resources.map((m) => m.resource));
  });

  it('keeps NDC only, with a warning, when the crosswalk has no RxNorm code', () => {
    const record = map({ ...claim, NDC_CD: '99999-0099-01' });
    expect(first<MedicationDispense>(record, 'MedicationDispense').medicationCodeableConcept?.coding).toEqual([
      { system: 'http://hl7.org/fhir/sid/ndc', code: '99999009901' },
    ]);
    expect(record.issues[0]).toMatchObject({ severity: 'warning', expression: ['NDC_CD'] });
  });

  it('shares one MedicationRequest across refills; amend keeps ids, delete is entered-in-error', () => {
    const a = map(claim);
    const refill = map({ ...claim, ORGNL_CLM_NUM: 'RX-2', RX_FILL_DT: '2026-10-01', NEW_REFL_IND: '01' });
    expect(first<MedicationRequest>(refill, 'MedicationRequest').id).toBe(first<MedicationRequest>(a, 'MedicationRequest').id);
    expect(first<MedicationDispense>(refill, 'MedicationDispense').type?.coding?.[0].code).toBe('RF');
    const amended = map({ ...claim, record_action: 'amend', DTL_MTRC_DCML_QTY: '60' });
    expect(first<MedicationDispense>(amended, 'MedicationDispense').id).toBe(first<MedicationDispense>(a, 'MedicationDispense').id);
    const deleted = map({ ...claim, record_action: 'delete' });
    expect(first<MedicationDispense>(deleted, 'MedicationDispense').status).toBe('entered-in-error');
    expectAllValid(deleted.resources.map((m) => m.resource));
  });

  it('rejects negative days supply, bad dates, unknown unit codes and missing NDC', () => {
    const { NDC_CD: _n, ...noNdc } = claim;
    expect(checkRecord({ ...noNdc, SUPLY_DAYS_CNT: '-5', RX_FILL_DT: '2026-09-31', UOM_CD: 'XX' }, 4)).toEqual([
      expect.objectContaining({ code: 'required', expression: ['NDC_CD'] }),
      expect.objectContaining({ expression: ['RX_FILL_DT'], diagnostics: expect.stringContaining('not a valid date') }),
      expect.objectContaining({ expression: ['UOM_CD'], code: 'code-invalid' }),
      expect.objectContaining({ expression: ['SUPLY_DAYS_CNT'], diagnostics: 'line 4, SUPLY_DAYS_CNT: must be >= 1' }),
    ]);
  });
});

describe('medication risk (polypharmacy, FRID)', () => {
  const patient = buildPatient({ state: '26', msisId: 'M0000001' });
  const dispensesFor = (ndcs: string[], fill = '2026-10-01') =>
    ndcs.map((ndc, i) => first<MedicationDispense & { id: string }>(map({ ...claim, ORGNL_CLM_NUM: `C${i}`, NDC_CD: ndc, RX_FILL_DT: fill, PRSCRBD_DT: fill }), 'MedicationDispense'));
  const five = ['99999000101', '99999000201', '99999000301', '99999000401', '99999000501'];

  it('flags polypharmacy at 5 concurrent medications and names the dispenses', () => {
    const dispenses = dispensesFor(five);
    const [poly, frid] = assessMedicationRisk({ patient, dispenses, asOf: '2026-10-15' }, ctx, { fridClasses }).map(
      (m) => m.resource as Observation,
    );
    expect(poly.valueBoolean).toBe(true);
    expect(poly.component?.[0].valueInteger).toBe(5);
    expect(poly.extension).toHaveLength(5);
    expect(frid.valueBoolean).toBe(true);
    expect(frid.component?.map((c) => c.valueCodeableConcept?.coding?.[0].code)).toEqual(['z-drug', 'antidepressant']);
    expect(frid.extension?.map((e) => e.valueReference?.reference).sort()).toEqual(
      [dispenses[1], dispenses[2]].map((d) => `MedicationDispense/${d.id}`).sort(),
    );
    expectAllValid([poly, frid]);
  });

  it('does not flag 4 concurrent medications, nor 5 whose supplies do not overlap', () => {
    const four = dispensesFor(five.slice(0, 4));
    const [poly4] = assessMedicationRisk({ patient, dispenses: four, asOf: '2026-10-15' }, ctx, { fridClasses });
    expect((poly4.resource as Observation).valueBoolean).toBe(false);
    const apart = [...dispensesFor(five.slice(0, 4), '2026-08-01'), ...dispensesFor(five.slice(4), '2026-10-01')];
    const [polyApart] = assessMedicationRisk({ patient, dispenses: apart, asOf: '2026-10-15' }, ctx, { fridClasses });
    expect((polyApart.resource as Observation).component?.[0].valueInteger).toBe(4);
    const [poly3] = assessMedicationRisk({ patient, dispenses: four, asOf: '2026-10-15' }, ctx, {
      fridClasses,
      polypharmacyThreshold: 3,
    });
    expect((poly3.resource as Observation).valueBoolean).toBe(true);
  });
});
