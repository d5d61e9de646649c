import type { MedicationRequest, Observation, Practitioner, QuestionnaireResponse } from '@medplum/fhirtypes';
import { ANSWER_LISTS, checkRecord, hcbsAssessmentLayout, mapHcbsAssessment } from '../../../src/mappers/hcbs-assessment/index.js';
import type { LineRow, MappedRecord, SourceRow } from '../../../src/mappers/common/types.js';
import { expectAllValid } from '../../support/fhir-validation.js';
import { ctx } from '../../support/map-context.js';

const header: SourceRow = {
  assessment_id: 'A-100',
  record_type: 'header',
  submtg_state_cd: '26',
  msis_id: 'M0000001',
  mbi: '1SA0A00AA00',
  birth_date: '1948-03-14',
  sex_cd: 'F',
  instrument: 'FASI_1_1',
  assessment_date: '2026-10-02',
  assessor_id: 'CM-17',
  assessing_org_id: 'AAA-3',
  assessing_org_name: 'Area Agency on Aging 3',
};
const item = (item_id: string, column: string, response_code: string): SourceRow => ({
  assessment_id: 'A-100',
  record_type: 'item',
  item_id,
  column,
  response_code,
});

function assessment(h: SourceRow, items: SourceRow[]): LineRow[] {
  return [h, ...items].map((row, i) => ({ line: 2 + i, row }));
}
function map(lineRows: LineRow[]): MappedRecord {
  for (const r of lineRows) expect(checkRecord(r.row, r.line)).toEqual([]);
  const result = mapHcbsAssessment(lineRows, ctx);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.record;
}
const all = <T>(r: MappedRecord, type: string): T[] => r.resources.filter((m) => m.resource.resourceType === type).map((m) => m.resource as T);
const obs = (r: MappedRecord, localCode: string) =>
  all<Observation>(r, 'Observation').find((o) => o.code.coding?.some((c) => c.code === localCode))!;

