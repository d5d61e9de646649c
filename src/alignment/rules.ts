// Medicaid-enrollment alignment under LEAD, as pure rules: for one beneficiary and one
// performance period (a calendar year), which ACO each month is aligned to and by which pathway,
// and, for every ACO, which criteria failed in which months. No I/O here: enrollment.ts reads
// the facts from the store, run.ts writes the results. docs/alignment.md states the rules.
//
// The criteria (issue 8; CMS LEAD FAQ: the Medicaid integration is for people in Original
// Medicare; ../shared mapping-spec §4.2: Parts A+B entitlement and no MA enrollment in the month,
// full-benefit dual = MMA dual status 02, 04, 08):
//   enrollment-data        an eligibility record exists for the month
//   original-medicare-ab   Medicare FFS entitlement to Part A and Part B
//   no-medicare-advantage  not in Medicare Advantage (so no D-SNP, FIDE-SNP or other integrated plan)
//   full-benefit-dual      dual status 02, 04 or 08
//   medicaid-partner       Medicaid through the SMA (fee-for-service) or an MCO (managed care) that
//                          has an agreement with the ACO covering the month
//   service-area           residence (county FIPS or ZIP) in the ACO's service area
//   not-aligned-elsewhere  no voluntary or claims-based alignment to another ACO in the month
// Medicaid-enrollment alignment is subordinate: a supplied voluntary alignment wins the month,
// then a claims-based one, and only then the Medicaid pathway.
//
// Month rule for partial periods: every date range (a supplied alignment, an agreement) counts
// for a month when it includes the month's first day; an eligibility record is for the whole month
// (T-MSIS: enrolled any day of the month).
import type { Agreement } from '../config/partners.js';
import { DUAL_STATUS } from '../mappers/vocab/mma-dual-status.js';

export type Pathway = 'voluntary' | 'claims' | 'medicaid-enrollment';

export const CRITERIA = [
  'enrollment-data',
  'original-medicare-ab',
  'no-medicare-advantage',
  'full-benefit-dual',
  'medicaid-partner',
  'service-area',
  'not-aligned-elsewhere',
] as const;
export type Criterion = (typeof CRITERIA)[number];

/** One member-month as the eligibility layout's Coverages state it. */
export interface EnrollmentMonth {
  month: string; // YYYY-MM
  medicare?: { partA: boolean; partB: boolean; entitlement: string };
  advantage?: { contractId: string; snpType?: string };
  medicaid?: { stateCode: string; dualStatus?: string; planId?: string; coverageId: string };
}

export interface BeneficiaryFacts {
  patientId: string;
  residence: { county?: string; zip?: string };
  months: EnrollmentMonth[];
}

/** A claims-based or voluntary alignment an ACO supplied (CMS decides those; we take them as given). */
export interface SuppliedAlignment {
  patientId: string;
  acoId: string;
  pathway: 'voluntary' | 'claims';
  start: string; // YYYY-MM-DD
  end?: string;
  source: string;
}

export interface AlignmentPolicy {
  acos: { id: string; serviceArea?: { counties?: string[]; zips?: string[] } }[];
  agreements: Pick<Agreement, 'aco' | 'medicaidPartner' | 'period'>[];
  /** The partner organization a member-month gets Medicaid through, if it is one we know. */
  medicaidPartnerOf(medicaid: NonNullable<EnrollmentMonth['medicaid']>): string | undefined;
}

export interface CriterionFailure {
  criterion: Criterion;
  months: string[];
  detail: string;
  /** Other ACOs the detail names (withheld from an ACO viewer by explain.ts). */
  mentions?: string[];
}

/** How one ACO fares on the Medicaid-enrollment pathway over the period. */
export interface AcoEvaluation {
  acoId: string;
  eligibleMonths: string[];
  failures: CriterionFailure[];
}

export interface MonthDecision {
  month: string;
  acoId?: string;
  pathway?: Pathway;
  /** The month's Medicaid Coverage (ATR ext-coverageReference). */
  coverageId?: string;
}

/** A run of consecutive months aligned to one ACO by one pathway (one roster member entry). */
export interface AlignmentSegment {
  acoId: string;
  pathway: Pathway;
  start: string; // first day of the first month
  end: string; // last day of the last month
  months: string[];
  coverageId?: string;
}

