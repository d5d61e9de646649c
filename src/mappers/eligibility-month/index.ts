// eligibility_month layout: schema, record checks and mapper, as the ingest pipeline uses them.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { checkHeaderColumns, checkRowSchema, compileRowSchema } from '../common/schema-check.js';
import type { Layout, SourceRow } from '../common/types.js';
import { LAYOUT, mapEligibilityMonth } from './map.js';
import schema from './schema.json' with { type: 'json' };

const validate = compileRowSchema(schema);

/** Record errors for one row: schema (required, formats, codes). */
export function checkRecord(row: SourceRow, line: number): OperationOutcomeIssue[] {
  return checkRowSchema(validate, row, line).issues;
}

export const eligibilityMonthLayout: Layout = {
  name: LAYOUT,
  schema,
  checkHeader: (columns) => checkHeaderColumns(columns, schema),
  checkRecord,
  mapRecord: mapEligibilityMonth,
};

export { mapEligibilityMonth };
