// Synthetic sample files for every layout, with the same people across layouts (same state,
// Medicaid id, MBI, birth date). Deterministic for a seed. Nothing here is real: MBIs have S in
// position 2 (the CMS convention for synthetic MBIs), NDCs use labeler 99999 and RxNorm ids the
// unassigned 99000xx range, so sample data can never be mistaken for a person or a product.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { INSTRUMENTS as FALLS } from '../mappers/falls-screen/instruments.js';

export interface SampleOptions {
  patients: number;
  outDir: string;
  seed?: number;
}

export interface SampleResult {
  files: Record<string, { path: string; rows: number }>;
}

/** Sample drugs: synthetic NDC → synthetic RxNorm id, display naming a real ingredient (for FRID matching). */
export const SAMPLE_DRUGS = [
  { ndc: '99999-0101-01', rxcui: '9900001', display: 'lisinopril 10 MG Oral Tablet' },
  { ndc: '99999-0102-01', rxcui: '9900002', display: 'metformin hydrochloride 500 MG Oral Tablet' },
  { ndc: '99999-0103-01', rxcui: '9900003', display: 'atorvastatin 20 MG Oral Tablet' },
  { ndc: '99999-0104-01', rxcui: '9900004', display: 'amlodipine 5 MG Oral Tablet' },
  { ndc: '99999-0105-01', rxcui: '9900005', display: 'levothyroxine sodium 0.05 MG Oral Tablet' },
  { ndc: '99999-0106-01', rxcui: '9900006', display: 'omeprazole 20 MG Delayed Release Oral Capsule' },
  { ndc: '99999-0201-01', rxcui: '9900101', display: 'zolpidem tartrate 5 MG Oral Tablet' },
  { ndc: '99999-0202-01', rxcui: '9900102', display: 'sertraline 50 MG Oral Tablet' },
  { ndc: '99999-0203-01', rxcui: '9900103', display: 'oxycodone hydrochloride 5 MG Oral Tablet' },
  { ndc: '99999-0204-01', rxcui: '9900104', display: 'lorazepam 0.5 MG Oral Tablet' },
  { ndc: '99999-0205-01', rxcui: '9900105', display: 'gabapentin 300 MG Oral Capsule' },
  { ndc: '99999-0206-01', rxcui: '9900106', display: 'quetiapine 25 MG Oral Tablet' },
];

const STATE = '26';
const MBI_LETTERS = [...'ACDEFGHJKMNPQRTUVWXY'];

function prng(seed: number): () => number {
  // mulberry32: small, fast, deterministic; not for anything but sample data.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Person {
  msisId: string;
  mbi: string;
  birthDate: string;
  sex: 'F' | 'M';
  dual: string;
}

class CsvFile {
  private readonly stream;
  rows = 0;
  constructor(readonly path: string, private readonly columns: string[]) {
    this.stream = createWriteStream(path, { encoding: 'utf8' });
    this.stream.write(columns.join(',') + '\n');
  }
  async write(row: Record<string, string | number | undefined>): Promise<void> {
    const line = this.columns.map((c) => csvField(row[c])).join(',') + '\n';
    this.rows++;
    if (!this.stream.write(line)) await once(this.stream, 'drain');
  }
  async close(): Promise<void> {
    this.stream.end();
    await once(this.stream, 'finish');
  }
}

/** At risk: the answer worth most points (MDS J: '1'); not at risk: one worth none. */
function sampleAnswer(answers: Record<string, { points?: number }>, atRisk: boolean): string {
  const codes = Object.keys(answers);
  if (codes.every((c) => answers[c].points === undefined)) return atRisk && answers['1'] ? '1' : '0';
  const byPoints = [...codes].sort((a, b) => (answers[a].points ?? 0) - (answers[b].points ?? 0));
  return atRisk ? byPoints[byPoints.length - 1] : byPoints[0];
}

