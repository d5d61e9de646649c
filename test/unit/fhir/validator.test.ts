import { join } from 'node:path';
import { FhirError } from '../../../src/fhir/outcomes.js';
import { Validator } from '../../../src/fhir/validation/validator.js';

const LEAD_PATIENT = 'https://lead-gateway.example.org/fhir/StructureDefinition/lead-patient';
let v: Validator;
beforeAll(() => {
  v = Validator.fromProfileDir(join(process.cwd(), 'profiles'));
});

const patient = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  meta: { profile: [LEAD_PATIENT] },
  identifier: [{ system: 'urn:test', value: '1' }],
  name: [{ family: 'Valid' }],
  gender: 'female',
  ...extra,
});

describe('Validator', () => {
  it('loads our profiles once', () => {
    expect(v.profiles.has(LEAD_PATIENT)).toBe(true);
  });

  it('accepts a resource that meets base R4 and its declared profile', () => {
    expect(() => v.validate(patient() as never)).not.toThrow();
  });

  it('enforces the declared profile (Patient.identifier is 1..* in lead-patient)', () => {
    const issues = v.issues(patient({ identifier: undefined }) as never);
    expect(issues).toEqual([expect.objectContaining({ severity: 'error', expression: ['Patient.identifier'] })]);
    // Without the profile claim the same resource is valid base R4.
    expect(v.issues({ resourceType: 'Patient', name: [{ family: 'x' }] } as never)).toEqual([]);
  });

  it('rejects with a 422 FhirError listing every error', () => {
    try {
      v.validate({ resourceType: 'Patient', gender: 'robot', birthDate: 'yesterday' } as never);
      throw new Error('should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(FhirError);
      expect((err as FhirError).status).toBe(422);
      const exprs = (err as FhirError).outcome.issue!.flatMap((i) => i.expression ?? []);
      expect(exprs).toEqual(expect.arrayContaining(['Patient.gender', 'Patient.birthDate']));
    }
  });

  it('catches what each pass alone would miss: code enums (JSON Schema) and cardinality (structure)', () => {
    expect(v.issues({ resourceType: 'Observation', status: 'bogus', code: { text: 'x' } } as never)[0].expression).toEqual(['Observation.status']);
    expect(v.issues({ resourceType: 'Observation', status: 'final' } as never)[0].expression).toEqual(['Observation.code']);
  });

  it('ignores profiles it does not publish and refuses an unknown resourceType', () => {
    expect(v.issues({ resourceType: 'Patient', meta: { profile: ['http://example.org/unknown'] } } as never)).toEqual([]);
    expect(v.issues({ resourceType: 'Patientt' } as never)[0].expression).toEqual(['resourceType']);
  });
});
