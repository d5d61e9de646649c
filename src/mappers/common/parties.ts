// Shared resources a record references but does not own: the person, staff and organizations.
// They are written create-if-absent (see WriteMode): eligibility_month owns the Patient's details.
import type { Extension, HumanName, Identifier, Organization, Patient, Practitioner } from '@medplum/fhirtypes';
import { deterministicId } from './ids.js';
import { meta } from './fhir-helpers.js';
import { PROFILE } from './profiles.js';
import { EXTENSION, IDENTIFIER, SYSTEM } from './systems.js';

const unknown: Extension = { url: EXTENSION.dataAbsentReason, valueCode: 'unknown' };
// Source files carry no names. US Core requires one, so we say it is absent (US Core 6.1 us-core-6
// for Patient; a primitive extension on family for Practitioner, whose name.family is 1..1).
const absentPatientName: HumanName = { extension: [unknown] };
const absentFamilyName = { _family: { extension: [unknown] } } as unknown as HumanName;

export interface PersonKey {
  /** T-MSIS SUBMTG_STATE_CD (2-digit FIPS-like state code). */
  state: string;
  /** T-MSIS MSIS_IDENT_NUM. */
  msisId: string;
}

export interface PersonDetails extends PersonKey {
  mbi?: string;
  birthDate?: string;
  /** T-MSIS SEX_CD style: M, F, U. */
  sex?: string;
}

/** A person is identified by the state's Medicaid id, whoever sends the file. */
export function patientId(key: PersonKey): string {
  return deterministicId('Patient', key.state, key.msisId);
}

export function medicaidIdentifier(key: PersonKey): Identifier {
  return {
    use: 'official',
    type: { coding: [{ system: SYSTEM.v2IdentifierType, code: 'MA', display: 'Patient Medicaid number' }] },
    system: IDENTIFIER.medicaid(key.state),
    value: key.msisId,
  };
}

const GENDER: Record<string, Patient['gender']> = { M: 'male', F: 'female', U: 'unknown' };

export function buildPatient(p: PersonDetails): Patient & { id: string } {
  const identifier: Identifier[] = [medicaidIdentifier(p)];
  if (p.mbi) {
    identifier.push({
      type: { coding: [{ system: SYSTEM.v2IdentifierType, code: 'MC', display: "Patient's Medicare number" }] },
      system: SYSTEM.mbi,
      value: p.mbi,
    });
  }
  const patient: Patient & { id: string } = {
    resourceType: 'Patient',
    id: patientId(p),
    meta: meta(PROFILE.patient),
    identifier,
    name: [absentPatientName],
    gender: GENDER[p.sex ?? 'U'] ?? 'unknown',
  };
  if (p.birthDate) patient.birthDate = p.birthDate;
  return patient;
}

/** The sender organization (Provenance agent). */
export function buildSourceOrganization(sourceOrg: string, name: string): Organization & { id: string } {
  return {
    resourceType: 'Organization',
    id: deterministicId('Organization', 'source', sourceOrg),
    meta: meta(PROFILE.organization),
    identifier: [{ system: IDENTIFIER.sourceOrganization, value: sourceOrg }],
    active: true,
    name,
  };
}

/** An organization known by NPI (pharmacy, assessing entity) or by the sender's local id. */
export function buildOrganization(
  sourceOrg: string,
  key: { npi?: string; localId?: string },
  name: string,
): Organization & { id: string } {
  const identifier: Identifier = key.npi
    ? { system: SYSTEM.npi, value: key.npi }
    : { system: IDENTIFIER.sourceStaff(sourceOrg), value: key.localId ?? '' };
  return {
    resourceType: 'Organization',
    id: key.npi ? deterministicId('Organization', 'npi', key.npi) : deterministicId('Organization', sourceOrg, key.localId ?? ''),
    meta: meta(PROFILE.organization),
    identifier: [identifier],
    active: true,
    name,
  };
}

/** A practitioner known by NPI, else by the sender's staff id. */
export function buildPractitioner(sourceOrg: string, key: { npi?: string; localId?: string }): Practitioner & { id: string } {
  const identifier: Identifier[] = [];
  if (key.npi) identifier.push({ system: SYSTEM.npi, value: key.npi });
  if (key.localId) identifier.push({ system: IDENTIFIER.sourceStaff(sourceOrg), value: key.localId });
  return {
    resourceType: 'Practitioner',
    id: key.npi ? deterministicId('Practitioner', 'npi', key.npi) : deterministicId('Practitioner', sourceOrg, key.localId ?? ''),
    meta: meta(PROFILE.practitioner),
    identifier,
    name: [absentFamilyName],
  };
}
