// The consent engine behind filterForRecipient(): for one disclosure (a REST response, a bulk
// export page, an exchange delivery) it loads what the decisions need once — the recipient's
// relationships and the Consents of every person on the page, in one query — then decides each
// resource (decision-point.ts), applies the obligations, and writes one AuditEvent. Any error
// withholds everything (fail closed). With a `contextCache` (disclosure-context-cache.ts) that
// context is kept across disclosures: a change written through this process applies to the very
// next request, one written elsewhere once its notification arrives (milliseconds); which
// Consents are in force is still decided per request. filterStored() makes the same decisions on
// stored JSON text and parses only the resources whose decision or obligations need the content.
import type { Consent, Meta, Resource } from '@medplum/fhirtypes';
import type { PartnerDirectory } from '../config/partners.js';
import type { DisclosurePolicy } from '../config/policy.js';
import type { Database } from '../fhir/store/database.js';
import { outcomes } from '../fhir/outcomes.js';
import type { SearchRequest } from '../fhir/search/search-request.js';
import { versionedReference, type AuditTrail, type DisclosureChannel } from './audit.js';
import { inForce } from './consent-evaluation.js';
import { decide, type Decision, type RecipientProfile } from './decision-point.js';
import { disclosureContext, type Related } from './disclosure-context.js';
import type { DisclosureContextCache } from './disclosure-context-cache.js';
import type { DisclosureSeries, FilterResult, Recipient, StoredFilterResult, StoredRow } from './filter.js';
import { labelsOf, type Labeler, type Labels } from './labeler.js';
import { applyObligations } from './obligations.js';
import { patientsOf } from './patients-of.js';
import { cutStored, scanStored, storedFacts, type StoredFacts } from './stored-resource.js';

export interface ConsentEngineOptions {
  db: Database;
  partners: Pick<PartnerDirectory, 'findOrganization'>;
  policy: DisclosurePolicy;
  labeler: Labeler;
  /** Absent: no audit (unit tests of the engine only). */
  audit?: AuditTrail;
  /** Relationships and Consents kept across disclosures; absent: read for every disclosure. */
  contextCache?: DisclosureContextCache;
  now?: () => Date;
}

interface StoredItem {
  text: string;
  /** Set when the decision can be made from the scan (no parse). */
  facts?: StoredFacts;
  /** Set when the resource was (or had to be) parsed. */
  resource?: Resource;
  labels: Labels;
  patientIds: string[];
}

/**
 * What decide() reads of a resource when no Consent is in force for its people: its type (type
 * restrictions). Content is read only by Consent evaluation (consent-evaluation.ts), and a
 * resource about someone with Consents in force is always parsed (filterStored).
 */
function decisionStub(facts: StoredFacts): Resource {
  return { resourceType: facts.resourceType, id: facts.id, meta: facts.meta } as Resource;
}

/** The AuditEvent's lines for one disclosure. */
class AuditLines {
  readonly rules = new Set<string>();
  readonly basedOn = new Set<string>();
  readonly people = new Set<string>();
  readonly disclosed: string[] = [];
  withheld = 0;

  permit(d: Decision, patientIds: string[], reference: string): void {
    for (const b of d.basedOn) this.basedOn.add(b);
    for (const p of patientIds) this.people.add(p);
    this.disclosed.push(reference);
  }

  /** Adds another call's lines (a series gathering several pages into one AuditEvent). */
  merge(other: AuditLines, people: Iterable<string>): void {
    for (const r of other.rules) this.rules.add(r);
    for (const b of other.basedOn) this.basedOn.add(b);
    for (const p of people) this.people.add(p);
    for (const d of other.disclosed) this.disclosed.push(d);
    this.withheld += other.withheld;
  }
}

export class ConsentEngine {
  /** The AuditEvent each gathering series (DisclosureSeries.eventSize) is filling. */
  private readonly gathering = new WeakMap<DisclosureSeries, AuditLines>();
  private readonly labelsByMeta = new WeakMap<Readonly<Meta>, { current: boolean; labels: Labels }>();

  constructor(readonly opts: ConsentEngineOptions) {}

  /** The recipient as the policy sees it; undefined for an organization not in the directory. */
  profile(recipient: Recipient): RecipientProfile | undefined {
    const org = this.opts.partners.findOrganization(recipient.organizationId);
    if (!org) return undefined;
    return { organizationId: org.id, organizationType: org.type, purposeOfUse: recipient.purposeOfUse, clientId: recipient.clientId };
  }

