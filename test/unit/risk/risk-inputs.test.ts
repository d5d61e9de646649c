// Facts from what the mappers really emit (falls screens, HCBS assessments, medication-risk
// findings): which inputs are current, what each says, and which resources the facts rest on.
import type { Resource } from '@medplum/fhirtypes';
import { loadProtocol } from '../../../src/risk/protocol.js';
import { isRiskInput, patientOfInput, riskInputs } from '../../../src/risk/risk-inputs.js';
import { buildSharedRiskAssessment } from '../../../src/risk/shared-risk-assessment.js';
import { stratify } from '../../../src/risk/stratify.js';
import { FIVE_PLAIN_DRUGS, fallsScreen, hcbsAssessment, medicationRisk, only, person } from '../../support/risk-fixtures.js';

const protocol = loadProtocol();
const AS_OF = '2026-11-01';
const M = 'SYN0000042';
const facts = (resources: Resource[], asOf = AS_OF) => riskInputs(resources, protocol, asOf).facts;

describe('falls screen inputs', () => {
  it('a positive Stay Independent screen: positive, high band, a recent fall (item 1), evidence = the RiskAssessment and the Condition', () => {
    const screen = only(fallsScreen({ msisId: M, screenId: 'S1', date: '2026-10-01', tool: 'STEADI_SI12', answers: { SI01: 'Y', SI02: 'Y' } }));
    const r = riskInputs(screen, protocol, AS_OF);
    expect(r.facts).toMatchObject({ fallsScreenPositive: true, fallsScreenBand: 'high', fallRiskConditionActive: true, recentFall: true });
    expect(r.evidence.fallsScreenPositive).toEqual([`RiskAssessment/${screen.find((x) => x.resourceType === 'RiskAssessment')!.id}`]);
    expect(r.evidence.fallRiskConditionActive).toEqual([`Condition/${screen.find((x) => x.resourceType === 'Condition')!.id}`]);
  });

  it('an amendment turning the screen negative: negative, low band, the refuted Condition no longer active', () => {
    const amended = only(fallsScreen({ msisId: M, screenId: 'S1', date: '2026-10-01', tool: 'STEADI_SI12', answers: { SI03: 'Y' }, action: 'amend' }));
    expect(facts(amended)).toMatchObject({ fallsScreenPositive: false, fallsScreenBand: 'low', fallRiskConditionActive: false, recentFall: false });
  });

  it('a later negative screen supersedes an earlier positive one (and its Condition)', () => {
    const older = only(fallsScreen({ msisId: M, screenId: 'S1', date: '2026-06-01', tool: 'STEADI_3Q', answers: { KQ2: 'Y' } }));
    const newer = only(fallsScreen({ msisId: M, screenId: 'S2', date: '2026-10-01', tool: 'STEADI_3Q' }));
    expect(facts(older)).toMatchObject({ fallsScreenPositive: true, fallRiskConditionActive: true, recentFall: false });
    expect(facts([...older, ...newer])).toMatchObject({ fallsScreenPositive: false, fallRiskConditionActive: null, recentFall: false });
  });

  it('ignores a screen older than the look-back, and a deleted (entered-in-error) screen', () => {
    const old = only(fallsScreen({ msisId: M, screenId: 'S0', date: '2025-09-01', tool: 'STEADI_3Q', answers: { KQ1: 'Y' } }));
    expect(facts(old)).toMatchObject({ fallsScreenPositive: null, recentFall: null });
    const deleted = only(fallsScreen({ msisId: M, screenId: 'S1', date: '2026-10-01', tool: 'STEADI_3Q', answers: { KQ1: 'Y' }, action: 'delete' }));
    expect(facts(deleted)).toMatchObject({ fallsScreenPositive: null, fallRiskConditionActive: null, recentFall: null });
  });

  it('MDS Section J: a fall with major injury and two or more falls', () => {
    const mds = only(fallsScreen({ msisId: M, screenId: 'J1', date: '2026-09-15', tool: 'MDS_J', answers: { J1800: '1', J1900A: '1', J1900C: '1' } }));
    expect(facts(mds)).toMatchObject({ fallsScreenPositive: true, recentFall: true, recentFallWithInjury: true, recentFallsTwoOrMore: true });
    const one = only(fallsScreen({ msisId: M, screenId: 'J2', date: '2026-09-15', tool: 'MDS_J', answers: { J1800: '1', J1900A: '1' } }));
    // No injury item answered (J1700C, J1900B/C): unknown, not "no injury".
    expect(facts(one)).toMatchObject({ recentFall: true, recentFallWithInjury: null, recentFallsTwoOrMore: false });
  });

  it('Morse history of falling counts as a recent fall; a moderate band is positive', () => {
    const morse = only(fallsScreen({ msisId: M, screenId: 'MF', date: '2026-10-10', tool: 'MORSE', answers: { MFS1: 'Y' } }));
    expect(facts(morse)).toMatchObject({ fallsScreenBand: 'moderate', fallsScreenPositive: true, recentFall: true });
  });
});

