// What one disclosure needs from the store, in one round trip: which of the people on the page
// the recipient has a relationship with (relationship.ts) and every Consent of those people
// (consent-store.ts). The engine reads it through DisclosureContextCache when it has one
// (disclosure-context-cache.ts: kept across requests, emptied by every change to what it reads),
// otherwise fresh for every disclosure.
import type { Consent } from '@medplum/fhirtypes';
import type { Sql } from '../fhir/store/database.js';
import { consentsSql, groupConsents } from './consent-store.js';
import { relatedPatientIdsSql, type RelationshipParty } from './relationship.js';

/** Which people the recipient has a relationship with. */
export interface Related {
  has(patientId: string): boolean;
}

/** The SMA's: everyone (relationship.ts) — no set of a page's people built to say so. */
export const EVERYONE: Related = { has: () => true };

export interface DisclosureContext {
  related: Related;
  consents: Map<string, Consent[]>;
}

/**
 * Relationships and Consents for `patientIds` as one statement (a UNION ALL of the two
 * queries). The SMA is related to every person (relationship.ts), so only Consents are read.
 */
export function disclosureContext(sql: Sql, party: RelationshipParty, patientIds: string[]): Promise<DisclosureContext> {
  return readDisclosureContext(sql, party, patientIds, patientIds);
}

/**
 * The same statement for two lists, either possibly empty (the cache's misses): whether the
 * people of `relatedIds` are related to the party, and the Consents of the people of `consentIds`.
 */
export async function readDisclosureContext(sql: Sql, party: RelationshipParty, relatedIds: string[], consentIds: string[]): Promise<DisclosureContext> {
  const sma = party.organizationType === 'SMA';
  const related = new Set<string>();
  const askRelated = !sma && relatedIds.length > 0;
  if (!askRelated && !consentIds.length) return { related: sma ? EVERYONE : related, consents: new Map() };
  const values: unknown[] = [];
  const bind = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const parts: string[] = [];
  let relatedAt: string | undefined;
  if (askRelated) {
    relatedAt = bind(relatedIds);
    parts.push(`SELECT 'r' AS kind, rp.patient_id, NULL::text AS content FROM (${relatedPatientIdsSql(party, bind)}) rp WHERE rp.patient_id = ANY(${relatedAt}::text[])`);
  }
  if (consentIds.length) {
    const at = relatedAt && consentIds === relatedIds ? relatedAt : bind(consentIds);
    parts.push(`SELECT 'c' AS kind, x.patient_id, x.content FROM (${consentsSql(at)}) x`);
  }
  const r = await sql.query<{ kind: 'r' | 'c'; patient_id: string; content: string | null }>(parts.join('\n       UNION ALL '), values);
  const consentRows: { patient_id: string; content: string }[] = [];
  for (const row of r.rows) {
    if (row.kind === 'r') related.add(row.patient_id);
    else consentRows.push(row as { patient_id: string; content: string });
  }
  return { related: sma ? EVERYONE : related, consents: groupConsents(consentRows) };
}
