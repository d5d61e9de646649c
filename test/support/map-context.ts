// A fixed mapping context for golden tests: same sender, file and clock every run.
import type { MapContext } from '../../src/mappers/common/types.js';

export const ctx: MapContext = {
  sourceOrg: 'state-26-medicaid',
  sourceOrgName: 'Example State Medicaid Agency',
  fileName: 'golden.csv',
  now: () => new Date('2026-11-02T08:00:00.000Z'),
};
