import type { Condition, Observation, QuestionnaireResponse, RiskAssessment } from '@medplum/fhirtypes';
import { checkRecord, fallsScreenLayout, INSTRUMENTS, mapFallsScreen, morseBand, scoreScreen } from '../../../src/mappers/falls-screen/index.js';
import type { LineRow, MappedRecord, SourceRow } from '../../../src/mappers/common/types.js';
import { expectAllValid } from '../../support/fhir-validation.js';
import { ctx } from '../../support/map-context.js';

const screen = { screen_id: 'S-1', submtg_state_cd: '26', msis_id: 'M0000001', screen_date: '2026-10-05', assessor_id: 'CM-17' };

function rows(tool: string, items: Record<string, string>, extra: SourceRow = {}): LineRow[] {
  return Object.entries(items).map(([item_id, response], i) => {
    const row: SourceRow = { ...screen, tool, item_id, ...extra };
    if (item_id === 'TUG') row.tug_seconds = response;
    else row.response = response;
    return { line: 10 + i, row };
  });
}

function map(lineRows: LineRow[]): MappedRecord {
  for (const r of lineRows) expect(checkRecord(r.row, r.line)).toEqual([]);
  const result = mapFallsScreen(lineRows, ctx);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.record;
}
const all = <T>(r: MappedRecord, type: string): T[] => r.resources.filter((m) => m.resource.resourceType === type).map((m) => m.resource as T);
const obsByCode = (r: MappedRecord, code: string) =>
  all<Observation>(r, 'Observation').find((o) => o.code.coding?.some((c) => c.code === code))!;

const si = (yes: string[]) =>
  Object.fromEntries(INSTRUMENTS.STEADI_SI12.items.map((i) => [i.id, yes.includes(i.id) ? 'Y' : 'N']));

describe('falls screen scoring', () => {
  it('weights Stay Independent items 1-2 as 2 points, the rest 1; at risk from 4', () => {
    expect(scoreScreen('STEADI_SI12', new Map(Object.entries(si(['SI01', 'SI02']))))).toEqual({ score: 4, band: 'high', atRisk: true });
    expect(scoreScreen('STEADI_SI12', new Map(Object.entries(si(['SI03', 'SI04', 'SI05']))))).toEqual({ score: 3, band: 'low', atRisk: false });
    expect(scoreScreen('STEADI_SI12', new Map(Object.entries(si(INSTRUMENTS.STEADI_SI12.items.map((i) => i.id)))))).toMatchObject({ score: 14 });
  });

  it('bands Morse totals 0-24 low, 25-45 moderate, 50+ high', () => {
    expect([0, 24, 25, 45, 50, 125].map(morseBand)).toEqual(['low', 'low', 'moderate', 'moderate', 'high', 'high']);
  });

  it('scores every Morse answer code with its published points', () => {
    const points = INSTRUMENTS.MORSE.items.flatMap((i) => Object.entries(i.answers!).map(([code, a]) => [i.id, code, a.points]));
    expect(points).toEqual([
      ['MFS1', 'N', 0], ['MFS1', 'Y', 25],
      ['MFS2', 'N', 0], ['MFS2', 'Y', 15],
      ['MFS3', 'NONE', 0], ['MFS3', 'AID', 15], ['MFS3', 'FURNITURE', 30],
      ['MFS4', 'N', 0], ['MFS4', 'Y', 20],
      ['MFS5', 'NORMAL', 0], ['MFS5', 'WEAK', 10], ['MFS5', 'IMPAIRED', 20],
      ['MFS6', 'ORIENTED', 0], ['MFS6', 'FORGETS', 15],
    ]);
    for (const item of INSTRUMENTS.MORSE.items) {
      for (const code of Object.keys(item.answers!)) {
        const answers = new Map(INSTRUMENTS.MORSE.items.map((i) => [i.id, i.id === item.id ? code : Object.keys(i.answers!)[0]]));
        expect(scoreScreen('MORSE', answers).score).toBe(item.answers![code].points);
      }
    }
  });

  it('TUG is at risk from 12 seconds; STEADI 3 key questions on any yes; MDS J on a fall', () => {
    expect(scoreScreen('TUG', new Map(), 11.9).atRisk).toBe(false);
    expect(scoreScreen('TUG', new Map(), 12).atRisk).toBe(true);
    expect(scoreScreen('STEADI_3Q', new Map([['KQ1', 'N'], ['KQ2', 'N'], ['KQ3', 'Y']])).atRisk).toBe(true);
    expect(scoreScreen('STEADI_3Q', new Map([['KQ1', 'N'], ['KQ2', 'N'], ['KQ3', 'N']])).atRisk).toBe(false);
    expect(scoreScreen('MDS_J', new Map([['J1700A', '9'], ['J1800', '0'], ['J1900A', '0']])).atRisk).toBe(false);
    expect(scoreScreen('MDS_J', new Map([['J1800', '1'], ['J1900B', '1']])).atRisk).toBe(true);
  });
});

