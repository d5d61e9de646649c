// pharmacy-claims layout (T-MSIS TAF RX): schema, record checks, mapper bound to a crosswalk.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { recordIssue } from '../common/issues.js';
import { checkHeaderColumns, checkRowSchema, compileRowSchema } from '../common/schema-check.js';
import type { Layout, SourceRow } from '../common/types.js';
import type { RxNormCrosswalk } from './crosswalk.js';
import { LAYOUT, mapPharmacyClaim } from './map.js';
import { normalizeNdc } from './ndc.js';
import schema from './schema.json' with { type: 'json' };

const validate = compileRowSchema(schema);

/** Record errors: schema (required, dates, codes, days supply ≥ 1) and NDC shape. */
export function checkRecord(row: SourceRow, line: number): OperationOutcomeIssue[] {
  const issues = checkRowSchema(validate, row, line).issues;
  if (row.NDC_CD && !issues.some((i) => i.expression?.[0] === 'NDC_CD')) {
    const ndc = normalizeNdc(row.NDC_CD);
    if (!ndc.ok) issues.push(recordIssue(line, 'NDC_CD', ndc.reason, { code: 'value' }));
  }
  if (row.PRSCRBD_DT && row.RX_FILL_DT && row.PRSCRBD_DT > row.RX_FILL_DT) {
    issues.push(recordIssue(line, 'PRSCRBD_DT', 'prescribed after it was filled', { code: 'value' }));
  }
  return issues;
}

export function createPharmacyClaimsLayout(options: { crosswalk: RxNormCrosswalk }): Layout {
  return {
    name: LAYOUT,
    schema,
    checkHeader: (columns) => checkHeaderColumns(columns, schema),
    checkRecord,
    mapRecord: (rows, ctx) => mapPharmacyClaim(rows, ctx, options.crosswalk),
  };
}

export { mapPharmacyClaim, medicationConcept } from './map.js';
export { normalizeNdc } from './ndc.js';
export { parseRxNormCrosswalk, type RxNormCrosswalk } from './crosswalk.js';
