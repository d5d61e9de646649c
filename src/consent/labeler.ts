// The security labeling service (consent-security.md §3): on every create/update, inside the
// write transaction (Repository `prepare`), set meta.security to exactly one v3-Confidentiality
// code and the v3-ActCode sensitivity / privacy-law codes the data calls for. Signals:
//   1. source — a reference (or meta.source) naming a 42 CFR Part 2 program (partner directory
//      `part2Program`, or a stored Organization labelled 42CFRPart2/SSP) → SSP + 42CFRPart2;
//   2. codes anywhere in the resource, matched against profiles/valuesets/*.json;
//   3. propagation — a resource that refers to labelled data (an Observation derived from a
//      QuestionnaireResponse, a MedicationRequest for a Medication, a Provenance/AuditEvent about
//      a Condition) inherits its sensitivity labels, looked up in the same transaction;
//   4. client labels (checked: client-labels.ts) and the replaced version's labels, as a floor.
// Any sensitivity label makes the confidentiality R (DS4P; SHIFT); V only comes from a client.
// Deterministic (sorted output), so re-sending an unchanged resource makes no new version.
import { createHash } from 'node:crypto';
import type { Coding, Resource } from '@medplum/fhirtypes';
import type { Sql } from '../fhir/store/database.js';
import type { PrepareContext } from '../fhir/store/repository.js';
import { checkClientLabels } from './client-labels.js';
import { storedLabels, type StoredLabels } from './label-lookup.js';
import type { ValueSetIndex } from './value-sets.js';
import { ACT_CODE, CONFIDENTIALITY, CONFIDENTIALITY_ORDER, isSensitivityCode, rank, type ConfidentialityCode } from './vocabulary.js';

export interface LabelerOptions {
  valueSets: ValueSetIndex;
  /** Organization ids flagged `part2Program` in the partner directory. */
  part2Organizations: Set<string>;
}

/** Policy and audit records are governed by type (decision-point.ts), not by their codes. */
const NOT_SCANNED = new Set(['Consent', 'AuditEvent']);

// References that name who provided or recorded the data: a Part 2 program there makes the
// record Part 2 whatever its codes (§3.1 signal 1).
const SOURCE_KEYS = new Set([
  'serviceProvider', 'provider', 'performer', 'requester', 'author', 'recorder', 'asserter', 'organization', 'custodian',
  'facility', 'who', 'actor', 'informationSource', 'source', 'managingOrganization', 'enterer', 'insurer',
]);

// References that only place the data in context: following them would label a person's every
// record (an HbA1c drawn during an SUD encounter is not SUD data).
const CONTEXT_KEYS = new Set(['subject', 'patient', 'beneficiary', 'encounter', 'context', 'policyHolder', 'subscriber', 'payor', 'member']);

// Targets whose labels do not flow to resources that refer to them.
const NO_PROPAGATION_FROM = new Set([
  'Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'Location', 'Group', 'Coverage', 'Questionnaire', 'Endpoint',
  'HealthcareService', 'RelatedPerson', 'Device', 'Consent', 'AuditEvent',
]);

export interface Labels {
  confidentiality: ConfidentialityCode;
  actCodes: Set<string>;
}

/** Labels per ingest unit: stored (or null: none, absent or deleted), or set by this unit. */
const unitLabels = new WeakMap<Sql, Map<string, Coding[] | null>>();

export const CONSENT_PROFILE = 'https://lead-gateway.example.org/fhir/StructureDefinition/lead-consent';

/** meta.tag system naming the labeler rules version a resource was labelled with. */
export const LABELER_TAG_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/security-labeler';

export class Labeler {
  /** Short digest of the value-set versions: stored labels made by other rules get re-checked on read. */
  readonly version: string;

  constructor(private readonly opts: LabelerOptions) {
    this.version = createHash('sha256').update(opts.valueSets.version).digest('hex').slice(0, 12);
  }

  /** True when the resource was labelled on write by these very rules (its code scan can be skipped). */
  labelledByCurrentRules(resource: Resource): boolean {
    const tags = resource.meta?.tag;
    if (!tags) return false;
    for (const t of tags) if (t.system === LABELER_TAG_SYSTEM) return t.code === this.version;
    return false;
  }

