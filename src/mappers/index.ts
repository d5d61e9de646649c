// The layouts the gateway ingests, by name (the `--layout` of `lead-gateway ingest`).
import { eligibilityMonthLayout } from './eligibility-month/index.js';
import { fallsScreenLayout } from './falls-screen/index.js';
import { hcbsAssessmentLayout } from './hcbs-assessment/index.js';
import { createPharmacyClaimsLayout, type RxNormCrosswalk } from './pharmacy-claims/index.js';
import type { Layout } from './common/types.js';

export const LAYOUT_NAMES = ['hcbs-assessment', 'pharmacy-claims', 'falls-screen', 'eligibility-month'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];

export function createLayouts(options: { crosswalk: RxNormCrosswalk }): Record<LayoutName, Layout> {
  return {
    'hcbs-assessment': hcbsAssessmentLayout,
    'pharmacy-claims': createPharmacyClaimsLayout(options),
    'falls-screen': fallsScreenLayout,
    'eligibility-month': eligibilityMonthLayout,
  };
}

export type { Layout, MapContext, MappedRecord, MappedResource, MapResult, WriteMode } from './common/types.js';
export { assessMedicationRisk, type FridClassList, type MedicationRiskOptions } from './pharmacy-claims/medication-risk.js';
export { parseRxNormCrosswalk, type RxNormCrosswalk } from './pharmacy-claims/index.js';
