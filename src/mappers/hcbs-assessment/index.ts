// hcbs-assessment layout: one file of header/item/medication rows, grouped by assessment_id.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { checkHeaderColumns, checkRowSchema, compileRowSchema } from '../common/schema-check.js';
import type { Layout, SourceRow } from '../common/types.js';
import { assessmentRecordId, checkItemRow, LAYOUT, mapHcbsAssessment } from './map.js';
import schema from './schema.json' with { type: 'json' };

const validate = compileRowSchema(schema);

/** Record errors for one row: schema, and for item rows a known item with an answer from its list. */
export function checkRecord(row: SourceRow, line: number): OperationOutcomeIssue[] {
  const issues = checkRowSchema(validate, row, line).issues;
  if (!issues.length && row.record_type === 'item') issues.push(...checkItemRow(row, line, undefined));
  return issues;
}

export const hcbsAssessmentLayout: Layout = {
  name: LAYOUT,
  schema,
  recordKey: assessmentRecordId,
  maxRowsPerRecord: 1000,
  checkHeader: (columns) => checkHeaderColumns(columns, schema),
  checkRecord,
  mapRecord: mapHcbsAssessment,
};

export { mapHcbsAssessment } from './map.js';
export { ITEMS, ANSWER_LISTS } from './items.js';
