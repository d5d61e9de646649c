// The catalogue of Bulk Data protocol errors (greppable: `bulkOutcomes.requirePreferAsync`).
// Spec: Bulk Data Access v2.0.0 export.md; every error leaves as an OperationOutcome.
import { FhirError, outcome } from '../outcomes.js';

export const bulkOutcomes = {
  requirePreferAsync: () =>
    new FhirError(400, outcome('error', 'invalid', 'The Prefer header must include respond-async (Bulk Data kick-off is asynchronous)')),
  unsupportedParameter: (name: string, why: string) =>
    new FhirError(400, outcome('error', 'not-supported', `Parameter ${name} is not supported: ${why}`, [name])),
  invalidParameter: (name: string, why: string) => new FhirError(400, outcome('error', 'invalid', `Invalid ${name}: ${why}`, [name])),
  typeNotPermitted: (type: string) =>
    new FhirError(403, outcome('error', 'forbidden', `The granted scopes do not allow export of ${type}`, ['_type'])),
  tooManyExports: (retryAfter: number, limit: number) =>
    new FhirError(
      429,
      outcome('error', 'throttled', `An export of this client is already in progress (limit ${limit}): wait for it or DELETE it`),
      { 'Retry-After': String(retryAfter) },
    ),
  pollingTooFast: (retryAfter: number) =>
    new FhirError(429, outcome('error', 'throttled', 'Polled too soon: wait for Retry-After'), { 'Retry-After': String(retryAfter) }),
  /** Unknown, cancelled, expired, or another client's job: the same answer, so none is revealed. */
  jobNotFound: () => new FhirError(404, outcome('error', 'not-found', 'Export job not found (unknown, deleted or expired)')),
  fileNotFound: () => new FhirError(404, outcome('error', 'not-found', 'Export file not found (unknown, deleted or expired)')),
  groupNotFound: () => new FhirError(404, outcome('error', 'not-found', 'Group not found')),
  exportFailed: () => new FhirError(500, outcome('error', 'exception', 'The export failed; start a new one')),
  queueUnavailable: () => new FhirError(503, outcome('error', 'transient', 'The export queue is unavailable; retry later'), { 'Retry-After': '10' }),
};
