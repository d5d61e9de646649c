// Who is calling: known to every FHIR handler after requireBearer (consent and audit need it).
import type { Response } from 'express';
import type { OrganizationType } from '../config/partners.js';
import type { GrantedScopes } from './scopes.js';

export interface Requester {
  clientId: string;
  organizationId: string;
  organizationType: OrganizationType;
  scopes: GrantedScopes;
  /** v3-ActReason PurposeOfUse code asserted for this client (consent-security.md §1.3). */
  purposeOfUse: string;
}

/** The requester set by requireBearer; throws when the route is not behind requireBearer. */
export function requesterOf(res: Response): Requester {
  const requester = res.locals.requester as Requester | undefined;
  if (!requester) throw new Error('No requester: route is not behind requireBearer');
  return requester;
}
