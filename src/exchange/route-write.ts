// The Repository onWrite hook of the exchange: inside the data's transaction, decide who
// receives a committed resource (routing-rules.ts) and write the outbox rows (outbox.ts). If the
// transaction rolls back, so does the routing decision; if it commits, the decision is durable
// before anything touches Redis.
import type { Patient, Reference, Resource } from '@medplum/fhirtypes';
import type { PartnerDirectory } from '../config/partners.js';
import { activeMember, relatedPatientIdsSql } from '../consent/relationship.js';
import { ROSTER_IDENTIFIER_SYSTEM } from '../alignment/roster.js';
import type { Sql } from '../fhir/store/database.js';
import type { WriteEvent } from '../fhir/store/repository.js';
import { dataClassOf, sourceRecordOf, type DataClassRules } from './data-classes.js';
import { outbox } from './outbox.js';
import type { Roster } from './roster.js';
import { decideRoutes, type Beneficiary } from './routing-rules.js';
import { currentSource } from './write-source.js';

export interface RouteWriteDeps {
  directory: Pick<PartnerDirectory, 'agreements' | 'findOrganization'>;
  rules: DataClassRules;
  roster: Roster;
  now?: () => Date;
}

/** The Patient a resource is about (R4 compartment-defining elements of the routed types). */
export function beneficiaryIdOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id;
  const r = resource as { subject?: Reference; patient?: Reference; beneficiary?: Reference };
  for (const ref of [r.subject, r.patient, r.beneficiary]) {
    const m = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref?.reference ?? '');
    if (m) return m[1];
  }
  return undefined;
}

/**
 * ACOs the person is aligned to: active member of an alignment roster Group (src/alignment),
 * named by the Patient (generalPractitioner, managingOrganization), or by the roster file.
 */
async function alignedAcos(tx: Sql, patientId: string, patient: Patient | undefined, deps: RouteWriteDeps): Promise<string[]> {
  const out = new Set(deps.roster.acosFor(patient?.identifier));
  const r = await tx.query<{ aco: string }>(
    `SELECT DISTINCT me.target_id AS aco FROM idx_reference m
     JOIN idx_token gi ON gi.resource_type = 'Group' AND gi.id = m.id AND gi.param = 'identifier' AND gi.system = $2
     JOIN idx_reference me ON me.resource_type = 'Group' AND me.id = m.id AND me.param = 'managing-entity' AND me.target_type = 'Organization'
     WHERE m.resource_type = 'Group' AND m.param = 'member' AND m.target_type = 'Patient' AND m.target_id = $1 AND ${activeMember('m')}`,
    [patientId, ROSTER_IDENTIFIER_SYSTEM],
  );
  for (const row of r.rows) if (deps.directory.findOrganization(row.aco)?.type === 'ACO') out.add(row.aco);
  for (const ref of [...(patient?.generalPractitioner ?? []), patient?.managingOrganization]) {
    const m = /^Organization\/(.+)$/.exec(ref?.reference ?? '');
    if (m && deps.directory.findOrganization(m[1])?.type === 'ACO') out.add(m[1]);
  }
  return [...out];
}

export function createRouteWrite(deps: RouteWriteDeps): (tx: Sql, event: WriteEvent) => Promise<void> {
  const now = deps.now ?? (() => new Date());
  return async (tx, event) => {
    // Deletions are not propagated (docs/exchange.md "Not routed").
    if (event.kind === 'delete' || !event.resource) return;
    const resource = event.resource;
    const dataClass = dataClassOf(deps.rules, resource);
    if (!dataClass) return;
    const sourceOrg = currentSource() ?? sourceRecordOf(resource)?.sourceOrg;
    if (!sourceOrg || !deps.directory.findOrganization(sourceOrg)) return;
    const patientId = beneficiaryIdOf(resource);
    if (!patientId) return;
    const p = await tx.query<{ content: string }>(
      `SELECT content::text AS content FROM resource WHERE resource_type = 'Patient' AND id = $1 AND NOT deleted`,
      [patientId],
    );
    const patient = p.rows[0] ? (JSON.parse(p.rows[0].content) as Patient) : undefined;
    const beneficiary: Beneficiary = {
      acos: await alignedAcos(tx, patientId, patient, deps),
      relatedTo: async (organizationId) => {
        const org = deps.directory.findOrganization(organizationId);
        if (!org) return false;
        const values: unknown[] = [];
        const bind = (v: unknown) => {
          values.push(v);
          return `$${values.length}`;
        };
        const sub = relatedPatientIdsSql({ organizationId, organizationType: org.type }, bind);
        const r = await tx.query(`SELECT 1 FROM (${sub}) rel WHERE rel.patient_id = ${bind(patientId)} LIMIT 1`, values);
        return r.rows.length > 0;
      },
    };
    const routes = await decideRoutes(deps.directory, { sourceOrg, dataClass, date: now().toISOString().slice(0, 10), beneficiary });
    if (!routes.length) return;
    await outbox.record(tx, {
      routes,
      sourceOrg,
      patientId,
      dataClass,
      item: { resourceType: resource.resourceType, resourceId: event.id, versionId: event.versionId },
    });
  };
}
