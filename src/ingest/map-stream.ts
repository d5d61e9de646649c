// The pure middle of ingest: parsed rows → source records → checked → mapped. No store here, so
// the same chain serves the pipeline, the samples test and dry runs.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { hasErrors } from '../mappers/common/issues.js';
import type { Layout, MapContext, MappedRecord } from '../mappers/common/types.js';
import { groupRows, type GroupInput } from './group.js';
import type { ParseEvent } from './parse.js';

export type RecordOutcome =
  | { ok: true; record: MappedRecord }
  | { ok: false; lines: number[]; issues: OperationOutcomeIssue[] };

/** Checks the header (a bad header rejects the file), then maps record by record. */
export async function* mapSource(events: AsyncIterable<ParseEvent>, layout: Layout, ctx: MapContext): AsyncGenerator<RecordOutcome> {
  let headerIssues: OperationOutcomeIssue[] | undefined;
  async function* rows(): AsyncGenerator<GroupInput> {
    for await (const ev of events) {
      if ('header' in ev) {
        const issues = layout.checkHeader(ev.header);
        if (issues.length) {
          headerIssues = issues;
          return;
        }
      } else if ('error' in ev) yield { line: ev.line, error: ev.error };
      else yield { line: ev.line, row: ev.record };
    }
  }
  for await (const group of groupRows(rows(), layout.recordKey, layout.maxRowsPerRecord)) {
    if (!('rows' in group)) {
      yield { ok: false, lines: [group.line], issues: group.issues };
      continue;
    }
    const lines = group.rows.map((r) => r.line);
    const issues = [...group.issues, ...group.rows.flatMap((r) => layout.checkRecord(r.row, r.line))];
    if (hasErrors(issues)) {
      yield { ok: false, lines, issues };
      continue;
    }
    const mapped = layout.mapRecord(group.rows, ctx);
    yield mapped.ok ? { ok: true, record: mapped.record } : { ok: false, lines, issues: mapped.issues };
  }
  if (headerIssues) yield { ok: false, lines: [1], issues: headerIssues };
}
