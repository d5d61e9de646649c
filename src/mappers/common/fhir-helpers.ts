// Small builders shared by the mappers (references, codings, identifiers, meta).
import type { CodeableConcept, Coding, Identifier, Meta, Reference, Resource } from '@medplum/fhirtypes';
import { IDENTIFIER } from './systems.js';

export function ref<T extends Resource>(resource: T & { id: string }, display?: string): Reference<T> {
  const r: Reference<T> = { reference: `${resource.resourceType}/${resource.id}` };
  if (display) r.display = display;
  return r;
}

export function refTo<T extends Resource = Resource>(resourceType: T['resourceType'], id: string): Reference<T> {
  return { reference: `${resourceType}/${id}` };
}

export function coding(system: string, code: string, display?: string): Coding {
  return display ? { system, code, display } : { system, code };
}

export function concept(codings: Coding[], text?: string): CodeableConcept {
  const c: CodeableConcept = { coding: codings };
  if (text) c.text = text;
  return c;
}

/** The business identifier that ties a resource to its source record. */
export function sourceIdentifier(sourceOrg: string, layout: string, value: string): Identifier {
  return { use: 'official', system: IDENTIFIER.sourceRecord(sourceOrg, layout), value };
}

export function meta(profile: string): Meta {
  return { profile: [profile] };
}

/** Drops undefined properties so golden JSON and content comparisons stay stable. */
export function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}