describe('HCBS functional assessment inputs', () => {
  const items: [string, string, string][] = [
    ['GG0130A', 'usual_3d', '02'], // eating: substantial/maximal
    ['GG0130B', 'usual_3d', '01'], // oral hygiene: dependent
    ['GG0130B', 'discharge_goal', '06'],
    ['GG0170I', 'usual_3d', '03'], // walk 10 feet: partial/moderate
    ['GG0185A', 'usual_3d', '01'], // an IADL: not an ADL, not counted
  ];

  it('counts ADL items dependent or needing substantial help, and hands-on help walking; evidence = the section collections', () => {
    const a = only(hcbsAssessment({ msisId: M, assessmentId: 'A1', date: '2026-09-13', items }));
    const r = riskInputs(a, protocol, AS_OF);
    expect(r.facts).toMatchObject({ adlDependencyCount: 2, mobilityAssistance: true });
    const sections = (r.evidence.adlDependencyCount ?? []).map((ref) => a.find((x) => `Observation/${x.id}` === ref) as { code: { coding: { code: string }[] } });
    expect(sections.map((s) => s.code.coding.at(-1)!.code).sort()).toEqual(['GG0130', 'GG0170']);
  });

  it('uses only the latest assessment', () => {
    const old = only(hcbsAssessment({ msisId: M, assessmentId: 'A1', date: '2026-03-01', items }));
    const recovered = only(hcbsAssessment({ msisId: M, assessmentId: 'A2', date: '2026-09-13', items: [['GG0130A', 'usual_3d', '05'], ['GG0170I', 'usual_3d', '04']] }));
    expect(facts([...old, ...recovered])).toMatchObject({ adlDependencyCount: 0, mobilityAssistance: false });
  });

  it('reads interRAI HC ADL self-performance (4-6 dependent, 3+ on walking = hands-on)', () => {
    const rai = only(hcbsAssessment({ msisId: M, assessmentId: 'R1', date: '2026-09-13', instrument: 'INTERRAI_HC', items: [['G2a', 'single', '5'], ['G2j', 'single', '4'], ['G2e', 'single', '3'], ['G2h', 'single', '8']] }));
    expect(facts(rai)).toMatchObject({ adlDependencyCount: 2, mobilityAssistance: true });
  });
});

describe('medication-risk inputs', () => {
  it('polypharmacy and FRID classes from the latest findings', () => {
    const meds = only(medicationRisk(M, '2026-10-15', [...FIVE_PLAIN_DRUGS, 'zolpidem tartrate 10 MG Oral Tablet', 'sertraline 50 MG Oral Tablet']));
    expect(facts(meds)).toMatchObject({ polypharmacy: true, concurrentMedications: 7, fridClassCount: 2 });
    const fewer = only(medicationRisk(M, '2026-10-25', FIVE_PLAIN_DRUGS.slice(0, 3)));
    expect(facts([...meds, ...fewer])).toMatchObject({ polypharmacy: false, concurrentMedications: 3, fridClassCount: 0 });
  });

  it('ignores findings older than the look-back', () => {
    const meds = only(medicationRisk(M, '2026-01-15', FIVE_PLAIN_DRUGS));
    expect(facts(meds)).toMatchObject({ polypharmacy: null, fridClassCount: null });
  });
});

describe('which writes are risk inputs (the write hook test)', () => {
  it('falls-screen, HCBS item and medication-risk Observations, the fall RiskAssessment and Condition; not Patients, QRs or the shared assessment', () => {
    const all = [
      ...only(fallsScreen({ msisId: M, screenId: 'S1', date: '2026-10-01', tool: 'STEADI_3Q', answers: { KQ1: 'Y' } })),
      ...only(hcbsAssessment({ msisId: M, assessmentId: 'A1', date: '2026-09-13', items: [['GG0130A', 'usual_3d', '02']] })),
      ...only(medicationRisk(M, '2026-10-15', FIVE_PLAIN_DRUGS)),
    ];
    const inputs = all.filter(isRiskInput).map((r) => r.resourceType);
    expect(new Set(inputs)).toEqual(new Set(['Observation', 'RiskAssessment', 'Condition']));
    expect(all.filter((r) => ['Patient', 'QuestionnaireResponse', 'Provenance', 'Practitioner'].includes(r.resourceType)).some(isRiskInput)).toBe(false);
    for (const r of all.filter(isRiskInput)) expect(patientOfInput(r)).toBe(person(M).id);
    const shared = buildSharedRiskAssessment({ patientId: person(M).id, protocol, occurrence: '2026-11-01T00:00:00Z', result: stratify(protocol, riskInputs(all, protocol, AS_OF)) });
    expect(isRiskInput(shared)).toBe(false);
    // ...and it is never read back as an input.
    expect(riskInputs([...all, shared], protocol, AS_OF)).toEqual(riskInputs(all, protocol, AS_OF));
  });
});
