// The shared RiskAssessment: one stable id per person, the protocol in method, the tier as an
// HL7 risk-probability code, the score, basis; valid against the store's validator.
import { loadProtocol } from '../../../src/risk/protocol.js';
import { buildSharedRiskAssessment, sharedRiskAssessmentId } from '../../../src/risk/shared-risk-assessment.js';
import { ID_RE } from '../../../src/fhir/store/repository.js';
import { validationErrors } from '../../support/fhir-validation.js';

const protocol = loadProtocol();
const result = { tier: 'medium' as const, score: 3, basis: ['Condition/c1', 'RiskAssessment/r1'], rulesFired: [{ id: 'falls-screen-positive', points: 3 }] };

describe('shared RiskAssessment', () => {
  it('has a stable id from the patient id, within the 64-character id rule even for the longest patient id', () => {
    expect(sharedRiskAssessmentId('0b5e6f3a-2d1c-5e8f-9a7b-1c2d3e4f5a6b')).toBe('shared-risk-0b5e6f3a-2d1c-5e8f-9a7b-1c2d3e4f5a6b');
    const long = 'p'.repeat(64);
    expect(sharedRiskAssessmentId(long)).toBe(sharedRiskAssessmentId(long));
    expect(sharedRiskAssessmentId(long)).toMatch(ID_RE);
    expect(sharedRiskAssessmentId(long)).not.toBe(sharedRiskAssessmentId('q'.repeat(64)));
  });

  it('names the protocol and version in method, medium as risk-probability "moderate", the score, and the inputs', () => {
    const ra = buildSharedRiskAssessment({ patientId: 'p1', protocol, result, occurrence: '2026-11-01T09:00:00.000Z' });
    expect(ra).toMatchObject({
      status: 'final',
      subject: { reference: 'Patient/p1' },
      occurrenceDateTime: '2026-11-01T09:00:00.000Z',
      basis: [{ reference: 'Condition/c1' }, { reference: 'RiskAssessment/r1' }],
    });
    expect(ra.method?.coding?.[0]).toMatchObject({
      system: 'https://lead-gateway.example.org/fhir/CodeSystem/shared-risk-protocol',
      code: protocol.id,
      version: protocol.version,
    });
    expect(ra.prediction?.[0].qualitativeRisk?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/risk-probability', code: 'moderate' });
    expect(ra.prediction?.[0].extension).toEqual([{ url: 'https://lead-gateway.example.org/fhir/StructureDefinition/shared-risk-score', valueInteger: 3 }]);
    expect(ra.prediction?.[0].rationale).toBe(`Score 3 under ${protocol.id} ${protocol.version} (high >= 5, medium >= 2): falls-screen-positive +3.`);
    expect(validationErrors(ra)).toEqual([]);
  });

  it('validates with no inputs at all (low, no basis), and the profile rejects a missing tier', () => {
    const low = buildSharedRiskAssessment({ patientId: 'p1', protocol, result: { tier: 'low', score: 0, basis: [], rulesFired: [] }, occurrence: '2026-11-01' });
    expect(low.basis).toBeUndefined();
    expect(low.prediction?.[0].qualitativeRisk?.coding?.[0].code).toBe('low');
    expect(validationErrors(low)).toEqual([]);
    const noTier = { ...low, prediction: [{ ...low.prediction![0], qualitativeRisk: undefined }] };
    expect(validationErrors(noTier).join('\n')).toMatch(/qualitativeRisk/);
  });
});
