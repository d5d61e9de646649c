// Which committed writes raise which subscription topic events (src/notifications/topics.ts).
import type { Resource } from '@medplum/fhirtypes';
import { CHANGE_IN_CONDITION_QUESTIONNAIRE } from '../../../src/care/change-in-condition/vocabulary.js';
import { ALIGNMENT_ROSTER_SYSTEM, matchTopics, SHARED_RISK_PROTOCOL_SYSTEM, TOPICS } from '../../../src/notifications/topics.js';
import type { WriteEvent } from '../../../src/fhir/store/repository.js';

const RISK = 'http://terminology.hl7.org/CodeSystem/risk-probability';
const subject = { reference: 'Patient/p1' };
const ev = (resource: Resource, kind: WriteEvent['kind'] = 'create', versionId = '1'): WriteEvent => ({ kind, resourceType: resource.resourceType, id: resource.id ?? 'x', versionId, resource });
const falls = (band: string): Resource =>
  ({ resourceType: 'RiskAssessment', id: 'r1', status: 'final', subject, prediction: [{ outcome: { coding: [{ system: 'http://snomed.info/sct', code: '1912002' }] }, qualitativeRisk: { coding: [{ system: RISK, code: band }] } }] }) as Resource;
const shared = (band: string): Resource =>
  ({ resourceType: 'RiskAssessment', id: 's1', status: 'final', subject, method: { coding: [{ system: SHARED_RISK_PROTOCOL_SYSTEM, code: 'v1' }] }, prediction: [{ qualitativeRisk: { coding: [{ system: RISK, code: band }] } }] }) as Resource;
const atRisk = (clinical = 'active'): Resource =>
  ({ resourceType: 'Condition', id: 'c1', subject, clinicalStatus: { coding: [{ code: clinical }] }, code: { coding: [{ system: 'http://snomed.info/sct', code: '129839007' }] } }) as Resource;

describe('subscription topics', () => {
  it.each<[string, WriteEvent, Resource | undefined, string[]]>([
    ['a change-in-condition report', ev({ resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: `${CHANGE_IN_CONDITION_QUESTIONNAIRE}|1.0.0`, subject } as Resource), undefined, [TOPICS.changeInCondition]],
    ['an in-progress report', ev({ resourceType: 'QuestionnaireResponse', status: 'in-progress', questionnaire: CHANGE_IN_CONDITION_QUESTIONNAIRE, subject } as Resource), undefined, []],
    [
      'a new hcbs-assessment QuestionnaireResponse',
      ev({ resourceType: 'QuestionnaireResponse', status: 'completed', subject, identifier: { system: 'https://lead-gateway.example.org/fhir/sid/source/mco-x/hcbs-assessment', value: '1' } } as Resource),
      undefined,
      [TOPICS.newHcbsAssessment],
    ],
    [
      'an updated hcbs-assessment QuestionnaireResponse',
      ev({ resourceType: 'QuestionnaireResponse', status: 'amended', subject, identifier: { system: 'https://lead-gateway.example.org/fhir/sid/source/mco-x/hcbs-assessment', value: '1' } } as Resource, 'update', '2'),
      undefined,
      [],
    ],
    ['a falls RiskAssessment created high', ev(falls('high')), undefined, [TOPICS.fallRiskElevated]],
    ['a falls RiskAssessment going moderate → high', ev(falls('high'), 'update', '2'), falls('moderate'), [TOPICS.fallRiskElevated]],
    ['a falls RiskAssessment staying high', ev(falls('high'), 'update', '2'), falls('high'), []],
    ['a falls RiskAssessment created low', ev(falls('low')), undefined, []],
    ['an at-risk-for-falls Condition', ev(atRisk()), undefined, [TOPICS.fallRiskElevated]],
    ['a resolved at-risk-for-falls Condition', ev(atRisk('resolved')), undefined, []],
    ['a shared-risk tier change', ev(shared('high'), 'update', '2'), shared('moderate'), [TOPICS.riskTierChanged]],
    ['a shared-risk update with the same tier', ev(shared('high'), 'update', '2'), shared('high'), []],
    ['a new shared-risk RiskAssessment (no previous tier)', ev(shared('high')), undefined, []],
    ['a roster Group version', ev({ resourceType: 'Group', type: 'person', actual: true, identifier: [{ system: ALIGNMENT_ROSTER_SYSTEM, value: 'aco-x-2028' }], managingEntity: { reference: 'Organization/aco-x' } } as Resource, 'update', '3'), undefined, [TOPICS.rosterChanged]],
    ['another Group', ev({ resourceType: 'Group', type: 'person', actual: true } as Resource), undefined, []],
    ['a deletion', { kind: 'delete', resourceType: 'RiskAssessment', id: 'r1', versionId: '3' }, undefined, []],
  ])('%s', (_what, event, previous, topics) => {
    expect(matchTopics(event, previous).map((e) => e.topic)).toEqual(topics);
  });

  it('names the person (or the roster manager) the event is about', () => {
    expect(matchTopics(ev(falls('high')))[0].patientId).toBe('p1');
    const roster = ev({ resourceType: 'Group', type: 'person', actual: true, identifier: [{ system: ALIGNMENT_ROSTER_SYSTEM, value: 'r' }], managingEntity: { reference: 'Organization/aco-x' } } as Resource);
    expect(matchTopics(roster)[0]).toEqual({ topic: TOPICS.rosterChanged, managingOrganization: 'aco-x' });
  });
});
