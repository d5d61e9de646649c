// The partner directory (PARTNERS_FILE): who may call the gateway, with which keys and scopes,
// where the gateway calls them, and which ACO ↔ Medicaid agreements exist. Validated once at
// start against config/partners.schema.json; a bad file stops start-up naming the JSON path.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { JSONWebKeySet } from 'jose';

export type OrganizationType = 'SMA' | 'MCO' | 'HIE' | 'ACO';

export interface RateLimit {
  requests: number;
  windowSeconds: number;
}

export interface PartnerClient {
  clientId: string;
  /** Inline public JWKS; exactly one of `jwks` and `jwksUri`. */
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  /** Pre-authorized SMART system scopes; a token never gets more. */
  scopes: string[];
  purposeOfUse?: string;
  rateLimit?: RateLimit;
}

/** How the gateway reaches the partner (outbound SMART Backend Services). */
export interface PartnerEndpoint {
  fhirBaseUrl: string;
  tokenUrl: string;
  /** The gateway's client id registered at the partner. */
  clientId: string;
  scope: string;
}

export interface PartnerOrganization {
  id: string;
  type: OrganizationType;
  name: string;
  state?: string;
  /** SMA: T-MSIS state codes of the Medicaid programs it runs (alignment). */
  medicaidStateCodes?: string[];
  /** MCO: T-MSIS MC_PLAN_ID values of its managed care plans (alignment). */
  medicaidPlanIds?: string[];
  part2Program?: boolean;
  serviceArea?: { counties?: string[]; zips?: string[] };
  clients: PartnerClient[];
  endpoint?: PartnerEndpoint;
  /**
   * URLs where the organization receives subscription notifications (rest-hook). A Subscription's
   * channel.endpoint must be one of these: the gateway never posts to an arbitrary URL.
   */
  notificationEndpoints?: string[];
}

export interface Agreement {
  id: string;
  aco: string;
  medicaidPartner: string;
  dataClasses: string[];
  purposeOfUse: string;
  period: { start: string; end?: string };
}

export interface PartnersFile {
  defaults?: { rateLimit?: RateLimit };
  organizations: PartnerOrganization[];
  agreements: Agreement[];
}

export interface RegisteredClient {
  organization: PartnerOrganization;
  client: PartnerClient;
}

/** The validated directory with the lookups the gateway needs. */
export interface PartnerDirectory extends PartnersFile {
  findClient(clientId: string): RegisteredClient | undefined;
  findOrganization(id: string): PartnerOrganization | undefined;
}

// v3-ActReason purpose of use asserted when a client registration names none
// (consent-security.md §1.3 "Suggested bindings").
const DEFAULT_PURPOSE_OF_USE: Record<OrganizationType, string> = {
  SMA: 'HOPERAT',
  MCO: 'HPAYMT',
  HIE: 'TREAT',
  ACO: 'TREAT',
};

export function purposeOfUseOf(registered: RegisteredClient): string {
  return registered.client.purposeOfUse ?? DEFAULT_PURPOSE_OF_USE[registered.organization.type];
}

const SCHEMA_URL = new URL('../../config/partners.schema.json', import.meta.url);
let validator: ReturnType<Ajv2020['compile']> | undefined;

function validate(data: unknown): ErrorObject[] {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    addFormats.default(ajv);
    validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_URL, 'utf8')));
  }
  return validator(data) ? [] : [...(validator.errors ?? [])];
}

function describe(e: ErrorObject): string {
  const where = e.instancePath || '/';
  const extra = e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
  const prop = e.keyword === 'additionalProperties' ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"` : '';
  return `${where} ${e.message ?? 'is invalid'}${prop}${extra}`;
}

/** Checks the schema cannot express: unique ids, references between entries, unique kids. */
function crossCheck(file: PartnersFile): string[] {
  const problems: string[] = [];
  const orgs = new Map<string, PartnerOrganization>();
  const clients = new Set<string>();
  file.organizations.forEach((org, i) => {
    if (orgs.has(org.id)) problems.push(`/organizations/${i}/id "${org.id}" is not unique`);
    orgs.set(org.id, org);
    org.clients.forEach((c, j) => {
      const at = `/organizations/${i}/clients/${j}`;
      if (clients.has(c.clientId)) problems.push(`${at}/clientId "${c.clientId}" is not unique`);
      clients.add(c.clientId);
      const kids = new Set<string>();
      c.jwks?.keys.forEach((k, n) => {
        // SMART: exactly one key may match a kid (client-confidential-asymmetric.md "Signature Verification").
        if (kids.has(String(k.kid))) problems.push(`${at}/jwks/keys/${n}/kid "${k.kid}" is not unique`);
        kids.add(String(k.kid));
      });
    });
  });
  const plans = new Map<string, string>();
  file.organizations.forEach((org, i) => {
    if (org.medicaidStateCodes && org.type !== 'SMA') problems.push(`/organizations/${i}/medicaidStateCodes is for an SMA only`);
    if (org.medicaidPlanIds && org.type !== 'MCO') problems.push(`/organizations/${i}/medicaidPlanIds is for an MCO only`);
    for (const plan of org.medicaidPlanIds ?? []) {
      // Alignment names one Medicaid partner per member-month: a plan belongs to one MCO.
      if (plans.has(plan)) problems.push(`/organizations/${i}/medicaidPlanIds "${plan}" is also listed by ${plans.get(plan)}`);
      plans.set(plan, org.id);
    }
  });
  file.agreements.forEach((a, i) => {
    const aco = orgs.get(a.aco);
    if (aco?.type !== 'ACO') problems.push(`/agreements/${i}/aco "${a.aco}" is not an ACO organization`);
    const partner = orgs.get(a.medicaidPartner);
    if (!partner || partner.type === 'ACO') {
      problems.push(`/agreements/${i}/medicaidPartner "${a.medicaidPartner}" is not an SMA, MCO or HIE organization`);
    }
    if (a.period.end && a.period.end < a.period.start) problems.push(`/agreements/${i}/period/end is before start`);
  });
  return problems;
}

/** Validates parsed partner-directory JSON; throws an Error naming every bad JSON path. */
export function parsePartners(data: unknown, source = 'partners file'): PartnerDirectory {
  const schemaErrors = validate(data).map(describe);
  const problems = schemaErrors.length ? schemaErrors : crossCheck(data as PartnersFile);
  if (problems.length) throw new Error(`Invalid ${source}: ${problems.join('; ')}`);
  const file = data as PartnersFile;
  const byClient = new Map<string, RegisteredClient>();
  const byId = new Map<string, PartnerOrganization>();
  for (const organization of file.organizations) {
    byId.set(organization.id, organization);
    for (const client of organization.clients) byClient.set(client.clientId, { organization, client });
  }
  return {
    ...file,
    findClient: (clientId) => byClient.get(clientId),
    findOrganization: (id) => byId.get(id),
  };
}

/** MC_PLAN_ID → MCO organization id, from the MCOs' `medicaidPlanIds` (mappers' MapContext). */
export function medicaidPlansOf(directory: Pick<PartnersFile, 'organizations'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of directory.organizations) for (const p of o.medicaidPlanIds ?? []) out[p] = o.id;
  return out;
}

/** Reads and validates PARTNERS_FILE. */
export function loadPartners(path: string): PartnerDirectory {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`Invalid partners file ${path}: ${(err as Error).message}`);
  }
  return parsePartners(data, `partners file ${path}`);
}
