// One FHIR AuditEvent per disclosure (REST read/search/history, bulk export page, exchange
// delivery), stored as an ordinary resource so the SMA can query it through the API
// (`AuditEvent?entity=Patient/x` is the accounting of disclosures for a person;
// `AuditEvent?agent=Organization/y` what a partner received). It holds references and codes only:
// no names, identifiers or content. Decision: a full AuditEvent rather than a compact table —
// one store, one search engine, one access rule (policy.json restrictedTypes: SMA only).
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventEntity, Resource } from '@medplum/fhirtypes';
import { extractIndexRows, type IndexRows } from '../fhir/store/index-extraction.js';
import { dateRange } from '../fhir/store/dates.js';
import { writeVersionSql, writeVersionsSql, type VersionWrite } from '../fhir/store/index-writer.js';
import type { Repository } from '../fhir/store/repository.js';
import type { RecipientProfile } from './decision-point.js';
import { ACT_REASON } from './vocabulary.js';

export type DisclosureChannel = 'read' | 'vread' | 'history' | 'search' | 'bulk-export' | 'exchange' | 'disclosure';

export interface DisclosureRecord {
  recipient: RecipientProfile;
  channel: DisclosureChannel;
  /** What was disclosed, by versioned reference (`Observation/1/_history/2`). */
  disclosed: string[];
  withheld: number;
  patientIds: string[];
  /** Consent ids and policy URIs behind the permits. */
  basedOn: string[];
  /** Decision rules that applied (tpo, part2-consent, …), for review. */
  rules: string[];
  /**
   * A disclosure made in several calls (a bulk export's pages: `bulk-export/<job id>`): the name
   * of the entity listing what was disclosed, so the events of one export find each other
   * (`AuditEvent?entity-name:exact=…`).
   */
  series?: string;
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const CHANNEL_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-channel';
const RULE_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-rule';
export const CLIENT_ID_SYSTEM = 'https://lead-gateway.example.org/fhir/sid/client-id';

export function auditEventFor(rec: DisclosureRecord, recorded: Date): AuditEvent {
  // One entity per person (indexed: the accounting-of-disclosures query) and one listing what was
  // disclosed, by versioned reference, in a detail (not indexed: a 1,000-resource export page
  // would otherwise cost 1,000 index rows per AuditEvent).
  const entity: AuditEventEntity[] = rec.patientIds.map((id) => ({
    what: { reference: `Patient/${id}` },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
    role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
  }));
  if (rec.disclosed.length) {
    entity.push({
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
      ...(rec.series ? { name: rec.series } : {}),
      description: `${rec.disclosed.length} resources disclosed`,
      detail: [
        {
          type: 'disclosed',
          valueString: rec.disclosed.join(' '),
        },
      ],
    });
  }
  const purpose = [{ coding: [{ system: ACT_REASON, code: rec.recipient.purposeOfUse }] }];
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: CHANNEL_SYSTEM, code: rec.channel }, ...[...new Set(rec.rules)].sort().map((code) => ({ system: RULE_SYSTEM, code }))],
    action: 'R',
    recorded: recorded.toISOString(),
    outcome: '0',
    outcomeDesc: `disclosed ${rec.disclosed.length}, withheld ${rec.withheld}`,
    purposeOfEvent: purpose,
    agent: [
      {
        type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
        who: { reference: `Organization/${rec.recipient.organizationId}` },
        altId: rec.recipient.clientId,
        requestor: true,
        policy: [...new Set(rec.basedOn)].sort(),
        purposeOfUse: purpose,
      },
      {
        type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
        who: { display: 'LEAD FHIR Gateway' },
        requestor: false,
      },
    ],
    source: { observer: { display: 'LEAD FHIR Gateway' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
    entity,
  };
}

/**
 * Index rows of an AuditEvent, the same rows FHIRPath extraction of the whole event gives, at a
 * fraction of the cost (extraction took ~1 ms per person entity, and ~1 ms for the rest of every
 * event): person entities' `entity` and `patient` rows are added directly; the rest is extracted
 * once per distinct "skeleton" — the indexed elements other than `recorded` (recipient, client,
 * purpose, policies, channel, rules) repeat from one disclosure to the next — and `date` is added
 * from `recorded`. `detail`, `description`, `outcomeDesc` and `purposeOfEvent` are not indexed.
 */
