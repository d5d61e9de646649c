// Synthetic, deterministic FHIR data for the benchmarks: Patient i and Observation i (whose
// subject is Patient i and whose code is CODES[i % CODES.length]). Ids are UUID-shaped and
// derived from i, so the load client can pick valid ids without a list. No real person's data.
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { Repository } from '../src/fhir/store/repository.js';

const hex12 = (i: number): string => i.toString(16).padStart(12, '0');
export const patientId = (i: number): string => `00000000-0000-4000-8000-${hex12(i)}`;
export const observationId = (i: number): string => `00000000-0000-4000-9000-${hex12(i)}`;

export const CODES = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', ucum: '/min', low: 60, high: 100, category: 'vital-signs' },
  { code: '8310-5', display: 'Body temperature', unit: 'Cel', ucum: 'Cel', low: 36.1, high: 37.2, category: 'vital-signs' },
  { code: '9279-1', display: 'Respiratory rate', unit: '/min', ucum: '/min', low: 12, high: 20, category: 'vital-signs' },
  { code: '29463-7', display: 'Body weight', unit: 'kg', ucum: 'kg', low: 40, high: 120, category: 'vital-signs' },
  { code: '8302-2', display: 'Body height', unit: 'cm', ucum: 'cm', low: 140, high: 200, category: 'vital-signs' },
  { code: '39156-5', display: 'Body mass index (BMI) [Ratio]', unit: 'kg/m2', ucum: 'kg/m2', low: 18.5, high: 25, category: 'vital-signs' },
  { code: '2339-0', display: 'Glucose [Mass/volume] in Blood', unit: 'mg/dL', ucum: 'mg/dL', low: 70, high: 99, category: 'laboratory' },
  { code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', unit: '%', ucum: '%', low: 4, high: 5.6, category: 'laboratory' },
  { code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma', unit: 'mg/dL', ucum: 'mg/dL', low: 125, high: 200, category: 'laboratory' },
  { code: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL', ucum: 'mg/dL', low: 0.6, high: 1.3, category: 'laboratory' },
] as const;

const FAMILY = ['Okafor', 'Lindqvist', 'Ramirez', 'Nguyen', 'Haddad', 'Kowalski', 'Brennan', 'Tanaka', 'Osei', 'Moreau'];
const GIVEN = ['Avery', 'Jordan', 'Rosalind', 'Tomasz', 'Imani', 'Mateo', 'Priya', 'Elias', 'Noor', 'Beatrix'];
const CITY = [
  ['Springfield', 'IL', '62701'],
  ['Columbus', 'OH', '43215'],
  ['Albany', 'NY', '12207'],
  ['Sacramento', 'CA', '95814'],
  ['Austin', 'TX', '78701'],
] as const;

/** A small deterministic PRNG (mulberry32): the same i always gives the same resource. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const digits = (r: () => number, n: number): string => Array.from({ length: n }, () => Math.floor(r() * 10)).join('');
const date = (r: () => number, fromYear: number, years: number): string => {
  const d = new Date(Date.UTC(fromYear, 0, 1) + Math.floor(r() * years * 365.25 * 86400000));
  return d.toISOString().slice(0, 10);
};

/** About 1 KB of JSON: identifiers, name, telecom, address, US Core race extension. */
export function makePatient(i: number): Patient {
  const r = rng(i * 2 + 1);
  const family = pick(r, FAMILY);
  const given = pick(r, GIVEN);
  const [city, state, zip] = pick(r, CITY);
  return {
    resourceType: 'Patient',
    id: patientId(i),
    extension: [
      {
        url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
        extension: [
          { url: 'ombCategory', valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2106-3', display: 'White' } },
          { url: 'text', valueString: 'White' },
        ],
      },
    ],
    identifier: [
      { system: 'http://hl7.org/fhir/sid/us-mbi', value: `${1 + Math.floor(r() * 9)}EG4TE5MK${digits(r, 2)}` },
      { system: 'urn:oid:2.16.840.1.113883.4.3.36', value: `MCD${digits(r, 9)}` },
    ],
    active: true,
    name: [{ use: 'official', family, given: [given, pick(r, GIVEN)] }],
    telecom: [
      { system: 'phone', value: `555-${digits(r, 3)}-${digits(r, 4)}`, use: 'home' },
      { system: 'email', value: `${given.toLowerCase()}.${family.toLowerCase()}${i}@example.org` },
    ],
    gender: r() < 0.5 ? 'female' : 'male',
    birthDate: date(r, 1930, 35),
    address: [{ use: 'home', line: [`${1 + Math.floor(r() * 9999)} Main Street`, `Apt ${1 + Math.floor(r() * 40)}`], city, state, postalCode: zip, country: 'US' }],
    maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M', display: 'Married' }] },
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US', display: 'English (United States)' }] }, preferred: true }],
    generalPractitioner: [{ reference: 'Practitioner/bench-gp', display: 'Primary care provider' }],
  };
}

/** About 1 KB of JSON: a final vital sign or lab result for Patient i. */
export function makeObservation(i: number): Observation {
  const r = rng(i * 2 + 2);
  const c = CODES[i % CODES.length];
  const value = Math.round((c.low + (c.high - c.low) * (0.8 + r() * 0.5)) * 10) / 10;
  // Minutes 05–55 (a digit 6–9 before the 5 made 65–95: invalid R4, unnoticed where loads skip validation).
  const effective = `${date(r, 2024, 2)}T${String(8 + Math.floor(r() * 10)).padStart(2, '0')}:${Math.floor(r() * 6)}5:00Z`;
  return {
    resourceType: 'Observation',
    id: observationId(i),
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.7418.2', value: `OBS-${digits(r, 10)}` }],
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: c.category,
            display: c.category === 'laboratory' ? 'Laboratory' : 'Vital Signs',
          },
        ],
      },
    ],
    code: { coding: [{ system: 'http://loinc.org', code: c.code, display: c.display }], text: c.display },
    subject: { reference: `Patient/${patientId(i)}` },
    effectiveDateTime: effective,
    issued: effective.replace('Z', '.000Z'),
    performer: [{ reference: 'Organization/bench-lab', display: 'Community clinic laboratory' }],
    valueQuantity: { value, unit: c.unit, system: 'http://unitsofmeasure.org', code: c.ucum },
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: value > c.high ? 'H' : 'N',
            display: value > c.high ? 'High' : 'Normal',
          },
        ],
      },
    ],
    referenceRange: [
      {
        low: { value: c.low, unit: c.unit, system: 'http://unitsofmeasure.org', code: c.ucum },
        high: { value: c.high, unit: c.unit, system: 'http://unitsofmeasure.org', code: c.ucum },
      },
    ],
    note: [{ text: 'Synthetic benchmark observation; recorded at a routine visit.' }],
  };
}

