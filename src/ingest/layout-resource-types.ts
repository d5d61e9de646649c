// The resource types each layout writes (mappers, Provenance, medication-risk observations).
// Upload authorization checks the client's scopes against this list before anything is read;
// test/unit/ingest/layout-resource-types.test.ts keeps it equal to what the mappers emit.
import type { LayoutName } from '../mappers/index.js';

const SHARED = ['Patient', 'Organization', 'Provenance'];

export const LAYOUT_RESOURCE_TYPES: Record<LayoutName, readonly string[]> = {
  'hcbs-assessment': [...SHARED, 'Practitioner', 'QuestionnaireResponse', 'Observation', 'MedicationRequest'],
  'pharmacy-claims': [...SHARED, 'Practitioner', 'MedicationDispense', 'MedicationRequest', 'Observation'],
  'falls-screen': [...SHARED, 'Practitioner', 'QuestionnaireResponse', 'Observation', 'RiskAssessment', 'Condition'],
  'eligibility-month': [...SHARED, 'Coverage'],
};
