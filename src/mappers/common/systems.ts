// Code system and identifier system URIs used by every mapper.
// External URIs are the ones the owning specification publishes; local ones live under
// LEAD_CANONICAL, which must be replaced by the gateway's published canonical before go-live.

/** Canonical base for the profiles, CodeSystems and identifier systems this gateway defines. */
export const LEAD_CANONICAL = 'https://lead-gateway.example.org/fhir';

export const SYSTEM = {
  // https://terminology.hl7.org/ and US Core 6.1 "General Guidance" (terminology systems table)
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  ucum: 'http://unitsofmeasure.org',
  ndc: 'http://hl7.org/fhir/sid/ndc',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  npi: 'http://hl7.org/fhir/sid/us-npi',
  mbi: 'http://hl7.org/fhir/sid/us-mbi',
  v2IdentifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  usCoreCategory: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-category',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  provenanceParticipantType: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  dataOperation: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
  dataAbsentReason: 'http://terminology.hl7.org/CodeSystem/data-absent-reason',
  coverageClass: 'http://terminology.hl7.org/CodeSystem/coverage-class',
  subscriberRelationship: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship',
  // Source of Payment Typology, as bound by US Core 6.1 Coverage.type (PHDSC/NAHDO)
  sopt: 'https://nahdo.org/sopt',
  // CMS Blue Button / BFD code system for the MMA dual status code (CMSgov/beneficiary-fhir-data SystemUrls)
  dualStatus: 'https://bluebutton.cms.gov/fhir/CodeSystem/BENE-DUAL-STUS-CD',
  medicationRequestCategory: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category',
  riskProbability: 'http://terminology.hl7.org/CodeSystem/risk-probability',
  icf: 'http://hl7.org/fhir/sid/icf',
} as const;

export const EXTENSION = {
  dataAbsentReason: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
  dualStatus: `${LEAD_CANONICAL}/StructureDefinition/dual-status`,
} as const;

/** Local CodeSystems: codes that have no published standard code (CMS raw codes, interRAI, STEADI). */
export const LOCAL_SYSTEM = {
  cmsAssessmentItem: `${LEAD_CANONICAL}/CodeSystem/cms-assessment-item`,
  cmsAssessmentResponse: `${LEAD_CANONICAL}/CodeSystem/cms-assessment-response`,
  interraiHcItem: `${LEAD_CANONICAL}/CodeSystem/interrai-hc-item`,
  interraiHcResponse: `${LEAD_CANONICAL}/CodeSystem/interrai-hc-response`,
  fallsScreen: `${LEAD_CANONICAL}/CodeSystem/falls-screen`,
  medicationRisk: `${LEAD_CANONICAL}/CodeSystem/medication-risk`,
  fridClass: `${LEAD_CANONICAL}/CodeSystem/medication-risk-frid-class`,
} as const;

/** Identifier systems. A Medicaid id is issued per state, so the state is part of the system. */
export const IDENTIFIER = {
  medicaid: (state: string): string => `${LEAD_CANONICAL}/sid/medicaid/${state}`,
  sourceRecord: (sourceOrg: string, layout: string): string =>
    `${LEAD_CANONICAL}/sid/source/${encodeURIComponent(sourceOrg)}/${layout}`,
  sourceStaff: (sourceOrg: string): string => `${LEAD_CANONICAL}/sid/source/${encodeURIComponent(sourceOrg)}/staff`,
  sourceOrganization: `${LEAD_CANONICAL}/sid/organization`,
} as const;
