// Validates emitted resources with the store's own Validator (src/fhir/validation): the official
// R4 JSON Schema (formats, required-binding codes) and @medplum/core (cardinality, invariants,
// slices) against base R4 and every profile of ours in meta.profile, each profile parsed once.
// Loaded once per jest worker (R4 definitions ~0.6 s, 75 MiB).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { Validator } from '../../src/fhir/validation/validator.js';

const profilesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'profiles');
let validator: Validator | undefined;

/** Error-level issues, each prefixed with the resource; a declared profile we do not publish is one too. */
export function validationErrors(resource: Resource): string[] {
  validator ??= Validator.fromProfileDir(profilesDir);
  const label = `${resource.resourceType}/${resource.id}`;
  const out = (resource.meta?.profile ?? [])
    .filter((url) => !validator!.profiles.has(url))
    .map((url) => `${label}: declares ${url}, which is not in /profiles`);
  for (const i of validator.issues(resource)) {
    if (i.severity === 'error' || i.severity === 'fatal') out.push(`${label}: ${describe(i)} @ ${i.expression?.join(',') ?? ''}`);
  }
  return out;
}

/** Fails with every issue of every resource (one expect, readable output). */
export function expectAllValid(resources: Resource[]): void {
  const errors = resources.flatMap(validationErrors);
  if (errors.length) throw new Error(`Invalid FHIR:\n${errors.join('\n')}`);
}

function describe(issue: OperationOutcomeIssue): string {
  return [issue.details?.text, issue.diagnostics].filter(Boolean).join(' ');
}
