// The person's Consent resources, read straight from the store: every one of them (no first-page
// cut-off as in LEAP's discovery), for all the people on a page at once.
import type { Consent } from '@medplum/fhirtypes';
import type { Sql } from '../fhir/store/database.js';

/** `SELECT patient_id, content …`: the Consents of the patients in the text[] bound at `ids`. */
export function consentsSql(ids: string): string {
  return `SELECT i.target_id AS patient_id, c.content::text AS content
     FROM idx_reference i JOIN resource c ON c.resource_type = 'Consent' AND c.id = i.id AND NOT c.deleted
     WHERE i.resource_type = 'Consent' AND i.param = 'patient' AND i.target_type = 'Patient' AND i.target_id = ANY(${ids}::text[])`;
}

export function groupConsents(rows: { patient_id: string; content: string }[]): Map<string, Consent[]> {
  const out = new Map<string, Consent[]>();
  for (const row of rows) {
    const list = out.get(row.patient_id) ?? [];
    list.push(JSON.parse(row.content) as Consent);
    out.set(row.patient_id, list);
  }
  return out;
}

export async function consentsFor(sql: Sql, patientIds: string[]): Promise<Map<string, Consent[]>> {
  if (!patientIds.length) return new Map();
  const r = await sql.query<{ patient_id: string; content: string }>(consentsSql('$1'), [patientIds]);
  return groupConsents(r.rows);
}
