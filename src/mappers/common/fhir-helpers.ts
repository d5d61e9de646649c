// Small builders shared by the mappers (references, identifiers, meta).
import type { Identifier, Meta, Reference, Resource } from '@medplum/fhirtypes';
import { IDENTIFIER } from './systems.js';

export function ref<T extends Resource>(resource: T & { id: string }, display?: string): Reference<T> {
  const r: Reference<T> = { reference: `${resource.resourceType}/${resource.id}` };
  if (display) r.display = display;
  return r;
}

/** The business identifier that ties a resource to its source record. */
export function sourceIdentifier(sourceOrg: string, layout: string, value: string): Identifier {
  return { use: 'official', system: IDENTIFIER.sourceRecord(sourceOrg, layout), value };
}

export function meta(profile: string): Meta {
  return { profile: [profile] };
}

