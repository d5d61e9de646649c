// What one disclosure needs from the store, in one round trip: which of the people on the page
// the recipient has a relationship with (relationship.ts) and every Consent of those people
// (consent-store.ts). Read fresh for every disclosure — never cached — so a new or revoked
// Consent applies to the very next request.
import type { Consent } from '@medplum/fhirtypes';
import type { Sql } from '../fhir/store/database.js';
import { consentsSql, groupConsents } from './consent-store.js';
import { relatedPatientIdsSql, type RelationshipParty } from './relationship.js';

export interface DisclosureContext {
  related: Set<string>;
  consents: Map<string, Consent[]>;
}

/**
 * Relationships and Consents for `patientIds` as one statement (a UNION ALL of the two
 * queries). The SMA is related to every person (relationship.ts), so only Consents are read.
 */
export async function disclosureContext(sql: Sql, party: RelationshipParty, patientIds: string[]): Promise<DisclosureContext> {
  if (!patientIds.length) return { related: new Set(), consents: new Map() };
  const values: unknown[] = [patientIds];
  const bind = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const sma = party.organizationType === 'SMA';
  const consents = `SELECT 'c' AS kind, x.patient_id, x.content FROM (${consentsSql('$1')}) x`;
  const text = sma
    ? consents
    : `SELECT 'r' AS kind, rp.patient_id, NULL::text AS content FROM (${relatedPatientIdsSql(party, bind)}) rp WHERE rp.patient_id = ANY($1::text[])
       UNION ALL ${consents}`;
  const r = await sql.query<{ kind: 'r' | 'c'; patient_id: string; content: string | null }>(text, values);
  const related = new Set<string>(sma ? patientIds : []);
  const consentRows: { patient_id: string; content: string }[] = [];
  for (const row of r.rows) {
    if (row.kind === 'r') related.add(row.patient_id);
    else consentRows.push(row as { patient_id: string; content: string });
  }
  return { related, consents: groupConsents(consentRows) };
}
