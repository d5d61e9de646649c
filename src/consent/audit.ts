// One FHIR AuditEvent per disclosure (REST read/search/history, bulk export, exchange delivery,
// notification). It holds references and codes only: no names, identifiers or content.
// `AuditEvent?patient=Patient/x` is the accounting of disclosures for a person,
// `AuditEvent?agent=Organization/y` what a partner received; AuditEvents are disclosed to the SMA
// only (policy.json restrictedTypes).
//
// Decision (seventh session): a disclosure is one row of the audit_event table — its record, with
// the columns the accounting searches — committed before the response leaves; the AuditEvent is
// rendered from that row when it is read (audit-events.ts serves read, vread, history, search,
// _include/_revinclude and export of the type). Indexed as an ordinary resource (resource,
// history and ~16 search-index rows per event) it cost ~500-600 us of CPU per disclosure under
// sustained load, which held consent-on search at 0.70-0.78 of consent-off (docs/benchmarks.md,
// "Consent engine").
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventEntity } from '@medplum/fhirtypes';
import type { Database } from '../fhir/store/database.js';
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
export const CHANNEL_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-channel';
export const RULE_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-rule';
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

/** A disclosed resource's versioned reference, for DisclosureRecord.disclosed. */
export function versionedReference(resourceType: string, id: string, versionId?: string): string {
  return `${resourceType}/${id}${versionId ? `/_history/${versionId}` : ''}`;
}


/**
 * A disclosed list as one string, a third smaller than its JSON array: `Type/id/_history/v`
 * becomes `id/v`, after a `Type/` token whenever the type changes (`Observation/ a/1 b/2
 * Condition/ c/1`). Most of an audit_event row is this list, and a row's cost grows with its
 * size (PostgreSQL ~1 µs per reference). Ids and versions hold no `/` or space (R4 id: [A-Za-z0-9-.]).
 */
export function packDisclosed(refs: string[]): string {
  const out: string[] = [];
  let type = '';
  for (const ref of refs) {
    const slash = ref.indexOf('/');
    const t = ref.slice(0, slash + 1);
    if (t !== type) out.push((type = t));
    const rest = ref.slice(slash + 1);
    const h = rest.indexOf('/_history/');
    out.push(h < 0 ? rest : `${rest.slice(0, h)}/${rest.slice(h + '/_history/'.length)}`);
  }
  return out.join(' ');
}

export function unpackDisclosed(packed: string): string[] {
  const refs: string[] = [];
  let type = '';
  for (const token of packed ? packed.split(' ') : []) {
    if (token.endsWith('/')) type = token;
    else {
      const slash = token.indexOf('/');
      refs.push(slash < 0 ? `${type}${token}` : `${type}${token.slice(0, slash)}/_history/${token.slice(slash + 1)}`);
    }
  }
  return refs;
}

/** How AuditTrail writes. */
export interface AuditWriteOptions {
  /** Statements in flight at once; events recorded while all are busy wait and go together. */
  concurrency: number;
  /** Most events in one statement. */
  maxBatch: number;
}

const DEFAULT_AUDIT_OPTIONS: AuditWriteOptions = { concurrency: 1, maxBatch: 64 };

interface PendingEvent {
  row: AuditEventRow;
  settle: (err?: unknown) => void;
}

/**
 * A disclosure as the audit_event table holds it (column names): the AuditEvent's id and time, and
 * the record it is rendered from. `rules`, `policies` and `people` are the searchable lists;
 * `disclosed` is the packed list (packDisclosed). `resource`: an AuditEvent stored whole (those
 * indexed as resources before migration 13), served as it is.
 */
export interface AuditEventRow {
  id: string;
  /** ISO text when written; the database gives it back as a Date. */
  recorded: string | Date;
  recipient: string;
  client: string | null;
  purpose: string;
  channel: string;
  rules: string[];
  policies: string[];
  people: string[];
  series: string | null;
  withheld: number;
  disclosed: string;
  resource?: unknown;
}

export function auditEventRow(rec: DisclosureRecord, id: string, recorded: Date): AuditEventRow {
  return {
    id,
    recorded: recorded.toISOString(),
    recipient: rec.recipient.organizationId,
    client: rec.recipient.clientId ?? null,
    purpose: rec.recipient.purposeOfUse,
    channel: rec.channel,
    rules: [...new Set(rec.rules)].sort(),
    policies: [...new Set(rec.basedOn)].sort(),
    people: rec.patientIds,
    series: rec.series ?? null,
    withheld: rec.withheld,
    disclosed: packDisclosed(rec.disclosed),
  };
}

/** The AuditEvent a row stands for, as JSON text: the same text every time it is read. */
export function auditEventText(row: AuditEventRow): string {
  if (row.resource) return typeof row.resource === 'string' ? row.resource : JSON.stringify(row.resource);
  const recorded = new Date(row.recorded);
  const rec: DisclosureRecord = {
    recipient: { organizationId: row.recipient, purposeOfUse: row.purpose, ...(row.client ? { clientId: row.client } : {}) } as RecipientProfile,
    channel: row.channel as DisclosureChannel,
    disclosed: unpackDisclosed(row.disclosed),
    withheld: row.withheld,
    patientIds: row.people,
    basedOn: row.policies,
    rules: row.rules,
    ...(row.series ? { series: row.series } : {}),
  };
  const lastUpdated = recorded.toISOString();
  return JSON.stringify({ ...auditEventFor(rec, recorded), id: row.id, meta: { versionId: '1', lastUpdated } });
}

export class AuditTrail {
  private readonly waiting: PendingEvent[] = [];
  private inFlight = 0;
  private readonly opts: AuditWriteOptions;

  /**
   * Writes into `db`. A disclosure's row is committed to audit_event before `record` resolves,
   * so a disclosure is on record — and found by the accounting — before it leaves.
   *
   * Group commit: up to `concurrency` statements run at once; events recorded meanwhile wait and
   * are written together by the next statement (one round trip and one commit for many
   * disclosures under load; a lone request waits for no one). A statement is one transaction:
   * all of its events are on record, or none and every one of their disclosures fails.
   */
  constructor(
    private readonly db: Database,
    private readonly now: () => Date = () => new Date(),
    opts: Partial<AuditWriteOptions> = {},
  ) {
    this.opts = { ...DEFAULT_AUDIT_OPTIONS, ...opts };
  }

  record(rec: DisclosureRecord): Promise<void> {
    const row = auditEventRow(rec, randomUUID(), this.now());
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ row, settle: (err) => (err === undefined ? resolve() : reject(err)) });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.concurrency && this.waiting.length) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.write(batch.map((e) => e.row)).then(
        () => batch.forEach((e) => e.settle()),
        (err: unknown) => batch.forEach((e) => e.settle(err ?? new Error('AuditEvent not written'))),
      ).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async write(rows: AuditEventRow[]): Promise<void> {
    // One JSON parameter (json_populate_recordset fills text[] columns from JSON arrays): no
    // escaping of every value as an element of a PostgreSQL array literal.
    const written = await this.db.query<{ n: number }>(
      `WITH i AS (INSERT INTO audit_event (id, recorded, recipient, client, purpose, channel, rules, policies, people, series, withheld, disclosed)
         SELECT id, recorded, recipient, client, purpose, channel, rules, policies, people, series, withheld, disclosed
         FROM json_populate_recordset(NULL::audit_event, $1::json) RETURNING 1)
       SELECT count(*)::int AS n FROM i`,
      [JSON.stringify(rows)],
      { prepare: true },
    );
    if (written.rows[0]?.n !== rows.length) throw new Error('AuditEvent not written');
  }
}
