// Groups consecutive rows that share a record key (an assessment's header and items, a screen's
// items) into one source record. Memory is bounded by maxRows: a larger record is rejected whole.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { recordIssue } from '../mappers/common/issues.js';
import type { LineRow, SourceRow } from '../mappers/common/types.js';

export type GroupEvent =
  | { rows: LineRow[]; issues: OperationOutcomeIssue[] }
  | { line: number; issues: OperationOutcomeIssue[] };

export interface GroupInput {
  line: number;
  row?: SourceRow;
  /** A line that could not be read: it belongs to no known record. */
  error?: OperationOutcomeIssue;
}

/**
 * Yields one event per source record ({rows, issues}; non-empty issues = reject the record whole)
 * and one per unreadable line ({line, issues}). When an unreadable line sits between rows of the
 * same record, that record is rejected too: it may have lost a row, and must not be half stored.
 */
export async function* groupRows(
  input: AsyncIterable<GroupInput>,
  key: ((row: SourceRow) => string) | undefined,
  maxRows = 1000,
): AsyncGenerator<GroupEvent> {
  let current: { key: string; rows: LineRow[]; issues: OperationOutcomeIssue[]; dropped: number } | undefined;
  let gapAfterCurrent: number | undefined; // line of an unreadable line seen after current's rows

  const close = (): GroupEvent | undefined => {
    if (!current) return undefined;
    const ev: GroupEvent = { rows: current.rows, issues: current.issues };
    if (current.dropped) {
      ev.issues.push(recordIssue(current.rows[0].line, undefined, `record has more than ${maxRows} rows (${current.rows.length + current.dropped}): rejected`, { code: 'too-costly' }));
    }
    current = undefined;
    gapAfterCurrent = undefined;
    return ev;
  };

  for await (const item of input) {
    if (item.error) {
      yield { line: item.line, issues: [item.error] };
      if (current) gapAfterCurrent ??= item.line;
      continue;
    }
    const row = item.row!;
    const k = key ? key(row) : `line:${item.line}`;
    if (current && current.key === k) {
      if (gapAfterCurrent !== undefined) {
        current.issues.push(recordIssue(item.line, undefined, `line ${gapAfterCurrent} of this record could not be read: record rejected`, { code: 'incomplete' }));
        gapAfterCurrent = undefined;
      }
      if (current.rows.length < maxRows) current.rows.push({ line: item.line, row });
      else current.dropped++;
      continue;
    }
    const done = close();
    if (done) yield done;
    current = { key: k, rows: [{ line: item.line, row }], issues: [], dropped: 0 };
  }
  const done = close();
  if (done) yield done;
}
