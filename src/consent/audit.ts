// One FHIR AuditEvent per disclosure (REST read/search/history, bulk export page, exchange
// delivery), stored as an ordinary resource so the SMA can query it through the API
// (`AuditEvent?entity=Patient/x` is the accounting of disclosures for a person;
// `AuditEvent?agent=Organization/y` what a partner received). It holds references and codes only:
// no names, identifiers or content. Decision: a full AuditEvent rather than a compact table —
// one store, one search engine, one access rule (policy.json restrictedTypes: SMA only); the
// audit journal is only the way in (committed per disclosure, indexed in batches: AuditTrail).
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventEntity, Resource } from '@medplum/fhirtypes';
import { extractIndexRows, type IndexRows } from '../fhir/store/index-extraction.js';
import { dateRange } from '../fhir/store/dates.js';
import { insertVersionsSql, type VersionWrite } from '../fhir/store/index-writer.js';
import type { Database, Sql } from '../fhir/store/database.js';
import type { Logger } from '../logger.js';
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

/** How AuditTrail records and indexes. */
export interface AuditWriteOptions {
  /** Journal statements in flight at once; events recorded while all are busy wait and go together. */
  concurrency: number;
  /** Most events in one journal statement. */
  maxBatch: number;
  /** The background indexer runs once the journal has taken no new row for this long (ms)… */
  quietMs: number;
  /** …or, however busy, once the journal holds this many rows. */
  maxBacklog: number;
  /**
   * Journal rows indexed per transaction. 100: one statement's parameters stay a few hundred kB;
   * at 500 (1.5 MB of event text) the indexing cost 15 % more CPU (bench/audit-trail.ts
   * --index-batch: large fresh strings and buffers are costly on this VM, as for export pages).
   */
  indexBatch: number;
}

const DEFAULT_AUDIT_OPTIONS: AuditWriteOptions = { concurrency: 1, maxBatch: 64, quietMs: 1000, maxBacklog: 10_000, indexBatch: 100 };

interface PendingEvent {
  content: string;
  settle: (err?: unknown) => void;
}

/** A journal row: the disclosure (its list packed), the id and time of its AuditEvent-to-be. */
interface JournalEntry {
  id: string;
  recorded: string;
  record: Omit<DisclosureRecord, 'disclosed'> & { disclosed: string };
}

/**
 * A disclosed list as one string, a third smaller than its JSON array: `Type/id/_history/v`
 * becomes `id/v`, after a `Type/` token whenever the type changes (`Observation/ a/1 b/2
 * Condition/ c/1`). Most of a journal row is this list, and a row's cost grows with its size
 * (PostgreSQL ~1 µs per reference). Ids and versions hold no `/` or space (R4 id: [A-Za-z0-9-.]).
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

/** The resource store's row for a journal entry: AuditEvents are server-made, version 1, never replaced. */
function journalVersion(text: string): VersionWrite {
  const { id, recorded, record } = JSON.parse(text) as JournalEntry;
  const rec: DisclosureRecord = { ...record, disclosed: unpackDisclosed(record.disclosed) };
  const event = { ...auditEventFor(rec, new Date(recorded)), id, meta: { versionId: '1', lastUpdated: recorded } };
  return { resourceType: 'AuditEvent', id, versionId: '1', lastUpdated: recorded, content: JSON.stringify(event), replace: false, rows: auditIndexRows(event) };
}

export class AuditTrail {
  private readonly waiting: PendingEvent[] = [];
  private inFlight = 0;
  private readonly opts: AuditWriteOptions;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;