describe('falls screen mapper', () => {
  it('maps an at-risk Morse screen: items, total, level, RiskAssessment and Condition', () => {
    const record = map(rows('MORSE', { MFS1: 'Y', MFS2: 'Y', MFS3: 'AID', MFS4: 'N', MFS5: 'WEAK', MFS6: 'ORIENTED' }, { total_score: '65' }));
    expect(record.issues).toEqual([]);
    const [qr] = all<QuestionnaireResponse>(record, 'QuestionnaireResponse');
    expect(qr).toMatchObject({ status: 'completed', authored: '2026-10-05', questionnaire: expect.stringMatching(/Questionnaire\/falls-morse$/) });
    expect(qr.item?.map((i) => [i.linkId, i.answer?.[0].valueCoding?.code])).toEqual([
      ['MFS1', 'MORSE.MFS1.Y'], ['MFS2', 'MORSE.MFS2.Y'], ['MFS3', 'MORSE.MFS3.AID'], ['MFS4', 'MORSE.MFS4.N'], ['MFS5', 'MORSE.MFS5.WEAK'], ['MFS6', 'MORSE.MFS6.ORIENTED'],
    ]);
    const history = obsByCode(record, '59454-9');
    expect(history.valueCodeableConcept?.coding?.[0]).toMatchObject({ code: 'MORSE.MFS1.Y' });
    expect(history.derivedFrom).toEqual([{ reference: `QuestionnaireResponse/${qr.id}` }]);
    expect(history.category?.map((c) => c.coding?.[0].code)).toEqual(['survey', 'functional-status']);
    const total = obsByCode(record, '59460-6');
    expect(total.valueInteger).toBe(65);
    expect(obsByCode(record, '59461-4').valueCodeableConcept?.coding?.[0]).toEqual({ system: 'http://loinc.org', code: 'LA13040-3', display: 'High Risk (MFS Score 50+)' });
    const panel = obsByCode(record, '59453-1');
    expect(panel.hasMember).toHaveLength(8);
    const [risk] = all<RiskAssessment>(record, 'RiskAssessment');
    expect(risk.prediction?.[0].qualitativeRisk?.coding?.[0].code).toBe('high');
    expect(risk.basis?.map((b) => b.reference)).toContain(`Observation/${total.id}`);
    const [condition] = all<Condition>(record, 'Condition');
    expect(condition.code?.coding?.[0]).toEqual({ system: 'http://snomed.info/sct', code: '129839007', display: 'At increased risk for falls (finding)' });
    expect(condition.evidence?.[0].detail?.map((d) => d.reference)).toContain(`Observation/${total.id}`);
    expect(condition.clinicalStatus?.coding?.[0].code).toBe('active');
    expectAllValid(record.resources.map((m) => m.resource));
  });

  it('reports a supplied total that does not match the recomputed score, and uses the recomputed one', () => {
    const record = map(rows('STEADI_SI12', si(['SI01', 'SI05']), { total_score: '5' }));
    expect(obsByCode(record, 'STEADI_SI12.TOTAL').valueInteger).toBe(3);
    expect(record.issues).toEqual([
      expect.objectContaining({ severity: 'warning', expression: ['total_score'], location: ['Line[10]'], diagnostics: expect.stringContaining('does not match recomputed 3') }),
    ]);
    expect(all(record, 'Condition')).toEqual([]);
    expect(all<RiskAssessment>(record, 'RiskAssessment')[0].prediction?.[0].qualitativeRisk?.coding?.[0].code).toBe('low');
  });

  it('maps a STEADI Stay Independent at-risk person and every yes/no answer with LOINC LA codes', () => {
    const record = map(rows('STEADI_SI12', si(['SI01', 'SI02', 'SI07'])));
    expect(obsByCode(record, 'STEADI_SI12.TOTAL').valueInteger).toBe(5);
    expect(obsByCode(record, 'STEADI_SI12.SI01').valueCodeableConcept?.coding?.[0]).toEqual({ system: 'http://loinc.org', code: 'LA33-6', display: 'Yes' });
    expect(obsByCode(record, 'STEADI_SI12.SI03').valueCodeableConcept?.coding?.[0]).toEqual({ system: 'http://loinc.org', code: 'LA32-8', display: 'No' });
    expect(all(record, 'Condition')).toHaveLength(1);
    expectAllValid(record.resources.map((m) => m.resource));
  });

  it('maps TUG seconds as LOINC 89423-8 in the 89422-0 panel', () => {
    const slow = map(rows('TUG', { TUG: '14.2' }));
    expect(obsByCode(slow, '89423-8').valueQuantity).toEqual({ value: 14.2, unit: 's', system: 'http://unitsofmeasure.org', code: 's' });
    expect(obsByCode(slow, '89422-0').hasMember).toHaveLength(1);
    expect(all(slow, 'Condition')).toHaveLength(1);
    const quick = map(rows('TUG', { TUG: '8' }));
    expect(all(quick, 'Condition')).toHaveLength(0);
    expectAllValid([...slow.resources, ...quick.resources].map((m) => m.resource));
  });

  it('maps STEADI 3 key questions and MDS Section J items', () => {
    const kq = map(rows('STEADI_3Q', { KQ1: 'N', KQ2: 'Y', KQ3: 'N' }));
    expect(all(kq, 'Condition')).toHaveLength(1);
    const mds = map(rows('MDS_J', { J1700A: '0', J1700B: '9', J1800: '1', J1900A: '2', J1900B: '0', J1900C: '0' }));
    expect(obsByCode(mds, '54853-7').valueCodeableConcept?.coding?.[0].code).toBe('MDS_J.J1800.1');
    expect(all(mds, 'Condition')).toHaveLength(1);
    expectAllValid([...kq.resources, ...mds.resources].map((m) => m.resource));
  });

  it('amend keeps ids (negative amendment refutes the Condition); delete marks everything entered-in-error', () => {
    const items = { MFS1: 'Y', MFS2: 'Y', MFS3: 'AID', MFS4: 'N', MFS5: 'WEAK', MFS6: 'ORIENTED' };
    const original = map(rows('MORSE', items));
    const amended = map(rows('MORSE', { ...items, MFS1: 'N', MFS2: 'N', MFS5: 'NORMAL' }, { record_action: 'amend' }));
    const ids = (r: MappedRecord) => r.resources.filter((m) => m.mode === 'upsert').map((m) => m.resource.id);
    expect(ids(amended)).toEqual(ids(original));
    expect(all<Condition>(amended, 'Condition')[0].verificationStatus?.coding?.[0].code).toBe('refuted');
    expect(all<Observation>(amended, 'Observation').every((o) => o.status === 'amended')).toBe(true);
    const deleted = map(rows('MORSE', items, { record_action: 'delete' }));
    expect(all<Observation>(deleted, 'Observation').every((o) => o.status === 'entered-in-error')).toBe(true);
    expect(all<QuestionnaireResponse>(deleted, 'QuestionnaireResponse')[0].status).toBe('entered-in-error');
    expect(all<Condition>(deleted, 'Condition')[0]).toMatchObject({ verificationStatus: { coding: [expect.objectContaining({ code: 'entered-in-error' })] } });
    expect(all<Condition>(deleted, 'Condition')[0].clinicalStatus).toBeUndefined();
    expectAllValid([...amended.resources, ...deleted.resources].map((m) => m.resource));
  });

  it('rejects unknown items and answer codes, incomplete screens and mixed screens', () => {
    expect(checkRecord({ ...screen, tool: 'MORSE', item_id: 'MFS9', response: 'Y' }, 4)).toEqual([
      expect.objectContaining({ code: 'code-invalid', expression: ['item_id'] }),
    ]);
    expect(checkRecord({ ...screen, tool: 'MORSE', item_id: 'MFS3', response: 'CANE' }, 5)).toEqual([
      expect.objectContaining({ code: 'code-invalid', expression: ['response'], diagnostics: expect.stringContaining('NONE, AID, FURNITURE') }),
    ]);
    expect(checkRecord({ ...screen, tool: 'HENDRICH_II', item_id: 'H1' }, 6)[0]).toMatchObject({ expression: ['tool'], code: 'code-invalid' });
    const incomplete = mapFallsScreen(rows('STEADI_3Q', { KQ1: 'N', KQ2: 'N' }), ctx);
    expect(incomplete).toEqual({ ok: false, issues: [expect.objectContaining({ diagnostics: expect.stringContaining('missing KQ3') })] });
    const mixed = rows('STEADI_3Q', { KQ1: 'N', KQ2: 'N', KQ3: 'N' });
    mixed[2].row.msis_id = 'OTHER';
    expect(mapFallsScreen(mixed, ctx)).toMatchObject({ ok: false, issues: [expect.objectContaining({ expression: ['msis_id'], location: ['Line[12]'] })] });
    expect(fallsScreenLayout.recordKey!(mixed[0].row)).toBe('26|S-1');
  });
});
