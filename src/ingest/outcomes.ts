// The catalogue of ingest API errors (greppable: `ingestOutcomes.jobNotFound`).
import { FhirError, outcome } from '../fhir/outcomes.js';

export const ingestOutcomes = {
  unknownLayout: (layout: string, known: readonly string[]) =>
    new FhirError(404, outcome('error', 'not-found', `Unknown layout "${layout}": one of ${known.join(', ')}`)),
  organizationNotAllowed: (type: string) =>
    new FhirError(403, outcome('error', 'forbidden', `Organizations of type ${type} cannot upload source data (SMA and MCO only)`)),
  scopeNotAllowed: (layout: string, types: string[]) =>
    new FhirError(
      403,
      outcome('error', 'forbidden', `Layout ${layout} writes ${types.join(', ')}: the granted scopes must allow create and update on each`),
    ),
  unsupportedFormat: (contentType: string | undefined) =>
    new FhirError(
      415,
      outcome(
        'error',
        'not-supported',
        `Content-Type "${contentType ?? ''}" is not a source format: use text/csv, application/x-ndjson or application/fhir+ndjson (or ?format=csv|ndjson)`,
      ),
    ),
  emptyUpload: () => new FhirError(400, outcome('error', 'invalid', 'The upload is empty')),
  tooLarge: (limit: number) => new FhirError(413, outcome('error', 'too-costly', `The upload exceeds the limit of ${limit} bytes`)),
  /** Unknown, or another organization's job: the same answer, so none is revealed. */
  jobNotFound: () => new FhirError(404, outcome('error', 'not-found', 'Ingest job not found')),
  queueUnavailable: () => new FhirError(503, outcome('error', 'transient', 'The ingest queue is unavailable; retry later'), { 'Retry-After': '10' }),
};
