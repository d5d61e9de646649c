// OperationOutcome bodies for the auth layer's refusals at the FHIR API (401, 403, 429).
import type { Response } from 'express';

export type AuthIssueCode = 'login' | 'forbidden' | 'throttled';

export function operationOutcome(code: AuthIssueCode, diagnostics: string) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] } as const;
}

export function sendOutcome(res: Response, status: number, code: AuthIssueCode, diagnostics: string): void {
  res.status(status).type('application/fhir+json').send(JSON.stringify(operationOutcome(code, diagnostics)));
}
