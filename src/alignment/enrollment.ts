// Reads the alignment facts for a performance period from the store: the member-month Coverages
// the eligibility_month layout wrote (Medicaid with dual status and plan, Medicare FFS with the
// entitlement code, Medicare Advantage with contract and SNP type) and each person's residence.
// Only the fields alignment needs are selected, never whole resources.
import type { PartnerDirectory } from '../config/partners.js';
import type { Database, Sql } from '../fhir/store/database.js';
import { IDENTIFIER, LEAD_CANONICAL, SYSTEM } from '../mappers/common/systems.js';
import { MEDICARE_BUYIN } from '../mappers/vocab/medicare-buyin.js';
import type { AlignmentPolicy, BeneficiaryFacts, EnrollmentMonth } from './rules.js';

const MEDICAID_ID_PREFIX = IDENTIFIER.medicaid('');
const ELIGIBILITY_SOURCE = new RegExp(`^${LEAD_CANONICAL.replace(/[.]/g, '\\.')}/sid/source/[^/]+/eligibility-month$`);
const MA_CODES = new Set(['11', '14', '141', '142']);

interface CoverageRow {
  id: string;
  beneficiary: string;
  type_code: string;
  start: string;
  classes: { type?: { coding?: { code?: string }[] }; value?: string }[] | null;
  extension: { url?: string; valueCoding?: { code?: string } }[] | null;
  identifier: { system?: string; value?: string }[] | null;
}

const classValue = (row: CoverageRow, type: string): string | undefined =>
  row.classes?.find((c) => c.type?.coding?.[0]?.code === type)?.value;

/**
 * Every beneficiary with an eligibility record in the period, with their member-months. One
 * sequential scan through a cursor, fetched in batches, so the database never hands over the
 * whole year in one result; the facts kept (a few hundred bytes per member-month) stay in memory.
 */
export async function loadEnrollment(db: Database, period: string, batchSize = 5000): Promise<BeneficiaryFacts[]> {
  const people = new Map<string, Map<string, EnrollmentMonth>>();
  await db.transaction(async (tx) => {
    await tx.query(
      `DECLARE alignment_facts NO SCROLL CURSOR FOR
       SELECT c.id, c.content->'beneficiary'->>'reference' AS beneficiary, c.content->'type'->'coding'->0->>'code' AS type_code,
              c.content->'type'->'coding'->0->>'system' AS type_system, c.content->>'status' AS status,
              c.content->'period'->>'start' AS start, c.content->'class' AS classes, c.content->'extension' AS extension,
              c.content->'identifier' AS identifier
       FROM resource c
       WHERE c.resource_type = 'Coverage' AND NOT c.deleted
         AND c.content->'period'->>'start' >= $1 AND c.content->'period'->>'start' < $2`,
      [`${period}-01-01`, `${Number(period) + 1}-01-01`],
    );
    for (;;) {
      const r = await tx.query<CoverageRow & { type_system: string | null; status: string | null }>(`FETCH ${Number(batchSize)} FROM alignment_facts`);
      for (const row of r.rows) {
        if (row.status !== 'active' || row.type_system !== SYSTEM.sopt) continue;
        // Only what the SMA's eligibility files said: another writer's Coverage is not enrollment data.
        if (row.identifier?.some((i) => ELIGIBILITY_SOURCE.test(i.system ?? ''))) addCoverage(people, row);
      }
      if (r.rows.length < batchSize) break;
    }
  });
  const sql: Sql = db;
  const residence = await loadResidence(sql, [...people.keys()]);
  return [...people.entries()].map(([patientId, months]) => ({
    patientId,
    residence: residence.get(patientId) ?? {},
    months: [...months.values()],
  }));
}

/** Folds one member-month Coverage into the person's months. */
function addCoverage(people: Map<string, Map<string, EnrollmentMonth>>, row: CoverageRow): void {
  const patientId = /^Patient\/(.+)$/.exec(row.beneficiary ?? '')?.[1];
  if (!patientId) return;
  const month = row.start.slice(0, 7);
  const months = people.get(patientId) ?? new Map<string, EnrollmentMonth>();
  people.set(patientId, months);
  const m = months.get(month) ?? { month };
  months.set(month, m);
  if (row.type_code === '2') {
    const stateCode = row.identifier?.find((i) => i.system?.startsWith(MEDICAID_ID_PREFIX))?.system?.slice(MEDICAID_ID_PREFIX.length) ?? '';
    m.medicaid = {
      stateCode,
      dualStatus: row.extension?.find((e) => e.url?.endsWith('/dual-status'))?.valueCoding?.code,
      planId: classValue(row, 'plan'),
      coverageId: row.id,
    };
  } else if (row.type_code === '121') {
    const entitlement = classValue(row, 'plan') ?? '';
    const buyin = MEDICARE_BUYIN[entitlement];
    m.medicare = { partA: !!buyin?.partA, partB: !!buyin?.partB, entitlement };
  } else if (MA_CODES.has(row.type_code)) {
    m.advantage = { contractId: classValue(row, 'plan') ?? 'unknown', snpType: classValue(row, 'subplan') };
  }
}

/** Home county (Address.district, FIPS) and ZIP of each Patient. */
export async function loadResidence(sql: Sql, patientIds: string[]): Promise<Map<string, { county?: string; zip?: string }>> {
  const out = new Map<string, { county?: string; zip?: string }>();
  if (!patientIds.length) return out;
  const r = await sql.query<{ id: string; county: string | null; zip: string | null }>(
    `SELECT id, content->'address'->0->>'district' AS county, content->'address'->0->>'postalCode' AS zip
     FROM resource WHERE resource_type = 'Patient' AND id = ANY($1::text[]) AND NOT deleted`,
    [patientIds],
  );
  for (const row of r.rows) out.set(row.id, { county: row.county ?? undefined, zip: row.zip ?? undefined });
  return out;
}

/** The alignment policy from the partner directory: ACOs, agreements, who provides Medicaid. */
export function policyFrom(directory: Pick<PartnerDirectory, 'organizations' | 'agreements'>): AlignmentPolicy {
  const byPlan = new Map<string, string>();
  const byState = new Map<string, string>();
  for (const o of directory.organizations) {
    for (const p of o.medicaidPlanIds ?? []) byPlan.set(p, o.id);
    for (const s of o.medicaidStateCodes ?? []) byState.set(s, o.id);
  }
  return {
    acos: directory.organizations.filter((o) => o.type === 'ACO').map((o) => ({ id: o.id, serviceArea: o.serviceArea })),
    agreements: directory.agreements,
    // Managed care: the MCO of the plan (an unknown plan is another MCO). Fee-for-service: the SMA.
    medicaidPartnerOf: (medicaid) => (medicaid.planId ? byPlan.get(medicaid.planId) : byState.get(medicaid.stateCode)),
  };
}
