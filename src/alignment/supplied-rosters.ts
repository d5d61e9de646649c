// Claims-based and voluntary alignments the ACOs supply (CMS computes them; the gateway takes
// them as given and only lets them take precedence over Medicaid-enrollment alignment).
// File layout `aco-alignment-roster` (CSV with a header row, docs/alignment.md):
//   aco_id, alignment_type (claims | voluntary), start (YYYY-MM-DD), end (optional),
//   and the person: mbi, or submtg_state_cd + msis_id.
// A bad row rejects the whole file with every problem named: a roster is all or nothing.
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import type { PartnerDirectory } from '../config/partners.js';
import type { Sql } from '../fhir/store/database.js';
import { patientId } from '../mappers/common/parties.js';
import { SYSTEM } from '../mappers/common/systems.js';
import type { SuppliedAlignment } from './rules.js';

const COLUMNS = ['aco_id', 'alignment_type', 'start', 'end', 'mbi', 'submtg_state_cd', 'msis_id'];
const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export class RosterFileError extends Error {}

/** Parses and checks a roster file; resolves people by Medicaid id or, for an MBI, in the store. */
export async function readSuppliedRoster(
  path: string,
  sql: Sql,
  directory: Pick<PartnerDirectory, 'findOrganization'>,
): Promise<SuppliedAlignment[]> {
  let rows: Record<string, string>[];
  try {
    rows = parse(await readFile(path), { columns: true, bom: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (err) {
    throw new RosterFileError(`${path}: not a readable CSV roster (${(err as Error).message})`);
  }
  const problems: string[] = [];
  const unknown = Object.keys(rows[0] ?? {}).filter((c) => !COLUMNS.includes(c));
  if (unknown.length) problems.push(`line 1: unknown column(s) ${unknown.join(', ')}`);
  const mbis = [...new Set(rows.map((r) => r.mbi).filter(Boolean))];
  const byMbi = await patientsByMbi(sql, mbis);
  const out: SuppliedAlignment[] = [];
  rows.forEach((row, i) => {
    const line = i + 2;
    const at = (field: string, msg: string) => problems.push(`line ${line}, ${field}: ${msg}`);
    if (directory.findOrganization(row.aco_id)?.type !== 'ACO') at('aco_id', 'not an ACO in the partner directory');
    if (row.alignment_type !== 'claims' && row.alignment_type !== 'voluntary') at('alignment_type', 'must be claims or voluntary');
    if (!DATE.test(row.start ?? '')) at('start', 'must be a date YYYY-MM-DD');
    if (row.end && (!DATE.test(row.end) || row.end < row.start)) at('end', 'must be a date YYYY-MM-DD not before start');
    let patient: string | undefined;
    if (row.mbi) {
      patient = byMbi.get(row.mbi);
      if (!patient) at('mbi', 'no Patient with this MBI');
    } else if (row.submtg_state_cd && row.msis_id) {
      patient = patientId({ state: row.submtg_state_cd, msisId: row.msis_id });
    } else at('mbi', 'give mbi, or submtg_state_cd and msis_id');
    if (patient) {
      out.push({
        patientId: patient,
        acoId: row.aco_id,
        pathway: row.alignment_type as 'claims' | 'voluntary',
        start: row.start,
        ...(row.end ? { end: row.end } : {}),
        source: `${path.split('/').pop()}#${line}`,
      });
    }
  });
  if (problems.length) throw new RosterFileError(`${path}: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? `; … ${problems.length - 20} more` : ''}`);
  return out;
}

async function patientsByMbi(sql: Sql, mbis: string[]): Promise<Map<string, string>> {
  if (!mbis.length) return new Map();
  const r = await sql.query<{ id: string; code: string }>(
    `SELECT t.id, t.code FROM idx_token t JOIN resource p ON p.resource_type = 'Patient' AND p.id = t.id AND NOT p.deleted
     WHERE t.resource_type = 'Patient' AND t.param = 'identifier' AND t.system = $1 AND t.code = ANY($2::text[])`,
    [SYSTEM.mbi, mbis],
  );
  return new Map(r.rows.map((x) => [x.code, x.id]));
}
