// The layouts with their data files (RxNorm crosswalk, FRID class list), read once per process.
import { readFileSync } from 'node:fs';
import type { IngestConfig } from '../config/env.js';
import { createLayouts, type FridClassList, type Layout, type LayoutName, parseRxNormCrosswalk } from '../mappers/index.js';
import type { MedicationRiskOptions } from '../mappers/pharmacy-claims/medication-risk.js';

export interface IngestLayouts {
  layouts: Record<LayoutName, Layout>;
  /** Pharmacy claims recompute polypharmacy / FRID observations with these. */
  medicationRisk: MedicationRiskOptions;
}

export function loadIngestLayouts(files: Pick<IngestConfig, 'crosswalkFile' | 'fridClassesFile'>): IngestLayouts {
  const crosswalk = parseRxNormCrosswalk(readFileSync(files.crosswalkFile, 'utf8'));
  return {
    layouts: createLayouts({ crosswalk }),
    medicationRisk: { fridClasses: JSON.parse(readFileSync(files.fridClassesFile, 'utf8')) as FridClassList },
  };
}
