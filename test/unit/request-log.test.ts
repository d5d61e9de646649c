import { pathTemplate } from '../../src/request-log.js';

describe('pathTemplate keeps no resource id in logs', () => {
  it.each([
    ['/fhir/Patient/8c1e-44', '/fhir/Patient/:id'],
    ['/fhir/Patient/8c1e-44/_history/3', '/fhir/Patient/:id/_history/:vid'],
    ['/fhir/Patient/_search', '/fhir/Patient/_search'],
    ['/fhir/Patient/$validate', '/fhir/Patient/$validate'],
    ['/fhir/Observation', '/fhir/Observation'],
    ['/healthz', '/healthz'],
  ])('%s → %s', (path, template) => {
    expect(pathTemplate(path)).toBe(template);
  });
});
