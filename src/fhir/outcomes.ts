// The catalogue of protocol errors. Anything in the gateway may throw a FhirError; the one
// HTTP adapter turns it into an OperationOutcome with its status. Every other exception is an
// internal error: 500, a generic OperationOutcome, and no stack trace to the caller.
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];

export class FhirError extends Error {
  constructor(
    public readonly status: number,
    public readonly outcome: OperationOutcome,
    public readonly headers: Record<string, string> = {},
  ) {
    super(outcome.issue?.[0]?.diagnostics ?? outcome.issue?.[0]?.details?.text ?? `HTTP ${status}`);
    this.name = 'FhirError';
  }
}

export function outcome(
  severity: OperationOutcomeIssue['severity'],
  code: IssueCode,
  diagnostics: string,
  expression?: string[],
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression?.length) issue.expression = expression;
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

const fail = (status: number, code: IssueCode, msg: string, expression?: string[]): FhirError =>
  new FhirError(status, outcome('error', code, msg, expression));

export const allOk = (msg = 'All OK'): OperationOutcome => outcome('information', 'informational', msg);

export const outcomes = {
  badRequest: (msg: string, expression?: string[]) => fail(400, 'invalid', msg, expression),
  invalidJson: (msg: string) => fail(400, 'structure', `Request body is not valid JSON: ${msg}`),
  unknownSearchParameter: (type: string, code: string) =>
    fail(400, 'not-supported', `Unknown search parameter "${code}" for ${type}`, [code]),
  unauthorized: (msg = 'Authentication required') => fail(401, 'login', msg),
  forbidden: (msg: string) => fail(403, 'forbidden', msg),
  notFound: (what: string) => fail(404, 'not-found', `${what} not found`),
  /** A 404 whose message is already a sentence ("No alignment decision for …"). */
  notFoundMessage: (msg: string) => fail(404, 'not-found', msg),
  /** A valid request this server does not answer (a search parameter a type's store lacks). */
  notSupported: (msg: string, expression?: string[]) => fail(400, 'not-supported', msg, expression),
  /** A type only the gateway writes (AuditEvent). */
  readOnlyType: (type: string) => new FhirError(405, outcome('error', 'not-supported', `${type} resources are written by the gateway only: they cannot be created, changed or deleted through the API`)),
  unknownResourceType: (type: string) => fail(404, 'not-supported', `Unknown resource type "${type}"`),
  methodNotAllowed: (method: string, path: string) =>
    new FhirError(405, outcome('error', 'not-supported', `${method} is not allowed on ${path}`)),
  notAcceptable: (msg: string) => fail(406, 'not-supported', msg),
  conflict: (msg: string) => fail(409, 'conflict', msg),
  gone: (what: string) => fail(410, 'deleted', `${what} has been deleted`),
  preconditionFailed: (msg: string) => fail(412, 'conflict', msg),
  multipleMatches: (msg: string) => fail(412, 'multiple-matches', msg),
  tooLarge: (limit: number) => fail(413, 'too-costly', `Request body exceeds the limit of ${limit} bytes`),
  unsupportedMediaType: (type: string | undefined) =>
    fail(415, 'not-supported', `Unsupported Content-Type "${type ?? ''}": use application/fhir+json`),
  unprocessable: (issues: OperationOutcomeIssue[]) =>
    new FhirError(422, { resourceType: 'OperationOutcome', issue: issues }),
  tooManyRequests: (retryAfterSeconds: number) =>
    new FhirError(429, outcome('error', 'throttled', 'Too many requests'), { 'Retry-After': String(retryAfterSeconds) }),
  internal: () => fail(500, 'exception', 'Internal server error'),
  unavailable: (msg: string) => fail(503, 'transient', msg),
};

/** Maps any thrown value to a FhirError; unknown errors become a bare 500. */
export function toFhirError(err: unknown): FhirError {
  return err instanceof FhirError ? err : outcomes.internal();
}
