import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { criteriaKey } from '../../../src/fhir/search/criteria-key.js';
import { parseSearchRequest } from '../../../src/fhir/search/search-request.js';

beforeAll(() => loadDefinitions());
const key = (type: string, query: string) =>
  criteriaKey(parseSearchRequest(type, [...new URLSearchParams(query)], { strict: false, defaultCount: 50, maxCount: 1000 }));

describe('conditional criteria key', () => {
  it('is the same for the same criteria in another order, with result parameters or OR-ed values reordered', () => {
    expect(key('Patient', 'identifier=urn:x|1&birthdate=1948-07-01')).toBe(key('Patient', 'birthdate=1948-07-01&identifier=urn%3Ax%7C1&_count=1'));
    expect(key('Patient', 'identifier=urn:x|1,urn:x|2')).toBe(key('Patient', 'identifier=urn:x|2,urn:x|1'));
  });

  it('differs by type, value, modifier and chain', () => {
    const keys = [
      key('Patient', 'identifier=urn:x|1'),
      key('Patient', 'identifier=urn:x|2'),
      key('Group', 'identifier=urn:x|1'),
      key('Patient', 'identifier:not=urn:x|1'),
      key('Observation', 'subject:Patient.identifier=urn:x|1'),
      key('Patient', 'identifier=urn:x|1&identifier=urn:x|2'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps escaped separators apart from real ones', () => {
    expect(key('Patient', 'identifier=urn:x|a\\,b')).not.toBe(key('Patient', 'identifier=urn:x|a,b'));
  });
});
