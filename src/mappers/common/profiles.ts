// Profiles the mappers declare in meta.profile. Their StructureDefinitions live in /profiles
// (built by profiles/tools/build-profiles.mjs from US Core 6.1.0 / base R4).
import { LEAD_CANONICAL } from './systems.js';

const sd = (id: string): string => `${LEAD_CANONICAL}/StructureDefinition/${id}`;

export const PROFILE = {
  patient: sd('lead-patient'),
  practitioner: sd('lead-practitioner'),
  organization: sd('lead-organization'),
  provenance: sd('lead-provenance'),
  questionnaireResponse: sd('lead-questionnaireresponse'),
  assessmentObservation: sd('lead-assessment-observation'),
  medicationRiskObservation: sd('lead-medication-risk-observation'),
  medicationDispense: sd('lead-medicationdispense'),
  medicationRequest: sd('lead-medicationrequest'),
  fallRiskCondition: sd('lead-condition-fall-risk'),
  coverage: sd('lead-coverage'),
  fallRiskAssessment: sd('lead-riskassessment-fall'),
} as const;