  async filter<T extends Resource>(recipient: Recipient, resources: T[], channel: DisclosureChannel = 'disclosure'): Promise<FilterResult<T>> {
    if (!resources.length) return { permitted: [], withheld: 0 };
    try {
      return await this.filterUnsafe(recipient, resources, channel);
    } catch {
      // Fail closed: a store, policy or audit error discloses nothing (and says nothing more).
      return { permitted: [], withheld: resources.length };
    }
  }

  /**
   * The same decisions for stored rows (jsonb text: a search page, an export page), without parsing
   * what need not be parsed: a resource labelled by the current rules, about people without
   * Consents in force, whose permit carries only the plain obligations (narrative, display) leaves
   * as its stored text with those members cut out (stored-resource.ts). Everything else — other
   * rules version, a person with Consents (their provisions may look at content), Part 2
   * obligations, contained resources, text the scan cannot read exactly — is parsed and goes
   * through the same steps as filter(). Returns the disclosed text per input, in input order.
   *
   * `deferAudit` (bulk export, whose files are disclosed only when the job completes): the
   * AuditEvent is written while the caller goes on, and `audited` settles when it is committed;
   * the caller must await it — and disclose nothing if it rejects — before any of the texts
   * reach the recipient.
   *
   * `series` (bulk export): the AuditEvent lists as people (searchable) only those no earlier event of
   * the series listed, and adds them to `series.listed`; it still lists every disclosed resource.
   */
  async filterStored(
    recipient: Recipient,
    rows: StoredRow[],
    channel: DisclosureChannel = 'disclosure',
    opts: { deferAudit?: boolean; series?: DisclosureSeries } = {},
  ): Promise<StoredFilterResult> {
    if (!rows.length) return { texts: [], withheld: 0 };
    try {
      return await this.filterStoredUnsafe(recipient, rows, channel, opts.deferAudit === true, opts.series);
    } catch {
      return { texts: rows.map(() => undefined), withheld: rows.length };
    }
  }

  private async filterUnsafe<T extends Resource>(recipient: Recipient, resources: T[], channel: DisclosureChannel): Promise<FilterResult<T>> {
    const profile = this.profile(recipient);
    if (!profile) return { permitted: [], withheld: resources.length };
    const now = this.now();
    const items = resources.map((resource) => this.parsedItem(resource));
    const context = await this.context(profile, items, now);
    const permitted: T[] = [];
    const audit = new AuditLines();
    for (const item of items) {
      const d = this.decideItem(profile, item.resource, item, context, now);
      audit.rules.add(d.rule);
      if (d.effect !== 'permit' || !d.obligations) continue;
      audit.permit(d, item.patientIds, versionedReference(item.resource.resourceType, item.resource.id as string, item.resource.meta?.versionId));
      permitted.push(applyObligations(item.resource, d.obligations) as T);
    }
    await this.record(profile, channel, audit, resources.length - permitted.length);
    return { permitted, withheld: resources.length - permitted.length };
  }

