// Which people a resource is about: the Patient itself, or every Patient it refers to anywhere
// (subject, patient, beneficiary, Provenance/AuditEvent entities, Group members…). A resource
// about several people is disclosed only when every one of them allows it.
import type { Resource } from '@medplum/fhirtypes';

const PATIENT_REF = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/;

export function patientsOf(resource: Resource): string[] {
  if (resource.resourceType === 'Patient') return resource.id ? [resource.id] : [];
  const out = new Set<string>();
  const visit = (node: unknown, depth: number): void => {
    if (!node || typeof node !== 'object' || depth > 40) return;
    if (Array.isArray(node)) {
      for (const x of node) visit(x, depth + 1);
      return;
    }
    const o = node as Record<string, unknown>;
    if (typeof o.reference === 'string') {
      const m = PATIENT_REF.exec(o.reference);
      if (m) out.add(m[1]);
    }
    for (const [k, v] of Object.entries(o)) {
      if (depth === 0 && (k === 'meta' || k === 'text')) continue;
      if (v && typeof v === 'object') visit(v, depth + 1);
    }
  };
  visit(resource, 0);
  return [...out];
}