export function auditIndexRows(resource: Resource): IndexRows {
  const ev = resource as AuditEvent;
  if (resource.resourceType !== 'AuditEvent') return extractIndexRows(resource);
  const people = (ev.entity ?? []).filter((e) => e.what?.reference?.startsWith('Patient/'));
  const isPerson = new Set(people); // an export page's event lists 1,000 people: no includes() per entity
  const skeleton = {
    resourceType: 'AuditEvent',
    ...(ev.meta ? { meta: { profile: ev.meta.profile, security: ev.meta.security, source: ev.meta.source, tag: ev.meta.tag } } : {}),
    action: ev.action,
    agent: ev.agent,
    entity: (ev.entity ?? []).filter((e) => !isPerson.has(e)).map((e) => ({ what: e.what, name: e.name, role: e.role, type: e.type })),
    outcome: ev.outcome,
    source: ev.source,
    subtype: ev.subtype,
    type: ev.type,
  } as AuditEvent;
  const key = JSON.stringify(skeleton);
  let cached = skeletonRows.get(key);
  if (!cached) {
    cached = extractIndexRows(skeleton);
    if (skeletonRows.size >= SKELETON_CACHE_SIZE) skeletonRows.clear();
    skeletonRows.set(key, cached);
  }
  const rows: IndexRows = {
    token: [...cached.token],
    string: [...cached.string],
    date: [...cached.date],
    reference: [...cached.reference],
    number: [...cached.number],
    uri: [...cached.uri],
  };
  const recorded = ev.recorded ? dateRange(ev.recorded) : undefined;
  if (recorded) rows.date.push({ param: 'date', low: recorded.low, high: recorded.high });
  for (const e of people) {
    const targetId = (e.what?.reference as string).slice('Patient/'.length);
    rows.reference.push({ param: 'entity', targetType: 'Patient', targetId, targetVersion: null, url: null });
    rows.reference.push({ param: 'patient', targetType: 'Patient', targetId, targetVersion: null, url: null });
  }
  if (people.length) {
    rows.token.push(
      { param: 'entity-role', system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1' },
      { param: 'entity-type', system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1' },
    );
  }
  return rows;
}

const SKELETON_CACHE_SIZE = 500;
const skeletonRows = new Map<string, IndexRows>();

/** A disclosed resource's versioned reference, for DisclosureRecord.disclosed. */
export function versionedReference(resourceType: string, id: string, versionId?: string): string {
  return `${resourceType}/${id}${versionId ? `/_history/${versionId}` : ''}`;
}

/** How AuditTrail groups concurrent disclosures' events into statements. */
export interface AuditWriteOptions {
  /** Statements in flight at once; events recorded while all are busy wait and go together. */
  concurrency: number;
  /** Most events in one statement. */
  maxBatch: number;
}

interface PendingEvent {
  version: VersionWrite;
  settle: (err?: unknown) => void;
}

export class AuditTrail {
  private readonly waiting: PendingEvent[] = [];
  private inFlight = 0;

  /**
   * Writes into `repo`'s database. An AuditEvent is server-made and always new, so it skips the
   * Repository write path (labeler, validation, id check, transaction): resource, history and
   * index rows (auditIndexRows) in one statement, committed before `record` resolves, so a
   * disclosure is on record before it leaves.
   *
   * Group commit: up to `concurrency` statements run at once; events recorded meanwhile wait and
   * are written together by the next statement (one round trip and one commit for many
   * disclosures under load; a lone request waits for no one). A statement is one transaction:
   * all of its events are on record, or none and every one of their disclosures fails.
   */
  constructor(
    private readonly repo: Repository,
    private readonly now: () => Date = () => new Date(),
    private readonly opts: AuditWriteOptions = { concurrency: 4, maxBatch: 32 },
  ) {}

  record(rec: DisclosureRecord): Promise<void> {
    const recorded = this.now();
    const id = randomUUID();
    const lastUpdated = recorded.toISOString();
    const event = { ...auditEventFor(rec, recorded), id, meta: { versionId: '1', lastUpdated } };
    const version: VersionWrite = { resourceType: 'AuditEvent', id, versionId: '1', lastUpdated, content: JSON.stringify(event), replace: false, rows: auditIndexRows(event) };
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ version, settle: (err) => (err === undefined ? resolve() : reject(err)) });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.concurrency && this.waiting.length) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.write(batch.map((e) => e.version)).then(
        () => batch.forEach((e) => e.settle()),
        (err: unknown) => batch.forEach((e) => e.settle(err ?? new Error('AuditEvent not written'))),
      ).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async write(versions: VersionWrite[]): Promise<void> {
    if (versions.length === 1) {
      const v = versions[0];
      const q = writeVersionSql(v, v.rows, false);
      // Prepared: one event's statement has the same few shapes request after request, and
      // planning the CTEs cost PostgreSQL about as much as running them.
      const written = (await this.repo.db.query<{ n: number }>(q.text, q.values, { prepare: true })).rows[0]?.n;
      if (written !== 1) throw new Error('AuditEvent not written');
      return;
    }
    const q = writeVersionsSql(versions);
    const written = (await this.repo.db.query<{ id: string }>(q.text, q.values)).rows.length;
    if (written !== versions.length) throw new Error('AuditEvent not written');
  }
}
