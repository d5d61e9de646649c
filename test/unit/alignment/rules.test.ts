// The alignment rules as a table: every criterion alone and in combination, the precedence of
// voluntary and claims-based alignment, and month changes (docs/alignment.md).
import { decideAlignment, periodMonths, type AlignmentPolicy, type BeneficiaryFacts, type EnrollmentMonth, type SuppliedAlignment } from '../../../src/alignment/rules.js';
import { policyFrom } from '../../../src/alignment/enrollment.js';

const policy: AlignmentPolicy = policyFrom({
  organizations: [
    { id: 'sma', type: 'SMA', name: 'SMA', clients: [], medicaidStateCodes: ['39'] },
    { id: 'mco-a', type: 'MCO', name: 'MCO A', clients: [], medicaidPlanIds: ['PLAN-A'] },
    { id: 'mco-b', type: 'MCO', name: 'MCO B', clients: [], medicaidPlanIds: ['PLAN-B'] },
    { id: 'aco-1', type: 'ACO', name: 'ACO 1', clients: [], serviceArea: { counties: ['39049'], zips: ['43215'] } },
    { id: 'aco-2', type: 'ACO', name: 'ACO 2', clients: [], serviceArea: { counties: ['39049', '39035'] } },
  ],
  agreements: [
    { id: 'a1', aco: 'aco-1', medicaidPartner: 'mco-a', dataClasses: [], purposeOfUse: 'TREAT', period: { start: '2027-01-01' } },
    { id: 'a2', aco: 'aco-2', medicaidPartner: 'sma', dataClasses: [], purposeOfUse: 'TREAT', period: { start: '2027-01-01', end: '2027-06-30' } },
  ],
});

/** A full-benefit dual in Original Medicare A+B, in MCO A's plan, living in county 39049. */
const eligibleMonth = (month: string): EnrollmentMonth => ({
  month,
  medicare: { partA: true, partB: true, entitlement: 'C' },
  medicaid: { stateCode: '39', dualStatus: '02', planId: 'PLAN-A', coverageId: `cov-${month}` },
});

function person(change: (m: EnrollmentMonth) => EnrollmentMonth = (m) => m, residence = { county: '39049' }, months = periodMonths('2027')): BeneficiaryFacts {
  return { patientId: 'p1', residence, months: months.map((m) => change(eligibleMonth(m))) };
}

const failuresFor = (d: ReturnType<typeof decideAlignment>, aco: string) =>
  Object.fromEntries(d.evaluations.find((e) => e.acoId === aco)!.failures.map((f) => [f.criterion, f.detail]));

