// eligibility_month → Patient + Coverage (Medicaid) + Coverage (Medicare FFS) for one member-month.
// Coverage per month keeps mapping pure and re-ingest idempotent; alignment reads them by period.
import type { Coverage, CoverageClass, OperationOutcomeIssue, Organization } from '@medplum/fhirtypes';
import { monthBounds } from '../common/dates.js';
import { meta, ref, sourceIdentifier } from '../common/fhir-helpers.js';
import { deterministicId } from '../common/ids.js';
import { recordIssue } from '../common/issues.js';
import { buildPatient } from '../common/parties.js';
import { PROFILE } from '../common/profiles.js';
import { withProvenance } from '../common/provenance.js';
import { EXTENSION, IDENTIFIER, LEAD_CANONICAL, SYSTEM } from '../common/systems.js';
import type { LineRow, MapContext, MappedResource, MapResult, RecordAction } from '../common/types.js';
import { DUAL_STATUS } from '../vocab/mma-dual-status.js';
import { MEDICARE_BUYIN } from '../vocab/medicare-buyin.js';
import { SOPT } from '../vocab/sopt.js';

export const LAYOUT = 'eligibility-month';

export function eligibilityRecordId(row: Record<string, string>): string {
  return `${row.submtg_state_cd}|${row.msis_id}|${row.year_month}`;
}

function payor(id: string, name: string): Organization & { id: string } {
  return {
    resourceType: 'Organization',
    id: deterministicId('Organization', 'payer', id),
    meta: meta(PROFILE.organization),
    identifier: [{ system: `${LEAD_CANONICAL}/sid/payer`, value: id }],
    active: true,
    name,
  };
}

