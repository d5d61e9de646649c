// Relationship check: which people an organization may see at all (consent-security.md; issue 5
// "Relationship check"). A person outside the relationship does not exist for the organization.
// One SQL-producing function, so export (and the REST read paths, later) ask the database the
// same question instead of loading rosters into memory.
//
//   SMA → every patient (the state Medicaid agency holds the whole program's data)
//   MCO → patients with an active Coverage whose payor is Organization/<organizationId>
//   ACO → patients whose generalPractitioner or managingOrganization is Organization/<id>, or
//         who are active members of a roster Group whose managingEntity is Organization/<id>
//         (the alignment rosters src/alignment writes; people dropped from one are inactive)
//   HIE → the same references and rosters as an ACO (its participants); otherwise none
//
// Reads only the search index (idx_reference / idx_token), whose rows exist for current,
// non-deleted versions only.
import type { OrganizationType } from '../config/partners.js';
import type { Sql } from '../fhir/store/database.js';
import { INACTIVE_MEMBER_PARAM } from '../fhir/store/index-extraction.js';

export interface RelationshipParty {
  organizationId: string;
  organizationType: OrganizationType;
}

/**
 * A `SELECT patient_id …` subquery returning the ids of the Patients `party` has a relationship
 * with. Values are bound through `bind` (which returns the placeholder, e.g. `$3`), never
 * spliced into the SQL text.
 */
export function relatedPatientIdsSql(party: RelationshipParty, bind: (value: unknown) => string): string {
  const live = (id: string): string =>
    `EXISTS (SELECT 1 FROM resource p WHERE p.resource_type = 'Patient' AND p.id = ${id} AND NOT p.deleted)`;
  switch (party.organizationType) {
    case 'SMA':
      return `SELECT p.id AS patient_id FROM resource p WHERE p.resource_type = 'Patient' AND NOT p.deleted`;
    case 'MCO': {
      const org = bind(party.organizationId);
      // Driven from the payor (an index lookup on a constant), joins only (no correlated
      // EXISTS). Needs table statistics, like every set query here: after a bulk load, ANALYZE.
      return `SELECT DISTINCT b.target_id AS patient_id FROM idx_reference py
        JOIN idx_reference b ON b.resource_type = 'Coverage' AND b.id = py.id AND b.param = 'beneficiary' AND b.target_type = 'Patient'
        JOIN idx_token st ON st.resource_type = 'Coverage' AND st.id = py.id AND st.param = 'status' AND st.code = 'active'
        JOIN resource p ON p.resource_type = 'Patient' AND p.id = b.target_id AND NOT p.deleted
        WHERE py.resource_type = 'Coverage' AND py.param = 'payor' AND py.target_type = 'Organization' AND py.target_id = ${org}`;
    }
    case 'ACO':
    case 'HIE': {
      const org = bind(party.organizationId);
      return `SELECT DISTINCT g.id AS patient_id FROM idx_reference g
        WHERE g.resource_type = 'Patient' AND g.param IN ('general-practitioner', 'organization')
          AND g.target_type = 'Organization' AND g.target_id = ${org} AND ${live('g.id')}
        UNION
        SELECT DISTINCT m.target_id AS patient_id FROM idx_reference m
        JOIN idx_reference me ON me.resource_type = 'Group' AND me.id = m.id AND me.param = 'managing-entity'
          AND me.target_type = 'Organization' AND me.target_id = ${org}
        WHERE m.resource_type = 'Group' AND m.param = 'member' AND m.target_type = 'Patient' AND ${live('m.target_id')}
          AND ${activeMember('m')}`;
    }
    default:
      return 'SELECT NULL::text AS patient_id WHERE false';
  }
}

/**
 * SQL condition on an idx_reference row `alias` of a Group's `member` param: the member is not
 * marked inactive (a person dropped from an alignment roster has no relationship through it).
 */
export function activeMember(alias: string): string {
  return `NOT EXISTS (SELECT 1 FROM idx_reference ina WHERE ina.resource_type = 'Group' AND ina.id = ${alias}.id
    AND ina.param = '${INACTIVE_MEMBER_PARAM}' AND ina.target_type = ${alias}.target_type AND ina.target_id = ${alias}.target_id)`;
}

/**
 * Which of `patientIds` the party has a relationship with: one query for a whole page of
 * resources (the filter's per-request cache), never one per resource.
 */
export async function relatedAmong(sql: Sql, party: RelationshipParty, patientIds: string[]): Promise<Set<string>> {
  if (!patientIds.length) return new Set();
  const values: unknown[] = [];
  const bind = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const related = relatedPatientIdsSql(party, bind);
  const ids = bind(patientIds);
  const r = await sql.query<{ patient_id: string }>(`SELECT rp.patient_id FROM (${related}) rp WHERE rp.patient_id = ANY(${ids}::text[])`, values);
  return new Set(r.rows.map((x) => x.patient_id));
}