function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const ELIGIBILITY_COLUMNS = ['msis_id', 'submtg_state_cd', 'mbi', 'birth_date', 'sex_cd', 'year_month', 'medicaid_enrolled', 'dual_elgbl_cd', 'mdcr_entlmt_buyin', 'ma_contract_id', 'mc_plan_id', 'wvr_type_cd', 'wvr_id'];
const CLAIM_COLUMNS = ['MSIS_IDENT_NUM', 'SUBMTG_STATE_CD', 'ORGNL_CLM_NUM', 'ORGNL_LINE_NUM', 'RX_FILL_DT', 'PRSCRBD_DT', 'RX_NUM', 'NDC_CD', 'DTL_MTRC_DCML_QTY', 'UOM_CD', 'SUPLY_DAYS_CNT', 'NEW_REFL_IND', 'PRSCRBNG_PRVDR_NUM', 'DSPNSNG_PD_PRVDR_NPI_NUM'];
const FALLS_COLUMNS = ['screen_id', 'submtg_state_cd', 'msis_id', 'screen_date', 'tool', 'item_id', 'response', 'tug_seconds', 'total_score', 'assessor_id'];
const HCBS_COLUMNS = ['assessment_id', 'record_type', 'submtg_state_cd', 'msis_id', 'mbi', 'birth_date', 'sex_cd', 'instrument', 'assessment_date', 'assessor_id', 'assessing_org_id', 'assessing_org_name', 'item_id', 'column', 'response_code', 'response_text', 'med_seq', 'ndc', 'drug_text', 'sig_text', 'prn_flag', 'med_source'];