describe('HCBS assessment mapper (FASI)', () => {
  const rows = assessment(header, [
    item('GG0130A', 'usual_3d', '05'),
    item('GG0130A', 'most_dependent_1mo', '03'),
    item('GG0170A', 'most_dependent_1mo', '02'),
    item('GG0185H', 'usual_3d', '90'),
    { assessment_id: 'A-100', record_type: 'item', item_id: 'GG0135A', column: 'single', response_text: 'Bathe without help' },
    item('F0900A1', 'single', '05'),
    { assessment_id: 'A-100', record_type: 'medication', med_seq: '1', ndc: '12345-678-90', drug_text: 'zolpidem', strength_text: '10 mg', sig_text: '1 tab at bedtime', prn_flag: 'Y', med_source: 'label' },
  ]);

  it('maps items to Observations with LOINC where verified, the raw CMS code kept as a second coding', () => {
    const record = map(rows);
    const usual = obs(record, 'GG0130A.usual_3d');
    expect(usual.code.coding).toEqual([
      { system: 'https://lead-gateway.example.org/fhir/CodeSystem/cms-assessment-item', code: 'GG0130A.usual_3d', display: 'Eating (usual 3d)' },
    ]);
    expect(usual.valueCodeableConcept?.coding).toEqual([
      { system: 'https://lead-gateway.example.org/fhir/CodeSystem/cms-assessment-response-fasi-performance', code: '05', display: 'Setup or clean-up assistance' },
    ]);
    const mostDependent = obs(record, 'GG0130A.most_dependent_1mo');
    expect(mostDependent.code.coding?.[0]).toEqual({ system: 'http://loinc.org', code: '94933-9' });
    expect(mostDependent.valueCodeableConcept?.coding).toEqual([
      { system: 'http://loinc.org', code: 'LA10055-4', display: 'Partial/moderate assistance' },
      expect.objectContaining({ code: '03' }),
    ]);
    expect(obs(record, 'GG0170A.most_dependent_1mo').code.coding?.[0].code).toBe('94940-4');
    expect(mostDependent.category?.map((c) => c.coding?.[0].code)).toEqual(['survey', 'functional-status', 'd5']);
    expect(obs(record, 'GG0185H.usual_3d').category?.[2].coding?.[0].code).toBe('d6');
    expect(mostDependent.performer).toHaveLength(2);
  });

  it('builds the QuestionnaireResponse and section/instrument collections', () => {
    const record = map(rows);
    const [qr] = all<QuestionnaireResponse>(record, 'QuestionnaireResponse');
    expect(qr.identifier).toEqual({ use: 'official', system: 'https://lead-gateway.example.org/fhir/sid/source/state-26-medicaid/hcbs-assessment', value: '26|A-100' });
    expect(qr.item?.map((i) => i.linkId)).toEqual([
      'GG0130A.usual_3d', 'GG0130A.most_dependent_1mo', 'GG0170A.most_dependent_1mo', 'GG0185H.usual_3d', 'GG0135A', 'F0900A1',
    ]);
    expect(qr.item?.[4].answer?.[0].valueString).toBe('Bathe without help');
    const selfCare = obs(record, 'GG0130');
    expect(selfCare.hasMember).toHaveLength(2);
    const instrument = obs(record, 'FASI_1_1');
    expect(instrument.code.coding?.[0]).toMatchObject({ system: 'http://loinc.org', code: '105175-4' });
    expect(instrument.hasMember?.map((m) => m.reference)).toContain(`Observation/${selfCare.id}`);
    const [assessor] = all<Practitioner>(record, 'Practitioner');
    expect(qr.author).toEqual({ reference: `Practitioner/${assessor.id}` });
  });

  it('maps the assessor medication list to MedicationRequest with reportedBoolean', () => {
    const [med] = all<MedicationRequest>(map(rows), 'MedicationRequest');
    expect(med).toMatchObject({
      status: 'active',
      intent: 'plan',
      reportedBoolean: true,
      medicationCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '12345067890' }], text: 'zolpidem 10 mg' },
      dosageInstruction: [{ text: '1 tab at bedtime', asNeededBoolean: true }],
      note: [{ text: 'Source: label' }],
    });
  });

  it('emits only valid FHIR (base R4 + declared profiles)', () => {
    expectAllValid(map(rows).resources.map((m) => m.resource));
  });

  it('maps every FASI answer code to its LOINC LA code on a LOINC item', () => {
    const codes = Object.keys(ANSWER_LISTS['fasi-performance']);
    for (const code of codes) {
      const record = map(assessment(header, [item('GG0170A', 'most_dependent_1mo', code)]));
      const value = obs(record, 'GG0170A.most_dependent_1mo').valueCodeableConcept!;
      expect(value.coding?.map((c) => c.code)).toEqual([ANSWER_LISTS['fasi-performance'][code].la, code]);
    }
    expect([...codes].sort()).toEqual(['01', '02', '03', '04', '05', '06', '07', '11', '90']);
  });

  it('gives amendments the same ids and deletes entered-in-error', () => {
    const amended = map(assessment({ ...header, record_action: 'amend' }, [item('GG0130A', 'usual_3d', '06')]));
    const original = map(assessment(header, [item('GG0130A', 'usual_3d', '05')]));
    const ids = (r: MappedRecord) => r.resources.filter((m) => m.mode === 'upsert').map((m) => m.resource.id);
    expect(ids(amended)).toEqual(ids(original));
    expect(obs(amended, 'GG0130A.usual_3d').status).toBe('amended');
    const deleted = map(assessment({ ...header, record_action: 'delete' }, [item('GG0130A', 'usual_3d', '05')]));
    expect(all<Observation>(deleted, 'Observation').every((o) => o.status === 'entered-in-error')).toBe(true);
    expect(all<QuestionnaireResponse>(deleted, 'QuestionnaireResponse')[0].status).toBe('entered-in-error');
    expectAllValid(deleted.resources.map((m) => m.resource));
  });
});