export function mapEligibilityMonth(rows: LineRow[], ctx: MapContext): MapResult {
  const { row, line } = rows[0];
  const action = (row.record_action ?? 'new') as RecordAction;
  const recordId = eligibilityRecordId(row);
  const state = row.submtg_state_cd;
  const issues: OperationOutcomeIssue[] = [];
  const patient = buildPatient({ state, msisId: row.msis_id, mbi: row.mbi, birthDate: row.birth_date, sex: row.sex_cd });
  // Residence as of the month (the last ingested month wins): alignment's service-area check.
  if (row.county_fips || row.zip_cd) {
    patient.address = [{ use: 'home', ...(row.county_fips ? { district: row.county_fips } : {}), ...(row.zip_cd ? { postalCode: row.zip_cd } : {}) }];
  }
  const period = monthBounds(row.year_month);
  const status: Coverage['status'] = action === 'delete' ? 'entered-in-error' : 'active';
  const owned: MappedResource[] = [{ resource: patient, mode: 'upsert' }];

  if (row.medicaid_enrolled === 'Y') {
    const agency = payor(`medicaid-${state}`, `State Medicaid agency (state code ${state})`);
    // A managed care member's Medicaid comes through the plan's MCO when it is a partner (its
    // directory Organization): the MCO's relationship check and alignment both read the payor.
    const mco = row.mc_plan_id ? ctx.medicaidPlans?.[row.mc_plan_id] : undefined;
    const classes: CoverageClass[] = [];
    if (row.mc_plan_id) classes.push(coverageClass('plan', row.mc_plan_id, 'Medicaid managed care plan'));
    if (row.wvr_id) classes.push(coverageClass('group', row.wvr_id, `Waiver (WVR_TYPE_CD ${row.wvr_type_cd ?? 'unknown'})`));
    if (row.elgblty_grp_cd) classes.push(coverageClass('subgroup', row.elgblty_grp_cd, 'Medicaid eligibility group'));
    const medicaid: Coverage & { id: string } = {
      resourceType: 'Coverage',
      id: deterministicId(ctx.sourceOrg, LAYOUT, recordId, 'Coverage', 'medicaid'),
      meta: meta(PROFILE.coverage),
      identifier: [
        {
          type: { coding: [{ system: SYSTEM.v2IdentifierType, code: 'MB', display: 'Member Number' }] },
          system: IDENTIFIER.medicaid(state),
          value: row.msis_id,
        },
        sourceIdentifier(ctx.sourceOrg, LAYOUT, `${recordId}|medicaid`),
      ],
      status,
      type: { coding: [{ system: SYSTEM.sopt, ...SOPT.medicaid }] },
      subscriberId: row.msis_id,
      beneficiary: ref(patient),
      relationship: { coding: [{ system: SYSTEM.subscriberRelationship, code: 'self', display: 'Self' }] },
      period,
      payor: [mco ? { reference: `Organization/${mco}` } : ref(agency, agency.name)],
    };
    if (classes.length) medicaid.class = classes;
    if (row.dual_elgbl_cd) {
      medicaid.extension = [
        {
          url: EXTENSION.dualStatus,
          valueCoding: { system: SYSTEM.dualStatus, code: row.dual_elgbl_cd, display: DUAL_STATUS[row.dual_elgbl_cd].display },
        },
      ];
    }
    if (!mco) owned.unshift({ resource: agency, mode: 'create-if-absent' });
    owned.push({ resource: medicaid, mode: 'upsert' });
  }

  const buyin = row.mdcr_entlmt_buyin ? MEDICARE_BUYIN[row.mdcr_entlmt_buyin] : undefined;
  if (buyin && (buyin.partA || buyin.partB)) {
    if (!row.mbi) {
      // US Core us-core-15: a Coverage needs a member id; Medicare's is the MBI.
      issues.push(
        recordIssue(line, 'mbi', 'Medicare entitlement without an MBI: no Medicare FFS Coverage emitted', {
          severity: 'warning',
          code: 'incomplete',
        }),
      );
    } else if (row.ma_contract_id) {
      // LEAD aligns Original Medicare only: the month is kept as Medicare Advantage coverage, so
      // alignment can name the reason (MA, or an integrated D-SNP / FIDE-SNP) instead of guessing.
      const snp = row.snp_type && row.snp_type !== 'NONE' ? row.snp_type : undefined;
      const plan = payor(`ma-${row.ma_contract_id}`, `Medicare Advantage contract ${row.ma_contract_id}`);
      const type = snp === 'DSNP' ? SOPT.dsnp : snp === 'FIDE' ? SOPT.fideSnp : snp ? SOPT.dualOrganization : SOPT.medicareManagedCare;
      const advantage: Coverage & { id: string } = {
        resourceType: 'Coverage',
        id: deterministicId(ctx.sourceOrg, LAYOUT, recordId, 'Coverage', 'medicare-advantage'),
        meta: meta(PROFILE.coverage),
        identifier: [
          { type: { coding: [{ system: SYSTEM.v2IdentifierType, code: 'MB', display: 'Member Number' }] }, system: SYSTEM.mbi, value: row.mbi },
          sourceIdentifier(ctx.sourceOrg, LAYOUT, `${recordId}|medicare-advantage`),
        ],
        status,
        type: { coding: [{ system: SYSTEM.sopt, ...type }] },
        subscriberId: row.mbi,
        beneficiary: ref(patient),
        relationship: { coding: [{ system: SYSTEM.subscriberRelationship, code: 'self', display: 'Self' }] },
        period,
        payor: [ref(plan, plan.name)],
        class: [coverageClass('plan', row.ma_contract_id, 'Medicare Advantage contract')],
      };
      if (snp) advantage.class!.push(coverageClass('subplan', snp, `Special Needs Plan type ${snp}`));
      issues.push(
        recordIssue(line, 'ma_contract_id', `Medicare Advantage contract ${row.ma_contract_id}: Medicare Advantage Coverage, no Medicare FFS Coverage`, {
          severity: 'information',
          code: 'informational',
        }),
      );
      owned.unshift({ resource: plan, mode: 'create-if-absent' });
      owned.push({ resource: advantage, mode: 'upsert' });
    } else {
      const cms = payor('cms-medicare', 'Centers for Medicare & Medicaid Services');
      const medicare: Coverage & { id: string } = {
        resourceType: 'Coverage',
        id: deterministicId(ctx.sourceOrg, LAYOUT, recordId, 'Coverage', 'medicare'),
        meta: meta(PROFILE.coverage),
        identifier: [sourceIdentifier(ctx.sourceOrg, LAYOUT, `${recordId}|medicare`)],
        status,
        type: { coding: [{ system: SYSTEM.sopt, ...SOPT.medicareFfs }] },
        beneficiary: ref(patient),
        relationship: { coding: [{ system: SYSTEM.subscriberRelationship, code: 'self', display: 'Self' }] },
        period,
        payor: [ref(cms, cms.name)],
        class: [coverageClass('plan', row.mdcr_entlmt_buyin!, `Medicare entitlement: ${buyin.display}`)],
        subscriberId: row.mbi,
      };
      medicare.identifier!.unshift({
        type: { coding: [{ system: SYSTEM.v2IdentifierType, code: 'MB', display: 'Member Number' }] },
        system: SYSTEM.mbi,
        value: row.mbi,
      });
      owned.unshift({ resource: cms, mode: 'create-if-absent' });
      owned.push({ resource: medicare, mode: 'upsert' });
    }
  }

  // A deleted month withdraws its coverages; the person stays (other months and layouts use them).
  if (action === 'delete') owned[owned.findIndex((m) => m.resource === patient)].mode = 'create-if-absent';
  const resources = withProvenance(ctx, LAYOUT, recordId, action, row, owned);
  return { ok: true, record: { layout: LAYOUT, recordId, action, line, resources, issues } };
}

function coverageClass(type: 'plan' | 'subplan' | 'group' | 'subgroup', value: string, name: string): CoverageClass {
  return { type: { coding: [{ system: SYSTEM.coverageClass, code: type }] }, value, name };
}
