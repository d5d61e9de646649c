// The $alignment explanation: who sees which evaluations, other ACOs' names withheld from an ACO.
import { explainAlignment, monthRanges } from '../../../src/alignment/explain.js';
import { decideAlignment, periodMonths, type AlignmentPolicy } from '../../../src/alignment/rules.js';

const policy: AlignmentPolicy = {
  acos: [{ id: 'aco-1', serviceArea: { counties: ['39049'] } }, { id: 'aco-2', serviceArea: { counties: ['39049'] } }],
  agreements: [{ aco: 'aco-1', medicaidPartner: 'mco-a', period: { start: '2027-01-01' } }],
  medicaidPartnerOf: () => 'mco-a',
};
const months = periodMonths('2027').map((month) => ({
  month,
  medicare: { partA: true, partB: true, entitlement: 'C' },
  medicaid: { stateCode: '39', dualStatus: '02', planId: 'PLAN-A', coverageId: `c-${month}` },
}));
// Eligible for aco-1 all year, but claims-aligned to aco-2 from July.
const decision = {
  ...decideAlignment('2027', { patientId: 'p1', residence: { county: '39049' }, months }, [{ patientId: 'p1', acoId: 'aco-2', pathway: 'claims', start: '2027-07-01', source: 't' }], policy),
  runId: 'r1',
  decidedAt: '2027-01-02T00:00:00.000Z',
};
const details = (p: ReturnType<typeof explainAlignment>) =>
  (p.parameter ?? [])
    .filter((x) => x.name === 'evaluation')
    .flatMap((e) => (e.part ?? []).filter((x) => x.name === 'failed').map((f) => [e.part![0].valueReference?.reference, f.part![1].valueString, f.part![2].valueString]));

describe('alignment explanation', () => {
  it('an ACO sees its own evaluation, with the other ACO named only as "another ACO"', () => {
    const p = explainAlignment(decision, { organizationId: 'aco-1', fullView: false });
    expect(details(p)).toEqual([['Organization/aco-1', '2027-07..2027-12', 'claims-based alignment to another ACO']]);
    expect(JSON.stringify(p)).not.toContain('aco-2');
    expect(p.parameter?.filter((x) => x.name === 'alignment')).toHaveLength(1);
  });

  it('a Medicaid partner sees every ACO and every name', () => {
    const p = explainAlignment(decision, { organizationId: 'mco-a', fullView: true });
    expect(details(p)).toContainEqual(['Organization/aco-1', '2027-07..2027-12', 'claims-based alignment to aco-2']);
    expect(p.parameter?.filter((x) => x.name === 'alignment').map((a) => a.part![0].valueReference?.reference)).toEqual(['Organization/aco-1', 'Organization/aco-2']);
  });

  it('writes month lists as ranges', () => {
    expect(monthRanges(['2027-03', '2027-01', '2027-02', '2027-07', '2027-12', '2028-01'])).toBe('2027-01..2027-03, 2027-07, 2027-12..2028-01');
  });
});
