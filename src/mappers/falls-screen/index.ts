// falls_screen layout: schema, per-row checks (item and answer codes per tool), mapper.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { recordIssue } from '../common/issues.js';
import { checkHeaderColumns, checkRowSchema, compileRowSchema } from '../common/schema-check.js';
import type { Layout, SourceRow } from '../common/types.js';
import { findItem, INSTRUMENTS, type Tool } from './instruments.js';
import { LAYOUT, mapFallsScreen, screenRecordId } from './map.js';
import schema from './schema.json' with { type: 'json' };

const validate = compileRowSchema(schema);

export function checkRecord(row: SourceRow, line: number): OperationOutcomeIssue[] {
  const issues = checkRowSchema(validate, row, line).issues;
  const tool = row.tool as Tool;
  if (issues.length || !INSTRUMENTS[tool]) return issues;
  const item = findItem(tool, row.item_id);
  if (!item) {
    const known = INSTRUMENTS[tool].items.map((i) => i.id).join(', ');
    return [recordIssue(line, 'item_id', `unknown item ${row.item_id} for ${tool}; expected one of: ${known}`, { code: 'code-invalid' })];
  }
  if (item.numeric) {
    if (row.tug_seconds === undefined) issues.push(recordIssue(line, 'tug_seconds', 'required for item TUG', { code: 'required' }));
  } else if (row.response === undefined) {
    issues.push(recordIssue(line, 'response', 'required field is missing', { code: 'required' }));
  } else if (!item.answers![row.response]) {
    const allowed = Object.keys(item.answers!).join(', ');
    issues.push(recordIssue(line, 'response', `unknown code ${row.response} for ${row.item_id}; expected one of: ${allowed}`, { code: 'code-invalid' }));
  }
  return issues;
}

export const fallsScreenLayout: Layout = {
  name: LAYOUT,
  schema,
  recordKey: screenRecordId,
  maxRowsPerRecord: 50,
  checkHeader: (columns) => checkHeaderColumns(columns, schema),
  checkRecord,
  mapRecord: mapFallsScreen,
};

export { mapFallsScreen } from './map.js';
export { scoreScreen, morseBand } from './scoring.js';
export { INSTRUMENTS } from './instruments.js';
