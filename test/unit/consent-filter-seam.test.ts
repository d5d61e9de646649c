import { filterForRecipient } from '../../src/consent/filter.js';

// The seam exists before the consent engine: it must hand every resource through unchanged so
// that exchange and bulk export can be built and tested against it.
it('passes every resource through unchanged until the consent engine lands', async () => {
  const resources = [
    { resourceType: 'Patient' as const, id: 'p1' },
    { resourceType: 'Observation' as const, id: 'o1', status: 'final' as const, code: { text: 'x' } },
  ];
  const r = await filterForRecipient({ organizationId: 'aco-sunrise', purposeOfUse: 'TREAT' }, resources);
  expect(r.permitted).toEqual(resources);
  expect(r.withheld).toBe(0);
});
