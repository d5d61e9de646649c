// The profiles in /profiles load, and the validation helper the golden tests rely on does reject.
import { readdirSync, readFileSync } from 'node:fs';
import type { Observation, StructureDefinition } from '@medplum/fhirtypes';
import { PROFILE } from '../../../src/mappers/common/profiles.js';
import { validationErrors } from '../../support/fhir-validation.js';

const valid: Observation = {
  resourceType: 'Observation',
  id: 'x',
  meta: { profile: [PROFILE.assessmentObservation] },
  identifier: [{ system: 'urn:example', value: '1' }],
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
  code: { text: 'item' },
  subject: { reference: 'Patient/p' },
  effectiveDateTime: '2026-10-01',
  valueString: 'answer',
};

describe('LEAD profiles', () => {
  it('has a StructureDefinition with a snapshot for every profile the mappers declare', () => {
    const files = new Set(readdirSync('profiles'));
    for (const url of Object.values(PROFILE)) {
      const file = `StructureDefinition-${url.slice(url.lastIndexOf('/') + 1)}.json`;
      expect(files.has(file)).toBe(true);
      const sd = JSON.parse(readFileSync(`profiles/${file}`, 'utf8')) as StructureDefinition;
      expect(sd).toMatchObject({ url, derivation: 'constraint', fhirVersion: '4.0.1' });
      expect(sd.snapshot?.element?.length).toBeGreaterThan(10);
    }
  });

  it('accepts a conformant resource and rejects what the profile forbids', () => {
    expect(validationErrors(valid)).toEqual([]);
    const { identifier: _i, ...noIdentifier } = valid;
    expect(validationErrors(noIdentifier as Observation).join('\n')).toMatch(/Observation\.identifier/);
    const noSurvey = { ...valid, category: [{ text: 'other' }] };
    expect(validationErrors(noSurvey).join('\n')).toMatch(/Observation.category.*slice 'survey'|slice 'survey'.*Observation.category/);
    expect(validationErrors({ ...valid, effectiveDateTime: '2026-13-45' }).join('\n')).toMatch(/effectiveDateTime/);
    // Required bindings: the R4 JSON Schema pass catches what @medplum/core 4.5 does not.
    expect(validationErrors({ ...valid, status: 'bogus' } as unknown as Observation).join('\n')).toMatch(/status/);
    expect(validationErrors({ ...valid, meta: { profile: ['https://example.org/unknown'] } })).toEqual([
      'Observation/x: declares https://example.org/unknown, which is not in /profiles',
    ]);
  });
});
