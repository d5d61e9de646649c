// The one seam every disclosure passes through (REST reads, exchange deliveries, bulk export):
// given who receives the data and why, which resources may go, and in what form. The consent
// engine (engine.ts) does the work: labels, relationship, the person's Consents, the default
// policy (config/policy.json), obligations, and an AuditEvent per call.
//
// Callers that do not hold an engine (bulk export worker, exchange) use the process default,
// installed by the composition root (src/gateway.ts). With no engine installed nothing is
// disclosed: fail closed.
import type { Resource } from '@medplum/fhirtypes';
import type { DisclosureChannel } from './audit.js';
import type { ConsentEngine } from './engine.js';

export interface Recipient {
  organizationId: string;
  /** v3-ActReason PurposeOfUse code from the client registration, never from a request body. */
  purposeOfUse: string;
  clientId?: string;
}

export interface FilterResult<T extends Resource = Resource> {
  /** What may be disclosed, possibly redacted. */
  permitted: T[];
  /** How many resources were withheld (never which: that itself would disclose). */
  withheld: number;
}

/** A stored current version: its type (the store's column) and its jsonb text (`content::text`). */
export interface StoredRow {
  resourceType: string;
  content: string;
  /** What the store recorded of this text when it was written (`disclosure_facts`): spares the scan. */
  facts?: string | null;
}

export interface StoredFilterResult {
  /** Per input text, in order: the text to disclose (possibly redacted), or undefined if withheld. */
  texts: (string | undefined)[];
  withheld: number;
  /** With `deferAudit`: settles when the AuditEvent is committed; await it before disclosing. */
  audited?: Promise<void>;
}

/**
 * One disclosure made in several calls — a bulk export's pages — accounted for once: each person
 * is listed (a `Patient` entity, what `AuditEvent?patient=` finds) on the first of the
 * series' AuditEvents that discloses their data, and only there; every event still lists all the
 * resources it disclosed (the detail, not searched) and names the series, so from the event a person's
 * search finds, the series' other events are one search away (`entity-name:exact=<id>`).
 */
export interface DisclosureSeries {
  /** Names the series in every one of its AuditEvents: `bulk-export/<job id>`. */
  id: string;
  /** People listed by an earlier AuditEvent of the series; the engine adds the ones it lists. */
  listed: Set<string>;
  /**
   * When set, the series' calls are accounted in AuditEvents of at least this many disclosed
   * resources (several pages each: fewer rows and commits for the same record); what
   * is still held at the end is written by ConsentEngine.flushSeries. Without it: one per call.
   */
  eventSize?: number;
}

export interface FilterOptions {
  /** The engine to use; defaults to the one the composition root installed. */
  engine?: ConsentEngine;
  /** How the data leaves (recorded in the AuditEvent). */
  channel?: DisclosureChannel;
  /** filterStoredForRecipient: return before the AuditEvent is committed (see `audited`). */
  deferAudit?: boolean;
  /** filterStoredForRecipient: this call is one part of a larger disclosure (bulk export). */
  series?: DisclosureSeries;
}

let defaultEngine: ConsentEngine | undefined;

/** Installs the process-wide engine for callers without one (src/gateway.ts does this). */
export function setDefaultConsentEngine(engine: ConsentEngine): void {
  defaultEngine = engine;
}

/** Removes `engine` if it is the installed default (a closing gateway). */
export function clearDefaultConsentEngine(engine: ConsentEngine): void {
  if (defaultEngine === engine) defaultEngine = undefined;
}

export async function filterForRecipient<T extends Resource>(recipient: Recipient, resources: T[], opts: FilterOptions = {}): Promise<FilterResult<T>> {
  const engine = opts.engine ?? defaultEngine;
  if (!engine) return { permitted: [], withheld: resources.length };
  return engine.filter(recipient, resources, opts.channel ?? 'disclosure');
}

/** The seam for stored JSON texts (bulk export pages): ConsentEngine.filterStored, fail closed. */
export async function filterStoredForRecipient(recipient: Recipient, rows: StoredRow[], opts: FilterOptions = {}): Promise<StoredFilterResult> {
  const engine = opts.engine ?? defaultEngine;
  if (!engine) return { texts: rows.map(() => undefined), withheld: rows.length };
  return engine.filterStored(recipient, rows, opts.channel ?? 'disclosure', { deferAudit: opts.deferAudit, series: opts.series });
}

/** Writes the last AuditEvent of a gathering series (DisclosureSeries.eventSize), if any. */
export function flushSeriesForRecipient(recipient: Recipient, series: DisclosureSeries, opts: FilterOptions = {}): Promise<void> | undefined {
  const engine = opts.engine ?? defaultEngine;
  return engine?.flushSeries(recipient, opts.channel ?? 'disclosure', series);
}