export interface AlignmentDecision {
  patientId: string;
  period: string;
  months: MonthDecision[];
  segments: AlignmentSegment[];
  evaluations: AcoEvaluation[];
  supplied: SuppliedAlignment[];
}

const FULL_BENEFIT = new Set(['02', '04', '08']);
const PATHWAY_RANK: Record<'voluntary' | 'claims', number> = { voluntary: 0, claims: 1 };

export function periodMonths(period: string): string[] {
  return Array.from({ length: 12 }, (_, i) => `${period}-${String(i + 1).padStart(2, '0')}`);
}

function firstDay(month: string): string {
  return `${month}-01`;
}

function lastDay(month: string): string {
  const [y, m] = month.split('-').map(Number);
  return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
}

/** A date range counts for a month when it includes the month's first day. */
export function coversMonth(range: { start: string; end?: string }, month: string): boolean {
  const day = firstDay(month);
  return range.start <= day && (!range.end || range.end >= day);
}

interface MonthCheck {
  criterion: Criterion;
  passed: boolean;
  detail: string;
  mentions?: string[];
}

/** Every criterion for one ACO in one month (the first failing enrollment-data stops the rest). */
function checkMonth(
  acoId: string,
  month: string,
  m: EnrollmentMonth | undefined,
  facts: BeneficiaryFacts,
  policy: AlignmentPolicy,
  supplied: SuppliedAlignment[],
): MonthCheck[] {
  if (!m) return [{ criterion: 'enrollment-data', passed: false, detail: 'no eligibility record for the month' }];
  const checks: MonthCheck[] = [{ criterion: 'enrollment-data', passed: true, detail: 'eligibility record present' }];
  const ab = !!m.medicare && m.medicare.partA && m.medicare.partB;
  checks.push({
    criterion: 'original-medicare-ab',
    passed: ab,
    detail: m.medicare ? `Medicare entitlement code ${m.medicare.entitlement}${ab ? '' : ' is not Part A and Part B'}` : 'no Original Medicare (FFS) entitlement',
  });
  const snp = m.advantage?.snpType;
  checks.push({
    criterion: 'no-medicare-advantage',
    passed: !m.advantage,
    detail: m.advantage
      ? `Medicare Advantage contract ${m.advantage.contractId}${snp ? ` (${snp === 'DSNP' ? 'D-SNP' : snp === 'FIDE' ? 'FIDE-SNP' : `${snp} integrated plan`})` : ''}`
      : 'not in Medicare Advantage',
  });
  const dual = m.medicaid?.dualStatus;
  checks.push({
    criterion: 'full-benefit-dual',
    passed: !!dual && FULL_BENEFIT.has(dual),
    detail: !m.medicaid
      ? 'not enrolled in Medicaid'
      : dual
        ? `dual status ${dual} (${DUAL_STATUS[dual]?.group ?? 'unknown'})`
        : 'no dual status for the month',
  });
  const partner = m.medicaid ? policy.medicaidPartnerOf(m.medicaid) : undefined;
  const agreed = !!partner && policy.agreements.some((a) => a.aco === acoId && a.medicaidPartner === partner && coversMonth(a.period, month));
  checks.push({
    criterion: 'medicaid-partner',
    passed: agreed,
    detail: !m.medicaid
      ? 'not enrolled in Medicaid'
      : !partner
        ? `Medicaid ${m.medicaid.planId ? `plan ${m.medicaid.planId}` : `fee-for-service (state ${m.medicaid.stateCode})`} is not through a partner organization`
        : agreed
          ? `Medicaid through ${partner}, which has an agreement with ${acoId}`
          : `Medicaid through ${partner}, which has no agreement with ${acoId} covering the month`,
  });
  const area = policy.acos.find((a) => a.id === acoId)?.serviceArea;
  const { county, zip } = facts.residence;
  const inArea = (!!county && !!area?.counties?.includes(county)) || (!!zip && !!area?.zips?.includes(zip));
  checks.push({
    criterion: 'service-area',
    passed: inArea,
    detail: !county && !zip ? 'no residence on record' : `residence ${[county && `county ${county}`, zip && `ZIP ${zip}`].filter(Boolean).join(', ')}${inArea ? '' : ` is outside ${acoId}'s service area`}`,
  });
  const elsewhere = supplied.filter((s) => s.acoId !== acoId && coversMonth(s, month));
  checks.push({
    criterion: 'not-aligned-elsewhere',
    passed: !elsewhere.length,
    detail: elsewhere.length
      ? elsewhere.map((s) => `${s.pathway === 'claims' ? 'claims-based' : 'voluntary'} alignment to ${s.acoId}`).join('; ')
      : 'no other alignment',
    ...(elsewhere.length ? { mentions: [...new Set(elsewhere.map((s) => s.acoId))] } : {}),
  });
  return checks;
}