/** The search of scenario 2 for Observation i: exactly one match. */
export function observationSearchQuery(i: number): string {
  return `subject=Patient/${patientId(i)}&code=${encodeURIComponent(`http://loinc.org|${CODES[i % CODES.length].code}`)}`;
}

/**
 * The consent benchmarks' data (bench/consent-filter.ts, bench/consent-http.ts): `patients` people
 * each covered by the MCO (mco-bluecare) with `perPatient` Observations; every 10th Observation
 * also carries SNOMED 66214007 (opioid dependence), so the labeler marks it R / SUD / 42CFRPart2
 * and the MCO's requests have it withheld. One transaction per person, through `repo`'s write path.
 */
export async function loadCoveredPatients(repo: Repository, patients: number, perPatient: number): Promise<void> {
  let n = 0;
  for (let p = 0; p < patients; p++) {
    await repo.withTransaction(async (tx) => {
      await tx.update(makePatient(p));
      await tx.create({ resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${patientId(p)}` }, payor: [{ reference: 'Organization/mco-bluecare' }] } as Resource);
      for (let k = 0; k < perPatient; k++, n++) {
        const o = makeObservation(n);
        o.subject = { reference: `Patient/${patientId(p)}` };
        if (n % 10 === 0) o.code = { ...o.code, coding: [...(o.code.coding ?? []), { system: 'http://snomed.info/sct', code: '66214007' }] };
        await tx.update(o);
      }
    });
  }
}
