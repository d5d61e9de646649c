// The one seam every disclosure passes through (REST reads, exchange deliveries, bulk export):
// given who receives the data and why, which resources may go, and in what form.
//
// Until the consent engine lands (labeler, decision point, Consent resources), this passes
// everything through unchanged; its callers already route every disclosure through here, so
// the engine replaces the body of this function and nothing else.
import type { Resource } from '@medplum/fhirtypes';

export interface Recipient {
  organizationId: string;
  /** v3-ActReason PurposeOfUse code from the client registration, never from a request body. */
  purposeOfUse: string;
  clientId?: string;
}

export interface FilterResult<T extends Resource = Resource> {
  /** What may be disclosed, possibly redacted. */
  permitted: T[];
  /** How many resources were withheld (never which: that itself would disclose). */
  withheld: number;
}

export async function filterForRecipient<T extends Resource>(recipient: Recipient, resources: T[]): Promise<FilterResult<T>> {
  void recipient;
  return { permitted: resources, withheld: 0 };
}