  /**
   * Writes into `db`. A disclosure's record is committed to the audit journal
   * (one row of JSON) before `record` resolves, so a disclosure is on record before it leaves;
   * the indexer (`index`, run by `start` in the background and by the Repository's `beforeRead`
   * before any read of AuditEvents) moves journal rows into the resource store with their search
   * rows, many per transaction. Why two steps: an indexed AuditEvent costs ~60 WAL records and
   * most of a millisecond of CPU; on the request path it was a third of a search's cost
   * (docs/benchmarks.md); indexing it when the gateway is quiet, in batches, moves that off the
   * requests without ever letting a query of AuditEvents miss one.
   *
   * Group commit: up to `concurrency` journal statements run at once; events recorded meanwhile
   * wait and are written together by the next statement (one round trip and one commit for many
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
    // The record, not its AuditEvent: smaller, and built once indexed (recorded and id fixed now).
    const entry: JournalEntry = { id: randomUUID(), recorded: this.now().toISOString(), record: { ...rec, disclosed: packDisclosed(rec.disclosed) } };
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ content: JSON.stringify(entry), settle: (err) => (err === undefined ? resolve() : reject(err)) });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.concurrency && this.waiting.length) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.journal(batch.map((e) => e.content)).then(
        () => batch.forEach((e) => e.settle()),
        (err: unknown) => batch.forEach((e) => e.settle(err ?? new Error('AuditEvent not written'))),
      ).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async journal(contents: string[]): Promise<void> {
    // One JSON array parameter: no escaping of each event as an element of a PostgreSQL array literal.
    const written = await this.db.query<{ n: number }>(
      'WITH i AS (INSERT INTO audit_journal (entry) SELECT e FROM json_array_elements($1::json) AS e RETURNING 1) SELECT count(*)::int AS n FROM i',
      [`[${contents.join(',')}]`],
      { prepare: true },
    );
    if (written.rows[0]?.n !== contents.length) throw new Error('AuditEvent not written');
  }

  /**
   * Moves every journal row committed before this call (by any process) into the resource store.
   * Concurrent calls share a run that started after them; `tx`: inside the caller's transaction
   * (the rows it indexes commit with it; rolled back, they stay in the journal).
   */
  index(tx?: Sql): Promise<void> {
    if (tx) return this.indexAll(tx);
    if (this.queued) return this.queued;
    if (!this.running) {
      this.running = this.indexAll().finally(() => (this.running = undefined));
      return this.running;
    }
    // A run in progress may have read the journal before this call: queue a fresh one after it.
    this.queued = this.running.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.index();
    });
    return this.queued;
  }

  /** What `Repository.beforeRead` runs: an index pass before anything reads AuditEvents. */
  readonly beforeRead = async (types: ReadonlySet<string> | undefined, tx?: Sql): Promise<void> => {
    if (!types || types.has('AuditEvent')) await this.index(tx);
  };

  private async indexAll(tx?: Sql): Promise<void> {
    for (;;) {
      const n = tx ? await this.indexBatch(tx) : await this.db.transaction((t) => this.indexBatch(t));
      // A short batch: the journal held no more rows when it was read.
      if (n < this.opts.indexBatch) return;
    }
  }

  /**
   * One transaction: the oldest journal rows, locked (a concurrent indexer in another process
   * waits for them, then finds them gone), written as AuditEvents, deleted.
   */
  private async indexBatch(tx: Sql): Promise<number> {
    const rows = (
      await tx.query<{ seq: string; entry: string }>('SELECT seq, entry::text AS entry FROM audit_journal ORDER BY seq LIMIT $1 FOR UPDATE', [this.opts.indexBatch], {
        prepare: true,
      })
    ).rows;
    if (!rows.length) return 0;
    const q = insertVersionsSql(rows.map((r) => journalVersion(r.entry)));
    // Prepared: the same text whatever the batch size (planning it cost ~1.4 ms a statement).
    const written = (await tx.query<{ id: string }>(q.text, q.values, { prepare: true })).rows.length;
    if (written !== rows.length) throw new Error('AuditEvent not indexed');
    await tx.query('DELETE FROM audit_journal WHERE seq = ANY($1::bigint[])', [rows.map((r) => r.seq)], { prepare: true });
    return rows.length;
  }

  /**
   * Indexes in the background: now (rows a stopped process left), then whenever the journal —
   * every process's — has taken no new row for `quietMs`, or holds `maxBacklog` rows however
   * busy the gateways are. Looking at the journal rather than at this process's own requests
   * keeps an idle process from indexing while another serves a burst on the same machine.
   * Errors are retried at the next tick (logged by code only: a database error can quote the row
   * it failed on; the rows stay in the journal).
   */
  start(logger?: Pick<Logger, 'error'>): void {
    if (this.timer) return;
    const onError = (err: unknown): void => logger?.error({ code: (err as { code?: string }).code }, 'audit journal: indexing failed, will retry');
    let newest: string | null = null;
    let changedAt = Date.now();
    const tick = async (): Promise<void> => {
      if (this.running || !this.timer) return;
      const { lo, hi } = (await this.db.query<{ lo: string | null; hi: string | null }>('SELECT min(seq) AS lo, max(seq) AS hi FROM audit_journal', [], { prepare: true })).rows[0];
      if (hi !== newest) {
        newest = hi;
        changedAt = Date.now();
      }
      if (lo === null || hi === null || !this.timer) return; // empty, or stopped meanwhile
      // seq has gaps (rolled-back inserts): hi - lo + 1 overstates the rows, which only indexes sooner.
      if (Date.now() - changedAt >= this.opts.quietMs || Number(hi) - Number(lo) + 1 >= this.opts.maxBacklog) await this.index();
    };
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = tick()
        .catch(onError)
        .finally(() => (this.ticking = undefined));
    }, Math.max(50, Math.min(1000, this.opts.quietMs / 2)));
    this.timer.unref();
    this.index().catch(onError);
  }

  /** Stops the background indexer and waits for a run in progress (rows left stay in the journal). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await (this.queued ?? this.running)?.catch(() => undefined);
  }
}
