import { dateRange } from '../../../src/fhir/store/dates.js';

const iso = (ms: number) => new Date(ms).toISOString();

describe('dateRange (a FHIR date is a range at its precision)', () => {
  it.each([
    ['2024', '2024-01-01T00:00:00.000Z', '2024-12-31T23:59:59.999Z'],
    ['2024-02', '2024-02-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z'],
    ['2023-02-28', '2023-02-28T00:00:00.000Z', '2023-02-28T23:59:59.999Z'],
    ['2024-05-06T10:30Z', '2024-05-06T10:30:00.000Z', '2024-05-06T10:30:59.999Z'],
    ['2024-05-06T10:30:15+02:00', '2024-05-06T08:30:15.000Z', '2024-05-06T08:30:15.999Z'],
    ['2024-05-06T10:30:15.25Z', '2024-05-06T10:30:15.250Z', '2024-05-06T10:30:15.250Z'],
  ])('%s → [%s, %s]', (value, low, high) => {
    const r = dateRange(value)!;
    expect([iso(r.low), iso(r.high)]).toEqual([low, high]);
  });

  it.each(['2023-02-30', '2024-13', '24-01-01', "2024'; --", '2024-01-01T25:00Z', ''])('rejects %p', (v) => {
    expect(dateRange(v)).toBeUndefined();
  });
});