  /**
   * Repository `prepare` hook: returns the resource with its computed meta.security. `known`
   * is the current version the write has already read and locked: its labels are used as they
   * are instead of being read again.
   */
  async prepare(tx: Sql, resource: Resource, known?: PrepareContext): Promise<Resource> {
    const client = checkClientLabels(resource.meta?.security);
    const labels: Labels = { confidentiality: client.confidentiality ?? 'N', actCodes: new Set(client.actCodes) };
    const self = resource.id && !known ? `${resource.resourceType}/${resource.id}` : undefined;
    const refs = NOT_SCANNED.has(resource.resourceType) ? { content: [], sources: [] } : collectReferences(resource);
    const lookup = [...new Set([...refs.content, ...refs.sources.filter((r) => r.startsWith('Organization/')), ...(self ? [self] : [])])];
    const stored = await this.storedLabels(tx, lookup);
    // Sticky: an update never drops labels.
    merge(labels, known ? (known.current?.meta?.security ?? []) : self ? (stored.get(self) ?? []) : []);
    if (!NOT_SCANNED.has(resource.resourceType)) {
      for (const code of this.codeLabels(resource)) labels.actCodes.add(code);
      const sources = [...refs.sources, ...sourceOf(resource)];
      const part2Source = sources.some((ref) => {
        const [type, id] = ref.split('/');
        if (type !== 'Organization') return false;
        if (this.opts.part2Organizations.has(id)) return true;
        return (stored.get(ref) ?? []).some((c) => c.system === ACT_CODE && (c.code === '42CFRPart2' || c.code === 'SSP'));
      });
      if (part2Source && resource.resourceType !== 'Patient' && resource.resourceType !== 'Organization') {
        labels.actCodes.add('SSP');
        labels.actCodes.add('42CFRPart2');
      }
      for (const ref of refs.content) {
        const inherited = stored.get(ref);
        if (inherited) merge(labels, inherited, true);
      }
    }
    const labelled = withLabels(resource, labels);
    // Consent directives are written through the normal API but must be ones the engine can
    // evaluate: the store validates every Consent against our profile.
    if (resource.resourceType === 'Consent' && !(labelled.meta?.profile ?? []).includes(CONSENT_PROFILE)) {
      labelled.meta = { ...labelled.meta, profile: [...(labelled.meta?.profile ?? []), CONSENT_PROFILE] };
    }
    const tag = [...(labelled.meta?.tag ?? []).filter((t) => t.system !== LABELER_TAG_SYSTEM), { system: LABELER_TAG_SYSTEM, code: this.version }];
    const out = { ...labelled, meta: { ...labelled.meta, tag } } as Resource;
    if (resource.id) unitLabels.get(tx)?.set(`${resource.resourceType}/${resource.id}`, out.meta?.security ?? []);
    return out;
  }

  /** Write hook: a resource the unit deletes has no stored labels any more. */
  observe(tx: Sql, event: { kind: string; resourceType: string; id: string }): void {
    if (event.kind === 'delete') unitLabels.get(tx)?.set(`${event.resourceType}/${event.id}`, null);
  }

  /**
   * Stored labels of `keys`. In an ingest unit (a savepoint, `Sql.unit`) each is read once and
   * what the unit labels is remembered: a record's Observations refer to its
   * QuestionnaireResponse, its Provenance to all of them. Exact for the unit's own resources
   * (what prepare returns is what is stored — or the unit fails and rolls back whole); others
   * are read as of the unit's first look.
   */
  private async storedLabels(tx: Sql, keys: string[]): Promise<StoredLabels> {
    if (tx.unit === undefined) return storedLabels(tx, keys);
    let cache = unitLabels.get(tx);
    if (!cache) unitLabels.set(tx, (cache = new Map()));
    const missing = keys.filter((k) => !cache.has(k));
    const found = await storedLabels(tx, missing);
    for (const k of missing) cache.set(k, found.get(k) ?? null);
    const out: StoredLabels = new Map();
    for (const k of keys) {
      const labels = cache.get(k);
      if (labels) out.set(k, labels);
    }
    return out;
  }

  /** Sensitivity codes the resource's own codings call for (no I/O; also used at read time). */
  codeLabels(resource: Resource): Set<string> {
    const best = new Map<string, { confidence: number; labels: string[]; threshold: number }[]>();
    walkCodings(resource, (system, code) => {
      for (const m of this.opts.valueSets.match(system, code)) {
        const list = best.get(m.valueSet.id) ?? [];
        list.push({ confidence: m.confidence, labels: m.labels, threshold: m.valueSet.threshold });
        best.set(m.valueSet.id, list);
      }
    });
    const out = new Set<string>();
    for (const list of best.values()) {
      // A low-confidence code (methadone: also an analgesic) labels only beside a confident one.
      if (!list.some((m) => m.confidence >= m.threshold)) continue;
      for (const m of list) for (const l of m.labels) out.add(l);
    }
    return out;
  }
}

