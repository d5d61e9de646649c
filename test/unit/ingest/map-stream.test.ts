// The pure chain (parse → group → check → map): NDJSON sources, and a large file with bad rows.
import { mapSource, type RecordOutcome } from '../../../src/ingest/map-stream.js';
import { parseSource } from '../../../src/ingest/parse.js';
import { createLayouts, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { ctx } from '../../support/map-context.js';

const layouts = createLayouts({ crosswalk: parseRxNormCrosswalk('ndc11,rxcui,rxnorm_display\n') });

async function run(lines: object[], layout: keyof typeof layouts): Promise<RecordOutcome[]> {
  const out: RecordOutcome[] = [];
  const input = (async function* () {
    yield lines.map((l) => JSON.stringify(l)).join('\n');
  })();
  for await (const o of mapSource(parseSource(input, { format: 'ndjson' }), layouts[layout], ctx)) out.push(o);
  return out;
}

describe('NDJSON sources', () => {
  it('maps a TAF RX line given as JSON with numeric quantities', async () => {
    const [o] = await run(
      [{ MSIS_IDENT_NUM: 'M1', SUBMTG_STATE_CD: '26', ORGNL_CLM_NUM: 'C1', ORGNL_LINE_NUM: 1, RX_FILL_DT: '2026-09-01', NDC_CD: '12345-6789-01', SUPLY_DAYS_CNT: 30, DTL_MTRC_DCML_QTY: 60.5, UOM_CD: 'ML' }],
      'pharmacy-claims',
    );
    expect(o.ok && o.record.resources.find((m) => m.resource.resourceType === 'MedicationDispense')?.resource).toMatchObject({
      quantity: { value: 60.5, code: 'mL' },
      daysSupply: { value: 30 },
    });
  });

  it('groups falls screen rows across lines and rejects a negative days supply on its own line', async () => {
    const screen = { screen_id: 'S9', submtg_state_cd: '26', msis_id: 'M1', screen_date: '2026-10-01', tool: 'STEADI_3Q' };
    const falls = await run(['KQ1', 'KQ2', 'KQ3'].map((item_id) => ({ ...screen, item_id, response: 'N' })), 'falls-screen');
    expect(falls).toHaveLength(1);
    expect(falls[0].ok).toBe(true);
    const [bad] = await run(
      [{ MSIS_IDENT_NUM: 'M1', SUBMTG_STATE_CD: '26', ORGNL_CLM_NUM: 'C1', ORGNL_LINE_NUM: 1, RX_FILL_DT: '2026-09-01', NDC_CD: '12345678901', SUPLY_DAYS_CNT: -3 }],
      'pharmacy-claims',
    );
    expect(bad).toMatchObject({ ok: false, lines: [1], issues: [expect.objectContaining({ expression: ['SUPLY_DAYS_CNT'] })] });
  });
});

describe('a large file with 1% bad rows', () => {
  it('rejects exactly the bad rows and maps the rest, heap flat (10,000 rows)', async () => {
    async function* file(): AsyncGenerator<string> {
      yield 'msis_id,submtg_state_cd,year_month,medicaid_enrolled,dual_elgbl_cd\n';
      let buf = '';
      for (let i = 1; i <= 10_000; i++) {
        buf += `P${i},26,${i % 100 === 0 ? '2026-13' : '2026-07'},Y,02\n`;
        if (buf.length > 64 * 1024) {
          yield buf;
          buf = '';
        }
      }
      yield buf;
    }
    const rejectedLines: number[] = [];
    let accepted = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    for await (const o of mapSource(parseSource(file(), { format: 'csv' }), layouts['eligibility-month'], ctx)) {
      if (o.ok) accepted++;
      else rejectedLines.push(...o.lines);
      if (accepted % 1000 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }
    expect(accepted).toBe(9_900);
    expect(rejectedLines).toEqual(Array.from({ length: 100 }, (_, k) => (k + 1) * 100 + 1));
    expect(heapPeak - heapBefore).toBeLessThan(64 * 1024 * 1024);
  });
});
