// GET /fhir/metadata: built from what is really registered — the R4 types the store accepts,
// the search parameters the index extracts, our profiles — so it cannot drift from the code.
import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestSecurity, Extension } from '@medplum/fhirtypes';
import { r4ResourceTypes, searchParametersFor } from './definitions.js';
import type { ProfileCache } from './validation/profile-cache.js';
import type { TypeStore } from './store/type-store.js';

export interface CapabilityOptions {
  baseUrl: string; // FHIR base
  version: string;
  profiles: ProfileCache;
  /** SMART endpoints, advertised when authorization is on. */
  smart?: { tokenUrl: string };
  /** Extra operations registered by other modules (e.g. $export). */
  operations?: { name: string; definition: string }[];
  /** Operations on one resource type (e.g. Patient/$export, Group/[id]/$export). */
  resourceOperations?: Record<string, { name: string; definition: string }[]>;
  /** Extensions on one resource type's entry (e.g. the subscription topics on Subscription). */
  resourceExtensions?: Record<string, Extension[]>;
  /** Canonical CapabilityStatements this server implements (e.g. Bulk Data's). */
  instantiates?: string[];
  /** Types kept in stores of their own (type-store.ts): read-only, and only their search parameters. */
  typeStores?: readonly TypeStore[];
  /** Fixed date for reproducible output. */
  date?: string;
}

const INTERACTIONS: CapabilityStatementRestResource['interaction'] = [
  { code: 'read' },
  { code: 'vread' },
  { code: 'update' },
  { code: 'delete' },
  { code: 'history-instance' },
  { code: 'create' },
  { code: 'search-type' },
];

/** What a store-kept type offers: reads and searches; the gateway writes it (AuditEvent). */
const READ_ONLY_INTERACTIONS: CapabilityStatementRestResource['interaction'] = [{ code: 'read' }, { code: 'vread' }, { code: 'history-instance' }, { code: 'search-type' }];

const RESULT_PARAMS = ['_count', '_sort', '_total', '_summary', '_elements', '_include', '_revinclude'];

export function buildCapabilityStatement(opts: CapabilityOptions): CapabilityStatement {
  const profileUrls = opts.profiles.urls();
  const resources: CapabilityStatementRestResource[] = r4ResourceTypes().map((type) => {
    const store = opts.typeStores?.find((t) => t.resourceType === type);
    const params = Object.values(searchParametersFor(type))
      .filter((sp) => sp.type !== 'composite' && sp.type !== 'special')
      .filter((sp) => !store || store.searchParams.includes(sp.code as string))
      .map((sp) => ({ name: sp.code as string, definition: sp.url, type: sp.type as 'token' }));
    const supported = profileUrls.filter((u) => u.split('/').pop()?.toLowerCase().includes(type.toLowerCase()));
    const r: CapabilityStatementRestResource = {
      type: type as CapabilityStatementRestResource['type'],
      interaction: INTERACTIONS,
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalUpdate: true,
      conditionalDelete: 'single',
      conditionalRead: 'not-supported',
      referencePolicy: ['literal', 'local'],
      searchInclude: ['*'],
      searchRevInclude: ['*'],
      searchParam: params,
      operation: [
        { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
        ...(opts.resourceOperations?.[type] ?? []),
      ],
    };
    if (store) {
      // Written by the gateway only; searched by its own parameters; `_include` of what it refers to.
      Object.assign(r, { interaction: READ_ONLY_INTERACTIONS, versioning: 'versioned', updateCreate: false, conditionalCreate: false, conditionalUpdate: false, conditionalDelete: 'not-supported' });
      r.searchInclude = store.includes.map((p) => `${type}:${p}`);
    }
    if (supported.length) r.supportedProfile = supported;
    if (opts.resourceExtensions?.[type]?.length) r.extension = opts.resourceExtensions[type];
    return r;
  });
  const security: CapabilityStatementRestSecurity | undefined = opts.smart
      ? {
          cors: false,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          description: 'SMART Backend Services (client_credentials, private_key_jwt); see .well-known/smart-configuration',
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: opts.smart.tokenUrl }],
            },
          ],
        }
      : undefined;
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: opts.date ?? new Date().toISOString(),
    publisher: 'LEAD FHIR Gateway',
    kind: 'instance',
    ...(opts.instantiates?.length ? { instantiates: opts.instantiates } : {}),
    software: { name: 'lead-gateway', version: opts.version },
    implementation: { description: 'LEAD FHIR Gateway (Medicare ACO / Medicaid exchange)', url: opts.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        ...(security ? { security } : {}),
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        searchParam: RESULT_PARAMS.map((name) => ({ name, type: 'special' as const })),
        operation: opts.operations,
      },
    ],
  };
}