describe('HCBS assessment mapper (MDS 3.0 GG, interRAI HC)', () => {
  it('maps MDS 3-day items with their LOINC codes and MDS answer codes (local only)', () => {
    const mds = { ...header, instrument: 'MDS_3_0' };
    const codes = ['06', '05', '04', '03', '02', '01', '07', '09', '10', '88'];
    const record = map(assessment(mds, codes.map((c, i) => item(['GG0130A', 'GG0130B', 'GG0130C', 'GG0130E', 'GG0130F', 'GG0130G', 'GG0130H', 'GG0170A', 'GG0170B', 'GG0170C'][i], 'usual_3d', c))));
    expect(obs(record, 'GG0130A.usual_3d').code.coding?.[0]).toEqual({ system: 'http://loinc.org', code: '83232-9' });
    expect(obs(record, 'GG0170C.usual_3d').valueCodeableConcept?.coding).toEqual([
      { system: 'https://lead-gateway.example.org/fhir/CodeSystem/cms-assessment-response-mds-performance', code: '88', display: 'Not attempted due to medical condition or safety concerns' },
    ]);
    expectAllValid(record.resources.map((m) => m.resource));
  });

  it('maps interRAI HC ADL items to the local interRAI CodeSystem only', () => {
    const hc = { ...header, instrument: 'INTERRAI_HC' };
    const codes = ['0', '1', '2', '3', '4', '5', '6', '8'];
    const record = map(assessment(hc, codes.map((c, i) => item(`G2${'abcdefgh'[i]}`, 'single', c))));
    const bathing = obs(record, 'G2a');
    expect(bathing.code.coding).toEqual([{ system: 'https://lead-gateway.example.org/fhir/CodeSystem/interrai-hc-item', code: 'G2a', display: 'ADL self-performance: Bathing (single)' }]);
    expect(obs(record, 'G2h').valueCodeableConcept?.coding?.[0]).toMatchObject({ system: 'https://lead-gateway.example.org/fhir/CodeSystem/interrai-hc-response', code: '8' });
    expectAllValid(record.resources.map((m) => m.resource));
  });
});

describe('HCBS assessment record errors', () => {
  it('rejects unknown items and codes, and items outside the instrument', () => {
    expect(checkRecord(item('GG9999Z', 'usual_3d', '05'), 5)).toEqual([expect.objectContaining({ code: 'code-invalid', expression: ['item_id'] })]);
    expect(checkRecord(item('GG0130A', 'usual_3d', '12'), 6)).toEqual([expect.objectContaining({ code: 'code-invalid', expression: ['response_code'] })]);
    expect(checkRecord(item('GG0130A', 'single', '05'), 6)).toEqual([expect.objectContaining({ expression: ['column'] })]);
    expect(checkRecord(item('F0900A1', 'usual_3d', '05'), 6)).toEqual([expect.objectContaining({ expression: ['column'] })]);
    const mds = mapHcbsAssessment(assessment({ ...header, instrument: 'MDS_3_0' }, [item('GG0185A', 'usual_3d', '05')]), ctx);
    expect(mds).toMatchObject({ ok: false, issues: [expect.objectContaining({ diagnostics: expect.stringContaining('not part of MDS') })] });
    const fasi11 = mapHcbsAssessment(assessment(header, [item('GG0130A', 'usual_3d', '88')]), ctx);
    expect(fasi11).toMatchObject({ ok: false, issues: [expect.objectContaining({ expression: ['response_code'], location: ['Line[3]'] })] });
  });

  it('rejects a header missing required fields, bad dates, and an assessment without its header first', () => {
    const { msis_id: _m, ...noMsis } = header;
    expect(checkRecord({ ...noMsis, assessment_date: '2026-02-29' }, 2)).toEqual([
      expect.objectContaining({ code: 'required', expression: ['msis_id'] }),
      expect.objectContaining({ expression: ['assessment_date'], diagnostics: expect.stringContaining('not a valid date') }),
    ]);
    const noHeader = mapHcbsAssessment([{ line: 8, row: item('GG0130A', 'usual_3d', '05') }], ctx);
    expect(noHeader).toMatchObject({ ok: false, issues: [expect.objectContaining({ expression: ['record_type'], location: ['Line[8]'] })] });
    expect(hcbsAssessmentLayout.checkHeader(['assessment_id', 'record_type', 'colour'])).toEqual([
      expect.objectContaining({ expression: ['colour'] }),
    ]);
  });
});
