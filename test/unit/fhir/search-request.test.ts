import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { FhirError } from '../../../src/fhir/outcomes.js';
import { parseSearchRequest, splitValues } from '../../../src/fhir/search/search-request.js';
import { splitUnion } from '../../../src/fhir/store/index-extraction.js';

beforeAll(() => loadDefinitions());
const opts = { strict: false, defaultCount: 50, maxCount: 1000 };

describe('search request parsing', () => {
  it('splits values at unescaped commas only', () => {
    expect(splitValues('a,b\\,c')).toEqual(['a', 'b\\,c']);
  });

  it('parses chains, modifiers, includes and result parameters', () => {
    const r = parseSearchRequest(
      'Observation',
      [
        ['subject:Patient.identifier', 'urn:x|1'],
        ['code:not', 'a'],
        ['_include', 'Observation:subject:Patient'],
        ['_sort', '-date,_id'],
        ['_count', '5000'],
        ['_total', 'accurate'],
      ],
      opts,
    );
    expect(r.filters[0].chain?.targetType).toBe('Patient');
    expect(r.filters[0].chain?.filter.code).toBe('identifier');
    expect(r.filters[1].modifier).toBe('not');
    expect(r.include[0]).toMatchObject({ sourceType: 'Observation', param: 'subject', targetType: 'Patient' });
    expect(r.sort).toEqual([{ code: 'date', type: 'date', desc: true }, { code: '_id', type: 'id', desc: false }]);
    expect(r.count).toBe(1000); // capped
    expect(r.total).toBe('accurate');
  });

  it('ignores unknown parameters when lenient and rejects them when strict', () => {
    expect(parseSearchRequest('Patient', [['nope', '1']], opts).ignored).toEqual(['nope']);
    expect(() => parseSearchRequest('Patient', [['nope', '1']], { ...opts, strict: true })).toThrow(FhirError);
  });

  it('rejects bad values of known parameters even when lenient', () => {
    expect(() => parseSearchRequest('Patient', [['birthdate', 'yesterday']], opts)).toThrow(/not a valid date/);
    expect(() => parseSearchRequest('Patient', [['family:fuzzy', 'x']], opts)).toThrow(/not supported/);
    expect(() => parseSearchRequest('Patient', [['_count', '-1']], opts)).toThrow(/_count/);
  });
});

describe('splitUnion', () => {
  it('splits at top-level pipes only', () => {
    expect(splitUnion("A.x | (B.y as Quantity) | C.z.where(a = 'p|q')")).toEqual(['A.x', '(B.y as Quantity)', "C.z.where(a = 'p|q')"]);
  });
});
