import { filterForRecipient } from '../../../src/consent/filter.js';

// The seam exchange and bulk export call: with no consent engine installed (a process that
// never built a gateway) it must fail closed, not pass data through.
it('discloses nothing when no consent engine is installed', async () => {
  const resources = [
    { resourceType: 'Patient' as const, id: 'p1' },
    { resourceType: 'Observation' as const, id: 'o1', status: 'final' as const, code: { text: 'x' } },
  ];
  const r = await filterForRecipient({ organizationId: 'aco-sunrise', purposeOfUse: 'TREAT' }, resources);
  expect(r.permitted).toEqual([]);
  expect(r.withheld).toBe(2);
});
