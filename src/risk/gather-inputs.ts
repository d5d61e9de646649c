// The I/O edge that reads one person's candidate risk inputs from the store: current (not
// deleted) Observations in the input code systems, fall-risk Conditions and RiskAssessments
// whose subject is the Patient. Index lookups only (idx_reference by target, idx_token by id);
// risk-inputs.ts decides which of them count.
import type { Resource } from '@medplum/fhirtypes';
import type { Sql } from '../fhir/store/database.js';
import { SYSTEM } from '../mappers/common/systems.js';
import { SNOMED_AT_RISK_FOR_FALLS } from '../mappers/falls-screen/instruments.js';
import { INPUT_OBSERVATION_SYSTEMS } from './risk-inputs.js';

const GATHER_SQL = `
  SELECT r.content::text AS content
  FROM idx_reference s
  JOIN resource r ON r.resource_type = s.resource_type AND r.id = s.id AND NOT r.deleted
  WHERE s.target_type = 'Patient' AND s.target_id = $1 AND s.param = 'subject'
    AND (
      (s.resource_type = 'Observation' AND EXISTS (SELECT 1 FROM idx_token t
         WHERE t.resource_type = 'Observation' AND t.id = s.id AND t.param = 'code' AND t.system = ANY($2::text[])))
      OR (s.resource_type = 'Condition' AND EXISTS (SELECT 1 FROM idx_token t
         WHERE t.resource_type = 'Condition' AND t.id = s.id AND t.param = 'code' AND t.system = $3 AND t.code = $4))
      OR s.resource_type = 'RiskAssessment'
    )`;

export async function gatherRiskInputs(sql: Sql, patientId: string): Promise<Resource[]> {
  const r = await sql.query<{ content: string }>(GATHER_SQL, [patientId, [...INPUT_OBSERVATION_SYSTEMS], SYSTEM.snomed, SNOMED_AT_RISK_FOR_FALLS.code]);
  // One row per index row: a resource indexed twice under `subject` would come back twice.
  const seen = new Set<string>();
  const out: Resource[] = [];
  for (const row of r.rows) {
    const res = JSON.parse(row.content) as Resource;
    const key = `${res.resourceType}/${res.id}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(res);
    }
  }
  return out;
}

export async function patientExists(sql: Sql, patientId: string): Promise<boolean> {
  const r = await sql.query(`SELECT 1 FROM resource WHERE resource_type = 'Patient' AND id = $1 AND NOT deleted`, [patientId]);
  return r.rows.length > 0;
}
