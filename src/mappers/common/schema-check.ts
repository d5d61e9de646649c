// JSON Schema checks for source rows (ajv), with errors turned into per-field record issues.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { recordIssue } from './issues.js';
import type { SourceRow } from './types.js';

// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule.default;

// coerceTypes: CSV cells are strings; "12" satisfies `type: number`, "abc" is reported.
// strictRequired off: conditional `required` (if/then per row type) names properties defined at the top level.
const ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv, ['date', 'date-time']);
// Documentation keywords our schemas carry beyond standard JSON Schema.
ajv.addKeyword({ keyword: 'x-fhir', schemaType: 'string' });

export type RowValidator = ValidateFunction<Record<string, unknown>>;

export function compileRowSchema(schema: object): RowValidator {
  return ajv.compile<Record<string, unknown>>(schema);
}

/** Validates (and type-coerces, in a copy) one row; returns the coerced row and issues. */
export function checkRowSchema(
  validate: RowValidator,
  row: SourceRow,
  line: number,
): { value: Record<string, unknown>; issues: OperationOutcomeIssue[] } {
  const value: Record<string, unknown> = { ...row };
  if (validate(value)) return { value, issues: [] };
  // `if` errors only say which conditional branch failed; the branch's own errors follow.
  const issues = (validate.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => toIssue(e, line));
  return { value, issues: dedupe(issues) };
}

function toIssue(e: ErrorObject, line: number): OperationOutcomeIssue {
  const field = e.instancePath.replace(/^\//, '') || undefined;
  switch (e.keyword) {
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      return recordIssue(line, missing, 'required field is missing', { code: 'required' });
    }
    case 'additionalProperties': {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      return recordIssue(line, extra, 'unknown field', { code: 'structure' });
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.join(', ');
      return recordIssue(line, field, `unknown code; expected one of: ${allowed}`, { code: 'code-invalid' });
    }
    case 'format':
      return recordIssue(line, field, `not a valid ${String((e.params as { format: string }).format)} (ISO 8601)`, {
        code: 'value',
      });
    case 'minimum':
    case 'exclusiveMinimum':
      return recordIssue(line, field, `must be ${e.message?.replace(/^must be /, '')}`, { code: 'value' });
    default:
      return recordIssue(line, field, e.message ?? 'invalid value', { code: 'value' });
  }
}

function dedupe(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => (seen.has(i.diagnostics!) ? false : (seen.add(i.diagnostics!), true)));
}

/** A header row check: required columns present, no unknown columns. */
export function checkHeaderColumns(
  columns: string[],
  schema: { properties: Record<string, unknown>; required?: string[] },
  line = 1,
): OperationOutcomeIssue[] {
  const known = new Set(Object.keys(schema.properties));
  const present = new Set(columns);
  const issues: OperationOutcomeIssue[] = [];
  for (const c of columns) {
    if (!known.has(c)) issues.push(recordIssue(line, c, 'unknown column in header', { code: 'structure' }));
  }
  for (const r of schema.required ?? []) {
    if (!present.has(r)) issues.push(recordIssue(line, r, 'required column missing from header', { code: 'required' }));
  }
  return issues;
}