/** Adds stored labels; `inheritedOnly` keeps refrains/obligations of the source out. */
function merge(labels: Labels, security: Coding[], inheritedOnly = false): void {
  for (const c of security) {
    if (c.system === CONFIDENTIALITY && typeof c.code === 'string' && rank(c.code) > rank(labels.confidentiality)) {
      labels.confidentiality = c.code as ConfidentialityCode;
    } else if (c.system === ACT_CODE && typeof c.code === 'string') {
      if (!inheritedOnly || isSensitivityCode(c.code) || c.code === '42CFRPart2') labels.actCodes.add(c.code);
    }
  }
}

export function withLabels(resource: Resource, labels: Labels): Resource {
  const sensitive = [...labels.actCodes].some((c) => isSensitivityCode(c) || c === '42CFRPart2');
  let conf = labels.confidentiality;
  if (sensitive && rank(conf) < rank('R')) conf = 'R';
  if (!sensitive && rank(conf) < rank('N')) conf = 'N'; // stored data is at least the HIPAA baseline
  const security: Coding[] = [
    { system: CONFIDENTIALITY, code: conf },
    ...[...labels.actCodes].sort().map((code) => ({ system: ACT_CODE, code })),
  ];
  return { ...resource, meta: { ...resource.meta, security } } as Resource;
}

/** Labels as stored on a resource (confidentiality N when none). */
export function labelsOf(resource: Resource): Labels {
  const labels: Labels = { confidentiality: 'N', actCodes: new Set() };
  let seen = false;
  for (const c of resource.meta?.security ?? []) {
    if (c.system === CONFIDENTIALITY && (CONFIDENTIALITY_ORDER as readonly string[]).includes(c.code ?? '')) {
      if (!seen || rank(c.code as string) > rank(labels.confidentiality)) labels.confidentiality = c.code as ConfidentialityCode;
      seen = true;
    } else if (c.system === ACT_CODE && c.code) labels.actCodes.add(c.code === 'ETH' ? 'SUD' : c.code);
  }
  return labels;
}

/** Calls `fn` for every Coding-shaped object outside meta and narrative. */
export function walkCodings(node: unknown, fn: (system: string | undefined, code: string) => void, depth = 0): void {
  if (!node || typeof node !== 'object' || depth > 40) return;
  if (Array.isArray(node)) {
    for (const x of node) walkCodings(x, fn, depth + 1);
    return;
  }
  const o = node as Record<string, unknown>;
  if (typeof o.code === 'string' && (typeof o.system === 'string' || o.system === undefined) && depth > 0) fn(o.system as string | undefined, o.code);
  for (const [k, v] of Object.entries(o)) {
    if (depth === 0 && (k === 'meta' || k === 'text')) continue;
    if (v && typeof v === 'object') walkCodings(v, fn, depth + 1);
  }
}

/** Relative references ("Type/id") by role: content the data depends on, and who provided it. */
export function collectReferences(resource: Resource): { content: string[]; sources: string[] } {
  const content = new Set<string>();
  const sources = new Set<string>();
  const visit = (node: unknown, key: string, depth: number): void => {
    if (!node || typeof node !== 'object' || depth > 40) return;
    if (Array.isArray(node)) {
      for (const x of node) visit(x, key, depth + 1);
      return;
    }
    const o = node as Record<string, unknown>;
    if (typeof o.reference === 'string') {
      const ref = relativeRef(o.reference);
      if (ref) {
        if (SOURCE_KEYS.has(key)) sources.add(ref);
        if (!CONTEXT_KEYS.has(key) && !NO_PROPAGATION_FROM.has(ref.split('/')[0])) content.add(ref);
      }
    }
    for (const [k, v] of Object.entries(o)) {
      if (depth === 0 && (k === 'meta' || k === 'text' || k === 'contained')) continue;
      if (v && typeof v === 'object') visit(v, k, depth + 1);
    }
  };
  visit(resource, '', 0);
  return { content: [...content], sources: [...sources] };
}

/** `meta.source` naming an Organization ("Organization/x" or a URL ending in it). */
function sourceOf(resource: Resource): string[] {
  const src = resource.meta?.source;
  if (typeof src !== 'string') return [];
  const m = /(?:^|\/)Organization\/([A-Za-z0-9\-.]{1,64})(?:[/#?].*)?$/.exec(src);
  return m ? [`Organization/${m[1]}`] : [];
}

const REF_RE = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/;

export function relativeRef(reference: string): string | undefined {
  if (reference.startsWith('#') || reference.startsWith('urn:')) return undefined;
  const m = REF_RE.exec(reference);
  return m ? `${m[1]}/${m[2]}` : undefined;
}
