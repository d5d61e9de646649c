// The one shared RiskAssessment per person (pure): stable id from the patient id, the protocol
// in `method`, the tier as an HL7 risk-probability code, the score in an extension and in the
// rationale, and `basis` naming every input considered.
import { createHash } from 'node:crypto';
import type { RiskAssessment } from '@medplum/fhirtypes';
import { SYSTEM } from '../mappers/common/systems.js';
import { SNOMED_FALL_EVENT } from '../mappers/falls-screen/instruments.js';
import { RISK_PROBABILITY_SYSTEM, SHARED_RISK_PROFILE, SHARED_RISK_PROTOCOL_SYSTEM, SHARED_RISK_SCORE_EXTENSION, TIER_CODE } from './codes.js';
import type { RiskProtocol } from './protocol.js';
import type { Stratification } from './stratify.js';

/**
 * `shared-risk-<patient id>` while that fits the 64-character id limit (patient ids the mappers
 * make are 36-character UUIDs); a longer patient id is replaced by a SHA-256 prefix
 * (`shared-risk-h-<40 hex>`). Same patient, same id: the assessment is updated in place.
 */
export function sharedRiskAssessmentId(patientId: string): string {
  const plain = `shared-risk-${patientId}`;
  if (plain.length <= 64) return plain;
  return `shared-risk-h-${createHash('sha256').update(patientId, 'utf8').digest('hex').slice(0, 40)}`;
}

export function rationaleOf(protocol: RiskProtocol, result: Stratification): string {
  const rules = result.rulesFired.length ? result.rulesFired.map((r) => `${r.id} +${r.points}`).join(', ') : 'no rule fired';
  return (
    `Score ${result.score} under ${protocol.id} ${protocol.version} ` +
    `(high >= ${protocol.tiers.high.minScore}, medium >= ${protocol.tiers.medium.minScore}): ${rules}.`
  );
}

export function buildSharedRiskAssessment(input: {
  patientId: string;
  protocol: RiskProtocol;
  result: Stratification;
  occurrence: string;
}): RiskAssessment & { id: string } {
  const { protocol, result } = input;
  const tier = TIER_CODE[result.tier];
  const ra: RiskAssessment & { id: string } = {
    resourceType: 'RiskAssessment',
    id: sharedRiskAssessmentId(input.patientId),
    meta: { profile: [SHARED_RISK_PROFILE] },
    status: 'final',
    method: {
      coding: [{ system: SHARED_RISK_PROTOCOL_SYSTEM, code: protocol.id, version: protocol.version, display: protocol.title }],
      text: `${protocol.title} ${protocol.version}`,
    },
    subject: { reference: `Patient/${input.patientId}` },
    occurrenceDateTime: input.occurrence,
    prediction: [
      {
        extension: [{ url: SHARED_RISK_SCORE_EXTENSION, valueInteger: result.score }],
        outcome: { coding: [{ system: SYSTEM.snomed, ...SNOMED_FALL_EVENT }], text: 'Fall' },
        qualitativeRisk: { coding: [{ system: RISK_PROBABILITY_SYSTEM, code: tier.code, display: tier.display }], text: `${result.tier} risk` },
        rationale: rationaleOf(protocol, result),
      },
    ],
  };
  if (result.basis.length) ra.basis = result.basis.map((reference) => ({ reference }));
  return ra;
}
