// What the FHIR core asks of authorization: may this caller do this interaction on this type?
// The SMART scope check (src/auth) provides one per request; the core only calls it.
import { outcomes } from './outcomes.js';

/** SMART v2 maps these onto c/r/u/d/s (read, vread and history are "r"; Bulk Data export needs both). */
export type Interaction = 'create' | 'read' | 'vread' | 'history' | 'update' | 'delete' | 'search' | 'export';

export interface AccessCheck {
  allows(resourceType: string, interaction: Interaction): boolean;
}

export function assertAllowed(access: AccessCheck, resourceType: string, interaction: Interaction): void {
  if (!access.allows(resourceType, interaction)) {
    throw outcomes.forbidden(`The granted scopes do not allow ${interaction} on ${resourceType}`);
  }
}

/** For in-process callers that are already trusted (ingest pipeline, tests of the store). */
export const trustedAccess: AccessCheck = { allows: () => true };