  private async filterStoredUnsafe(
    recipient: Recipient,
    rows: StoredRow[],
    channel: DisclosureChannel,
    deferAudit: boolean,
    series?: DisclosureSeries,
  ): Promise<StoredFilterResult> {
    const profile = this.profile(recipient);
    if (!profile) return { texts: rows.map(() => undefined), withheld: rows.length };
    const now = this.now();
    const items: StoredItem[] = rows.map(({ resourceType, content: text, facts: recorded }) => {
      const facts = (recorded && storedFacts(recorded, text, resourceType)) || scanStored(text, resourceType);
      const labelled = facts && this.labelsOfStored(facts);
      // Labels from meta are complete only when the current rules made them (§4.3 C7).
      if (facts && labelled) return { text, facts, labels: labelled, patientIds: facts.patientIds };
      return { text, ...this.parsedItem(JSON.parse(text) as Resource) };
    });
    const context = await this.context(profile, items, now);
    const out: (string | undefined)[] = [];
    const audit = new AuditLines();
    // Rows decided from their stored labels alone (no Consent in force, every person related) get
    // the same decision when they share type and labels: decided once per page, not per row.
    const plain = new Map<Readonly<Meta>, Map<string, Decision>>();
    for (const item of items) {
      // Consent provisions may test class, code, dataPeriod or the instance: they see the content.
      if (!item.resource && item.patientIds.some((p) => context.inForce.get(p)?.length)) item.resource = JSON.parse(item.text) as Resource;
      const subject = item.resource ?? decisionStub(item.facts as StoredFacts);
      const labelMeta = item.resource ? undefined : item.facts?.labelMeta;
      let same: Map<string, Decision> | undefined;
      if (labelMeta && item.patientIds.every((p) => context.related.has(p))) {
        same = plain.get(labelMeta);
        if (!same) plain.set(labelMeta, (same = new Map()));
      }
      let d = same?.get(subject.resourceType);
      if (!d) {
        d = this.decideItem(profile, subject, item, context, now);
        same?.set(subject.resourceType, d);
      }
      audit.rules.add(d.rule);
      if (d.effect !== 'permit' || !d.obligations) {
        out.push(undefined);
        continue;
      }
      audit.permit(d, item.patientIds, versionedReference(subject.resourceType, subject.id as string, subject.meta?.versionId));
      const o = d.obligations;
      if (item.facts && !item.resource && !o.addLabels.length && !o.notice) {
        out.push(cutStored(item.text, item.facts, o));
      } else {
        const resource = item.resource ?? (JSON.parse(item.text) as Resource);
        const disclosed = applyObligations(resource, o);
        out.push(disclosed === resource ? item.text : JSON.stringify(disclosed));
      }
    }
    const withheld = out.filter((t) => t === undefined).length;
    audit.withheld = withheld;
    let people = [...audit.people];
    if (series) {
      // Marked listed now, before the write settles: a later page's event leaves them out, and if
      // this write fails the export fails (the caller awaits `audited`), so none goes unaccounted.
      people = people.filter((p) => !series.listed.has(p));
      for (const p of people) series.listed.add(p);
    }
    if (series?.eventSize && deferAudit) {
      // Gathered into the series' current AuditEvent, written once it holds eventSize resources.
      const pending = this.gathering.get(series) ?? new AuditLines();
      pending.merge(audit, people);
      this.gathering.set(series, pending);
      if (pending.disclosed.length < series.eventSize) return { texts: out, withheld };
      return { texts: out, withheld, audited: this.flushSeriesAs(profile, channel, series) };
    }
    const audited = this.record(profile, channel, audit, withheld, people, series?.id);
    if (deferAudit) {
      audited.catch(() => undefined); // the caller awaits it (and fails) before anything is disclosed
      return { texts: out, withheld, audited };
    }
    await audited.catch((err: unknown) => {
      // Nothing of this call is disclosed: its people are not accounted for by it.
      for (const p of series ? people : []) series?.listed.delete(p);
      throw err;
    });
    return { texts: out, withheld };
  }

  /**
   * Writes what a series (eventSize) still holds: its last AuditEvent. The caller awaits it
   * before anything of the series is disclosed; undefined when nothing is held.
   */
  flushSeries(recipient: Recipient, channel: DisclosureChannel, series: DisclosureSeries): Promise<void> | undefined {
    const profile = this.profile(recipient);
    if (!profile || !this.gathering.has(series)) return undefined;
    return this.flushSeriesAs(profile, channel, series);
  }

  private flushSeriesAs(profile: RecipientProfile, channel: DisclosureChannel, series: DisclosureSeries): Promise<void> {
    const lines = this.gathering.get(series) as AuditLines;
    this.gathering.delete(series);
    const audited = this.record(profile, channel, lines, lines.withheld, [...lines.people], series.id);
    audited.catch(() => undefined); // the caller awaits it (and fails) before anything is disclosed
    return audited;
  }

  /**
   * Labels of a scanned stored row, when the current labeler rules made them; undefined when the
   * row must be parsed and re-labelled. Computed once per distinct label meta (shared object).
   */
  private labelsOfStored(facts: StoredFacts): Labels | undefined {
    const shared = facts.labelMeta;
    const known = shared && this.labelsByMeta.get(shared);
    if (known) return known.current ? known.labels : undefined;
    const resource = facts as unknown as Resource;
    const current = this.opts.labeler.labelledByCurrentRules(resource);
    // Shared by the rows with this meta: read, never changed (decide and Consent evaluation only read).
    const labels = labelsOf(resource);
    if (shared) this.labelsByMeta.set(shared, { current, labels });
    return current ? labels : undefined;
  }

