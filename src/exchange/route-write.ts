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
function alignedAcos(person: Person, deps: RouteWriteDeps): string[] {
  const out = new Set(deps.roster.acosFor(person.patient?.identifier));
  for (const aco of person.rosterAcos) if (deps.directory.findOrganization(aco)?.type === 'ACO') out.add(aco);
  for (const ref of [...(person.patient?.generalPractitioner ?? []), person.patient?.managingOrganization]) {
    const m = /^Organization\/(.+)$/.exec(ref?.reference ?? '');
    if (m && deps.directory.findOrganization(m[1])?.type === 'ACO') out.add(m[1]);
  }
  return [...out];
}

/** What routing reads about the person: their Patient and the roster Groups naming them. */
interface Person {
  patient: Patient | undefined;
  rosterAcos: string[];
}

// The beneficiary as this transaction sees it, read once per transaction: a record writes
// ~20 resources about one person. Exact, because every write of the transaction passes through
// this hook first: a Patient written replaces the cached one, a Group written drops the roster
// part. Keyed by the transaction object (a savepoint unit has its own, see Repository.unit).
const people = new WeakMap<Sql, Map<string, Partial<Person>>>();

function cacheOf(tx: Sql): Map<string, Partial<Person>> {
  let m = people.get(tx);
  if (!m) people.set(tx, (m = new Map()));
  return m;
}

function observe(tx: Sql, event: WriteEvent): void {
  const cache = people.get(tx);
  if (!cache) return;
  if (event.resourceType === 'Patient') {
    const p = cache.get(event.id);
    if (p) p.patient = event.kind === 'delete' ? undefined : (event.resource as Patient);
  } else if (event.resourceType === 'Group') {
    for (const p of cache.values()) delete p.rosterAcos;
  }
}

async function personOf(tx: Sql, patientId: string): Promise<Person> {
  const cache = cacheOf(tx);
  const p = cache.get(patientId) ?? {};
  cache.set(patientId, p);
  if (!('patient' in p)) {
    const r = await tx.query<{ content: string }>(
      `SELECT content::text AS content FROM resource WHERE resource_type = 'Patient' AND id = $1 AND NOT deleted`,
      [patientId],
    );
    p.patient = r.rows[0] ? (JSON.parse(r.rows[0].content) as Patient) : undefined;
  }
  if (!p.rosterAcos) {
    const r = await tx.query<{ aco: string }>(
      `SELECT DISTINCT me.target_id AS aco FROM idx_reference m
       JOIN idx_token gi ON gi.resource_type = 'Group' AND gi.id = m.id AND gi.param = 'identifier' AND gi.system = $2
       JOIN idx_reference me ON me.resource_type = 'Group' AND me.id = m.id AND me.param = 'managing-entity' AND me.target_type = 'Organization'
       WHERE m.resource_type = 'Group' AND m.param = 'member' AND m.target_type = 'Patient' AND m.target_id = $1 AND ${activeMember('m')}`,
      [patientId, ROSTER_IDENTIFIER_SYSTEM],
    );
    p.rosterAcos = r.rows.map((x) => x.aco);
  }
  return p as Person;
}

export function createRouteWrite(deps: RouteWriteDeps): (tx: Sql, event: WriteEvent) => Promise<void> {
  const now = deps.now ?? (() => new Date());
  return async (tx, event) => {
    // Deletions are not propagated (docs/exchange.md "Not routed").
    observe(tx, event);
    if (event.kind === 'delete' || !event.resource) return;
    const resource = event.resource;
    const dataClass = dataClassOf(deps.rules, resource);
    if (!dataClass) return;
    const sourceOrg = currentSource() ?? sourceRecordOf(resource)?.sourceOrg;
    if (!sourceOrg || !deps.directory.findOrganization(sourceOrg)) return;
    const patientId = beneficiaryIdOf(resource);
    if (!patientId) return;
    const beneficiary: Beneficiary = {
      acos: alignedAcos(await personOf(tx, patientId), deps),
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
