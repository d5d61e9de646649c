// The partner directory as FHIR R4 Organization and Endpoint resources (pure; no I/O).
// Both resources take the organization id, so `Organization/aco-sunrise` names its
// `Endpoint/aco-sunrise`.
import type { Endpoint, Organization } from '@medplum/fhirtypes';
import type { OrganizationType, PartnerOrganization } from './partners.js';

/** Our role code for an organization in a LEAD partnership (SMA, MCO, HIE, ACO). */
export const ORGANIZATION_ROLE_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/organization-role';
const ORGANIZATION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/organization-type';

// Nearest code in the base R4 organization-type code system (checked against R4 4.0.1).
const BASE_TYPE: Record<OrganizationType, { code: string; display: string }> = {
  SMA: { code: 'govt', display: 'Government' },
  MCO: { code: 'ins', display: 'Insurance Company' },
  HIE: { code: 'other', display: 'Other' },
  ACO: { code: 'prov', display: 'Healthcare Provider' },
};

const ROLE_DISPLAY: Record<OrganizationType, string> = {
  SMA: 'State Medicaid Agency',
  MCO: 'Medicaid managed care organization',
  HIE: 'Health information exchange',
  ACO: 'Medicare accountable care organization',
};

export function toOrganization(org: PartnerOrganization): Organization {
  return {
    resourceType: 'Organization',
    id: org.id,
    active: true,
    type: [
      {
        coding: [
          { system: ORGANIZATION_ROLE_SYSTEM, code: org.type, display: ROLE_DISPLAY[org.type] },
          { system: ORGANIZATION_TYPE_SYSTEM, ...BASE_TYPE[org.type] },
        ],
        text: ROLE_DISPLAY[org.type],
      },
    ],
    name: org.name,
    ...(org.state ? { address: [{ state: org.state, country: 'US' }] } : {}),
    ...(org.endpoint ? { endpoint: [{ reference: `Endpoint/${org.id}` }] } : {}),
  };
}

export function toEndpoint(org: PartnerOrganization): Endpoint | undefined {
  if (!org.endpoint) return undefined;
  return {
    resourceType: 'Endpoint',
    id: org.id,
    status: 'active',
    connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'hl7-fhir-rest' },
    name: `${org.name} FHIR API`,
    managingOrganization: { reference: `Organization/${org.id}` },
    payloadType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/endpoint-payload-type', code: 'any' }] }],
    payloadMimeType: ['application/fhir+json'],
    address: org.endpoint.fhirBaseUrl,
  };
}

/** Every organization and endpoint of the directory, Organizations first. */
export function partnerResources(organizations: readonly PartnerOrganization[]): Array<Organization | Endpoint> {
  const endpoints = organizations.map(toEndpoint).filter((e): e is Endpoint => e !== undefined);
  return [...organizations.map(toOrganization), ...endpoints];
}