  private now(): Date {
    return (this.opts.now ?? (() => new Date()))();
  }

  private parsedItem<T extends Resource>(resource: T): { resource: T; labels: Labels; patientIds: string[] } {
    const labels = labelsOf(resource);
    // Re-label at read time too: versions stored before the labeler (or its current value
    // sets) existed must not pass as normal data (§4.3 C7).
    if (!this.opts.labeler.labelledByCurrentRules(resource)) {
      for (const c of this.opts.labeler.codeLabels(resource)) labels.actCodes.add(c);
      if (labels.actCodes.size && labels.confidentiality !== 'V') labels.confidentiality = 'R';
    }
    return { resource, labels, patientIds: patientsOf(resource) };
  }

  /**
   * Relationships and Consents of every person on the page: one query (with the context cache,
   * of only the people it does not hold; none when it holds them all). Which Consents are in
   * force is decided per request: it depends on `now`.
   */
  private async context(profile: RecipientProfile, items: { patientIds: string[] }[], now: Date): Promise<{ related: Related; inForce: Map<string, Consent[]> }> {
    const people = [...new Set(items.flatMap((i) => i.patientIds))];
    const cache = this.opts.contextCache;
    const { related, consents } = await (cache ? cache.get(this.opts.db, profile, people) : disclosureContext(this.opts.db, profile, people));
    return { related, inForce: new Map([...consents].map(([p, list]) => [p, inForce(list, now)])) };
  }

  private decideItem(
    profile: RecipientProfile,
    resource: Resource,
    item: { labels: Labels; patientIds: string[] },
    context: { related: Related; inForce: Map<string, Consent[]> },
    now: Date,
  ): Decision {
    return decide({
      recipient: profile,
      resource,
      labels: item.labels,
      patientIds: item.patientIds,
      related: (p) => context.related.has(p),
      consents: (p) => context.inForce.get(p) ?? [],
      policy: this.opts.policy,
      now,
    });
  }

  private async record(
    profile: RecipientProfile,
    channel: DisclosureChannel,
    audit: AuditLines,
    withheld: number,
    people: string[] = [...audit.people],
    series?: string,
  ): Promise<void> {
    await this.opts.audit?.record({
      recipient: profile,
      channel,
      disclosed: audit.disclosed,
      withheld,
      patientIds: people,
      basedOn: [...audit.basedOn],
      rules: [...audit.rules],
      ...(series ? { series } : {}),
    });
  }

  /** Whether the client may use search features that can reveal hidden data. */
  cleared(recipient: Recipient): boolean {
    return !!recipient.clientId && this.opts.policy.clearedClients.clientIds.includes(recipient.clientId);
  }

  /**
   * Refuses, before any data is read, the requests whose answer could reveal withheld data
   * (§4.3 C2, C3, C5, C7, C13): `_has`, chained parameters, `_security` search, counts and
   * totals, and instance history. The refusal is the same whatever the data, so it is no oracle.
   */
  screen(recipient: Recipient, interaction: 'search' | 'history' | 'conditional', sreq?: SearchRequest): void {
    if (this.cleared(recipient)) return;
    // Conditional create/update/delete match over every stored resource, hidden ones included
    // (§4.3 C15): only the SMA, the program's data steward, may use them.
    if (interaction === 'conditional') {
      if (this.profile(recipient)?.organizationType === 'SMA') return;
      throw outcomes.forbidden('Conditional operations are not available to this client');
    }
    if (interaction === 'history') throw outcomes.forbidden('History is not available to this client');
    if (!sreq) return;
    if (sreq.ignored.some((k) => k.startsWith('_has'))) throw outcomes.badRequest('_has is not available to this client', ['_has']);
    if (sreq.filters.some((f) => f.chain)) throw outcomes.badRequest('Chained search parameters are not available to this client');
    if (sreq.filters.some((f) => f.code === '_security')) throw outcomes.badRequest('_security is not available to this client', ['_security']);
    if (sreq.summary === 'count') throw outcomes.badRequest('_summary=count is not available to this client', ['_summary']);
    if (sreq.total !== 'none') throw outcomes.badRequest('_total is not available to this client', ['_total']);
  }
}