/** The supplied alignment that decides a month: voluntary over claims, then the latest start, then ACO id. */
function suppliedFor(month: string, supplied: SuppliedAlignment[]): SuppliedAlignment | undefined {
  return supplied
    .filter((s) => coversMonth(s, month))
    .sort((a, b) => PATHWAY_RANK[a.pathway] - PATHWAY_RANK[b.pathway] || b.start.localeCompare(a.start) || a.acoId.localeCompare(b.acoId))[0];
}

/**
 * Aligns one beneficiary for a period. `previousAcos` (from the previous run) keeps a person
 * with the ACO they had when several ACOs qualify; otherwise the lowest ACO id wins, so the
 * result never depends on input order.
 */
export function decideAlignment(
  period: string,
  facts: BeneficiaryFacts,
  supplied: SuppliedAlignment[],
  policy: AlignmentPolicy,
  previousAcos: string[] = [],
): AlignmentDecision {
  const byMonth = new Map(facts.months.map((m) => [m.month, m]));
  const acoIds = policy.acos.map((a) => a.id).sort();
  const evaluations: AcoEvaluation[] = acoIds.map((acoId) => ({ acoId, eligibleMonths: [], failures: [] }));
  const months: MonthDecision[] = [];
  for (const month of periodMonths(period)) {
    const m = byMonth.get(month);
    const candidates: string[] = [];
    for (const ev of evaluations) {
      const checks = checkMonth(ev.acoId, month, m, facts, policy, supplied);
      const failed = checks.filter((c) => !c.passed);
      if (!failed.length) {
        ev.eligibleMonths.push(month);
        candidates.push(ev.acoId);
      }
      for (const f of failed) {
        const same = ev.failures.find((x) => x.criterion === f.criterion && x.detail === f.detail);
        if (same) same.months.push(month);
        else ev.failures.push({ criterion: f.criterion, months: [month], detail: f.detail, ...(f.mentions ? { mentions: f.mentions } : {}) });
      }
    }
    const chosen = suppliedFor(month, supplied);
    const coverageId = m?.medicaid?.coverageId;
    if (chosen) months.push({ month, acoId: chosen.acoId, pathway: chosen.pathway, coverageId });
    else if (candidates.length) {
      const acoId = candidates.find((c) => previousAcos.includes(c)) ?? candidates[0];
      months.push({ month, acoId, pathway: 'medicaid-enrollment', coverageId });
    } else months.push({ month });
  }
  for (const ev of evaluations) ev.failures.sort((a, b) => CRITERIA.indexOf(a.criterion) - CRITERIA.indexOf(b.criterion) || a.months[0].localeCompare(b.months[0]));
  return { patientId: facts.patientId, period, months, segments: segmentsOf(months), evaluations, supplied };
}

/** Consecutive months with the same ACO and pathway become one segment. */
export function segmentsOf(months: MonthDecision[]): AlignmentSegment[] {
  const out: AlignmentSegment[] = [];
  let prev: MonthDecision | undefined;
  for (const m of months) {
    const last = out[out.length - 1];
    if (m.acoId && m.pathway && last && prev?.acoId === m.acoId && prev.pathway === m.pathway) {
      last.months.push(m.month);
      last.end = lastDay(m.month);
    } else if (m.acoId && m.pathway) {
      out.push({ acoId: m.acoId, pathway: m.pathway, start: firstDay(m.month), end: lastDay(m.month), months: [m.month], coverageId: m.coverageId });
    }
    prev = m;
  }
  return out;
}