describe('Medicaid-enrollment alignment rules', () => {
  it('aligns an eligible full-benefit dual to the ACO partnered with their MCO, all year, as one roster entry', () => {
    const d = decideAlignment('2027', person(), [], policy);
    expect(d.segments).toEqual([
      { acoId: 'aco-1', pathway: 'medicaid-enrollment', start: '2027-01-01', end: '2027-12-31', months: periodMonths('2027'), coverageId: 'cov-2027-01' },
    ]);
    // aco-2 partners only with the SMA: this MCO member fails exactly that criterion there.
    expect(failuresFor(d, 'aco-2')).toEqual({ 'medicaid-partner': 'Medicaid through mco-a, which has no agreement with aco-2 covering the month' });
  });

  const cases: [string, BeneficiaryFacts, Record<string, RegExp>][] = [
    [
      'Medicare Advantage enrollee',
      person((m) => ({ ...m, medicare: undefined, advantage: { contractId: 'H1234' } })),
      { 'original-medicare-ab': /no Original Medicare/, 'no-medicare-advantage': /^Medicare Advantage contract H1234$/ },
    ],
    [
      'D-SNP enrollee',
      person((m) => ({ ...m, medicare: undefined, advantage: { contractId: 'H5678', snpType: 'DSNP' } })),
      { 'original-medicare-ab': /no Original Medicare/, 'no-medicare-advantage': /H5678 \(D-SNP\)/ },
    ],
    [
      'FIDE-SNP enrollee',
      person((m) => ({ ...m, medicare: undefined, advantage: { contractId: 'H9999', snpType: 'FIDE' } })),
      { 'original-medicare-ab': /no Original Medicare/, 'no-medicare-advantage': /FIDE-SNP/ },
    ],
    ['Part A only', person((m) => ({ ...m, medicare: { partA: true, partB: false, entitlement: '1' } })), { 'original-medicare-ab': /code 1 is not Part A and Part B/ }],
    ['partial dual (QMB only)', person((m) => ({ ...m, medicaid: { ...m.medicaid!, dualStatus: '01' } })), { 'full-benefit-dual': /dual status 01 \(partial\)/ }],
    ['not dual (status 00)', person((m) => ({ ...m, medicaid: { ...m.medicaid!, dualStatus: '00' } })), { 'full-benefit-dual': /dual status 00/ }],
    [
      'not in Medicaid',
      person((m) => ({ ...m, medicaid: undefined })),
      { 'full-benefit-dual': /not enrolled in Medicaid/, 'medicaid-partner': /not enrolled in Medicaid/ },
    ],
    ['out of service area', person(undefined, { county: '39035' }), { 'service-area': /county 39035 is outside aco-1/ }],
    ['no residence on record', person(undefined, {} as { county: string }), { 'service-area': /no residence/ }],
    [
      'member of another (non-partner) MCO',
      person((m) => ({ ...m, medicaid: { ...m.medicaid!, planId: 'PLAN-B' } })),
      { 'medicaid-partner': /through mco-b, which has no agreement with aco-1/ },
    ],
    [
      'member of a plan no partner runs',
      person((m) => ({ ...m, medicaid: { ...m.medicaid!, planId: 'PLAN-X' } })),
      { 'medicaid-partner': /plan PLAN-X is not through a partner organization/ },
    ],
    [
      'MA + partial dual + out of area together',
      person((m) => ({ ...m, medicare: undefined, advantage: { contractId: 'H1234' }, medicaid: { ...m.medicaid!, dualStatus: '03' } }), { county: '39001' }),
      { 'original-medicare-ab': /./, 'no-medicare-advantage': /H1234/, 'full-benefit-dual': /03/, 'service-area': /39001/ },
    ],
    ['no eligibility records at all', person(undefined, undefined, []), { 'enrollment-data': /no eligibility record/ }],
  ];

  it.each(cases)('%s: not aligned, with exactly the failed criteria', (_name, facts, expected) => {
    const d = decideAlignment('2027', facts, [], policy);
    expect(d.segments).toEqual([]);
    const failed = failuresFor(d, 'aco-1');
    expect(Object.keys(failed).sort()).toEqual(Object.keys(expected).sort());
    for (const [criterion, re] of Object.entries(expected)) expect(failed[criterion]).toMatch(re);
    for (const f of d.evaluations.find((e) => e.acoId === 'aco-1')!.failures) expect(f.months).toHaveLength(12);
  });

  const claims = (acoId: string, start = '2027-01-01', end?: string): SuppliedAlignment => ({ patientId: 'p1', acoId, pathway: 'claims', start, end, source: 't#2' });
  const voluntary = (acoId: string, start = '2027-01-01', end?: string): SuppliedAlignment => ({ ...claims(acoId, start, end), pathway: 'voluntary' });

  it('already claims-aligned to another ACO: claims-based alignment wins, Medicaid alignment fails not-aligned-elsewhere', () => {
    const d = decideAlignment('2027', person(), [claims('aco-2')], policy);
    expect(d.segments.map((s) => [s.acoId, s.pathway, s.start, s.end])).toEqual([['aco-2', 'claims', '2027-01-01', '2027-12-31']]);
    expect(failuresFor(d, 'aco-1')).toEqual({ 'not-aligned-elsewhere': 'claims-based alignment to aco-2' });
  });

  it('voluntary alignment wins over claims-based and Medicaid-enrollment alignment', () => {
    const d = decideAlignment('2027', person(), [claims('aco-1'), voluntary('aco-2')], policy);
    expect(d.segments.map((s) => [s.acoId, s.pathway])).toEqual([['aco-2', 'voluntary']]);
  });

  it('claims-based alignment to the same ACO is reported as claims, not Medicaid enrollment', () => {
    const d = decideAlignment('2027', person(), [claims('aco-1')], policy);
    expect(d.segments.map((s) => [s.acoId, s.pathway])).toEqual([['aco-1', 'claims']]);
  });

  it('month changes: MA from July, back in Original Medicare in October → two roster entries', () => {
    const d = decideAlignment('2027', person((m) => (m.month >= '2027-07' && m.month <= '2027-09' ? { ...m, medicare: undefined, advantage: { contractId: 'H1234' } } : m)), [], policy);
    expect(d.segments.map((s) => [s.start, s.end])).toEqual([
      ['2027-01-01', '2027-06-30'],
      ['2027-10-01', '2027-12-31'],
    ]);
    const ma = d.evaluations.find((e) => e.acoId === 'aco-1')!.failures.find((f) => f.criterion === 'no-medicare-advantage')!;
    expect(ma.months).toEqual(['2027-07', '2027-08', '2027-09']);
  });

  it('a claims alignment elsewhere ending mid-year hands the person to the Medicaid pathway from the next full month', () => {
    // Ends 2027-04-15: it covers April's first day, so April is still claims-aligned; May onward Medicaid.
    const d = decideAlignment('2027', person(), [claims('aco-2', '2026-01-01', '2027-04-15')], policy);
    expect(d.segments.map((s) => [s.acoId, s.pathway, s.start, s.end])).toEqual([
      ['aco-2', 'claims', '2027-01-01', '2027-04-30'],
      ['aco-1', 'medicaid-enrollment', '2027-05-01', '2027-12-31'],
    ]);
  });

  it('an agreement that ends mid-period stops alignment after its last full month', () => {
    // Fee-for-service Medicaid (through the SMA), county 39035: only aco-2 qualifies, Jan–Jun.
    const d = decideAlignment('2027', person((m) => ({ ...m, medicaid: { ...m.medicaid!, planId: undefined } }), { county: '39035' }), [], policy);
    expect(d.segments.map((s) => [s.acoId, s.start, s.end])).toEqual([['aco-2', '2027-01-01', '2027-06-30']]);
    expect(failuresFor(d, 'aco-2')['medicaid-partner']).toMatch(/sma, which has no agreement with aco-2/);
  });

  it('missing months are not aligned and are named', () => {
    const d = decideAlignment('2027', person(undefined, undefined, ['2027-01', '2027-02', '2027-03']), [], policy);
    expect(d.segments.map((s) => [s.start, s.end])).toEqual([['2027-01-01', '2027-03-31']]);
    const gap = d.evaluations.find((e) => e.acoId === 'aco-1')!.failures.find((f) => f.criterion === 'enrollment-data')!;
    expect(gap.months).toHaveLength(9);
  });

  it('several qualifying ACOs: the previous run\'s ACO is kept, otherwise the lowest id; never input order', () => {
    const both: AlignmentPolicy = { ...policy, agreements: [...policy.agreements, { aco: 'aco-2', medicaidPartner: 'mco-a', period: { start: '2027-01-01' } }] };
    expect(decideAlignment('2027', person(), [], both).segments[0].acoId).toBe('aco-1');
    expect(decideAlignment('2027', person(), [], both, ['aco-2']).segments[0].acoId).toBe('aco-2');
    const reversed: AlignmentPolicy = { ...both, acos: [...both.acos].reverse() };
    expect(decideAlignment('2027', person(), [], reversed).segments[0].acoId).toBe('aco-1');
  });
});
