// Record errors as OperationOutcome issues: every rejection names its line, field and reason.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];

/** An issue located at a source line and field (FHIRPath-like `expression` = the source column). */
export function recordIssue(
  line: number,
  field: string | undefined,
  reason: string,
  options: { severity?: 'error' | 'warning' | 'information'; code?: IssueCode } = {},
): OperationOutcomeIssue {
  const issue: OperationOutcomeIssue = {
    severity: options.severity ?? 'error',
    code: options.code ?? 'invalid',
    diagnostics: field ? `line ${line}, ${field}: ${reason}` : `line ${line}: ${reason}`,
    // Line[n] is the location form the HL7 validator reports for source positions.
    location: [`Line[${line}]`],
  };
  if (field) issue.expression = [field];
  return issue;
}

export function hasErrors(issues: OperationOutcomeIssue[]): boolean {
  return issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
}
