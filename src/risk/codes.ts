// The URIs the shared risk stratification writes and reads. Local ones live under the gateway's
// canonical (src/mappers/common/systems.ts); the risk-probability codes are HL7's
// (terminology.hl7.org CodeSystem risk-probability: negligible, low, moderate, high, certain —
// read in the THO code system page).
import { LEAD_CANONICAL, SYSTEM } from '../mappers/common/systems.js';

/** CodeSystem of the protocols: code = protocol id, version = protocol version (profiles/CodeSystem-shared-risk-protocol.json). */
export const SHARED_RISK_PROTOCOL_SYSTEM = `${LEAD_CANONICAL}/CodeSystem/shared-risk-protocol`;
/** Profile of the one shared RiskAssessment per person. */
export const SHARED_RISK_PROFILE = `${LEAD_CANONICAL}/StructureDefinition/lead-riskassessment-shared`;
/** Extension carrying the protocol score (integer points) on RiskAssessment.prediction. */
export const SHARED_RISK_SCORE_EXTENSION = `${LEAD_CANONICAL}/StructureDefinition/shared-risk-score`;

export const RISK_PROBABILITY_SYSTEM = SYSTEM.riskProbability;

export type Tier = 'high' | 'medium' | 'low';

/** Tier → risk-probability code: the protocol's "medium" is HL7's "moderate". */
export const TIER_CODE: Record<Tier, { code: 'high' | 'moderate' | 'low'; display: string }> = {
  high: { code: 'high', display: 'High likelihood' },
  medium: { code: 'moderate', display: 'Moderate likelihood' },
  low: { code: 'low', display: 'Low likelihood' },
};
