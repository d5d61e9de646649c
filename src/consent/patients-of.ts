// Which people a resource is about: the Patient itself, or every Patient it refers to anywhere
// (subject, patient, beneficiary, Provenance/AuditEvent entities, Group members…). A resource
// about several people is disclosed only when every one of them allows it.
import type { Resource } from '@medplum/fhirtypes';

export const PATIENT_REF = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/;

export function patientsOf(resource: Resource): string[] {
  if (resource.resourceType === 'Patient') return resource.id ? [resource.id] : [];
  const out = new Set<string>();
  let r = resource as unknown as Record<string, unknown>;
  // An alignment roster's dropped (inactive) members are no longer the ACO's people: the roster
  // tells the ACO who left (ATR changeType dropped) without needing a relationship with them.
  if (resource.resourceType === 'Group' && resource.member?.some((m) => m.inactive)) {
    r = { ...r, member: resource.member.filter((m) => !m.inactive) };
  }
  for (const k in r) {
    if (k === 'meta' || k === 'text') continue;
    const v = r[k];
    if (v !== null && typeof v === 'object') visit(v, out, 1);
  }
  return [...out];
}

// Hot path (every resource of every page): for…in, no intermediate arrays.
function visit(node: object, out: Set<string>, depth: number): void {
  if (depth > 40) return;
  if (Array.isArray(node)) {
    for (const x of node) if (x !== null && typeof x === 'object') visit(x, out, depth + 1);
    return;
  }
  const o = node as Record<string, unknown>;
  const ref = o.reference;
  if (typeof ref === 'string' && ref.includes('Patient/')) {
    const m = PATIENT_REF.exec(ref);
    if (m) out.add(m[1]);
  }
  for (const k in o) {
    const v = o[k];
    if (v !== null && typeof v === 'object') visit(v, out, depth + 1);
  }
}