export async function generateSamples(options: SampleOptions): Promise<SampleResult> {
  const rand = prng(options.seed ?? 42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  await mkdir(options.outDir, { recursive: true });
  const file = (name: string, columns: string[]) => new CsvFile(join(options.outDir, name), columns);
  const elig = file('eligibility-month.csv', ELIGIBILITY_COLUMNS);
  const claims = file('pharmacy-claims.csv', CLAIM_COLUMNS);
  const falls = file('falls-screen.csv', FALLS_COLUMNS);
  const hcbs = file('hcbs-assessment.csv', HCBS_COLUMNS);
  const crosswalk = file('ndc-rxnorm-crosswalk.csv', ['ndc11', 'rxcui', 'rxnorm_display']);
  for (const d of SAMPLE_DRUGS) await crosswalk.write({ ndc11: d.ndc.replace(/-/g, ''), rxcui: d.rxcui, rxnorm_display: d.display });

  for (let p = 0; p < options.patients; p++) {
    const person: Person = {
      msisId: `SYN${String(p + 1).padStart(7, '0')}`,
      mbi: `${int(1, 9)}S${pick(MBI_LETTERS)}${int(0, 9)}${pick(MBI_LETTERS)}${int(0, 9)}${int(0, 9)}${pick(MBI_LETTERS)}${pick(MBI_LETTERS)}${int(0, 9)}${int(0, 9)}`,
      birthDate: `19${int(30, 59)}-${String(int(1, 12)).padStart(2, '0')}-${String(int(1, 28)).padStart(2, '0')}`,
      sex: rand() < 0.6 ? 'F' : 'M',
      dual: pick(['02', '02', '04', '08', '01', '03']),
    };
    for (const month of ['2026-08', '2026-09', '2026-10']) {
      await elig.write({
        msis_id: person.msisId, submtg_state_cd: STATE, mbi: person.mbi, birth_date: person.birthDate, sex_cd: person.sex,
        year_month: month, medicaid_enrolled: 'Y', dual_elgbl_cd: person.dual, mdcr_entlmt_buyin: pick(['3', 'C', 'C']),
        ma_contract_id: p % 10 === 9 ? 'H1234' : undefined, mc_plan_id: p % 3 === 0 ? 'MCO-01' : undefined,
        wvr_type_cd: '06', wvr_id: 'XX.0001',
      });
    }

    // Medications: every other person on 5-7 drugs (polypharmacy), the rest on 1-3.
    const count = p % 2 === 0 ? int(5, 7) : int(1, 3);
    const drugs = [...SAMPLE_DRUGS].sort(() => rand() - 0.5).slice(0, count);
    for (const [i, d] of drugs.entries()) {
      for (const [fill, refill] of [['2026-09-0' + int(1, 5), '00'], ['2026-10-0' + int(1, 5), '01']] as const) {
        await claims.write({
          MSIS_IDENT_NUM: person.msisId, SUBMTG_STATE_CD: STATE, ORGNL_CLM_NUM: `SYNRX${p + 1}-${i + 1}-${refill}`, ORGNL_LINE_NUM: 1,
          RX_FILL_DT: fill, PRSCRBD_DT: '2026-08-28', RX_NUM: `${p + 1}-${i + 1}`, NDC_CD: d.ndc, DTL_MTRC_DCML_QTY: 30, UOM_CD: 'EA',
          SUPLY_DAYS_CNT: 30, NEW_REFL_IND: refill, PRSCRBNG_PRVDR_NUM: '1999999984', DSPNSNG_PD_PRVDR_NPI_NUM: '1999999976',
        });
      }
    }

    // One falls screen each, rotating through the tools; about half at risk.
    const tool = (['STEADI_SI12', 'MORSE', 'TUG', 'STEADI_3Q', 'MDS_J'] as const)[p % 5];
    const atRisk = rand() < 0.5;
    const screen = { screen_id: `SYNFS${p + 1}`, submtg_state_cd: STATE, msis_id: person.msisId, screen_date: '2026-10-0' + int(1, 9), tool, assessor_id: 'SYN-CM-1' };
    for (const item of FALLS[tool].items) {
      const response = item.answers ? sampleAnswer(item.answers, atRisk) : undefined;
      await falls.write({ ...screen, item_id: item.id, response, tug_seconds: item.numeric ? (atRisk ? 13.5 : 9.1) : undefined });
    }

    // One FASI 1.1 assessment each, with self-care and mobility items and the med list.
    const aid = `SYNA${p + 1}`;
    await hcbs.write({
      assessment_id: aid, record_type: 'header', submtg_state_cd: STATE, msis_id: person.msisId, mbi: person.mbi, birth_date: person.birthDate,
      sex_cd: person.sex, instrument: 'FASI_1_1', assessment_date: '2026-09-1' + int(0, 9), assessor_id: 'SYN-CM-1', assessing_org_id: 'SYN-AAA-1',
      assessing_org_name: 'Synthetic Area Agency on Aging',
    });
    const scale = ['06', '05', '04', '03', '02', '01'];
    for (const itemId of ['GG0130A', 'GG0130B', 'GG0130F', 'GG0170A', 'GG0170D', 'GG0170I', 'GG0185H']) {
      for (const column of ['usual_3d', 'most_dependent_1mo']) {
        await hcbs.write({ assessment_id: aid, record_type: 'item', item_id: itemId, column, response_code: pick(scale) });
      }
    }
    await hcbs.write({ assessment_id: aid, record_type: 'item', item_id: 'F0900A1', column: 'single', response_code: pick(['05', '04']) });
    await hcbs.write({ assessment_id: aid, record_type: 'item', item_id: 'GG0135A', column: 'single', response_text: 'Get to church on Sundays' });
    for (const [i, d] of drugs.slice(0, 2).entries()) {
      await hcbs.write({ assessment_id: aid, record_type: 'medication', med_seq: i + 1, ndc: d.ndc, drug_text: d.display, sig_text: 'as directed', prn_flag: 'N', med_source: 'label' });
    }
  }
  const all = { eligibility: elig, claims, falls, hcbs, crosswalk };
  await Promise.all(Object.values(all).map((f) => f.close()));
  return {
    files: Object.fromEntries(Object.entries(all).map(([k, f]) => [k, { path: f.path, rows: f.rows }])),
  };
}
