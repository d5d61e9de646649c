// Evaluates a person's FHIR R4 Consent resources for one request and one resource (pure).
// consent-security.md §1.1 "Recommended evaluation":
//   * only active patient-privacy consents in force count (status, scope or category, period);
//   * the base effect is the root provision.type, else derived from policyRule (OPTIN/OPTOUT,
//     hipaa-auth/hipaa-restrictions), else the consent decides nothing;
//   * nested provisions are exceptions, recursively, each with its own type (LEAP ignores the
//     nested type and looks one level deep; we do neither); matching children combine by
//     deny-overrides, and consents combine by deny-overrides (Consent2Share; LEAP's
//     "newest wins" lets a later permit silently undo an opt-out);
//   * a criterion we cannot evaluate (unknown system or code, an actor role other than IRCP, a
//     resource without a date against dataPeriod) never widens access: it does not match in a
//     permit provision and does match in a deny provision;
//   * a nested provision without a type is treated as deny.
import type { Coding, Consent, ConsentProvision, Resource } from '@medplum/fhirtypes';
import type { Labels } from './labeler.js';
import { relativeRef, walkCodings } from './labeler.js';
import { normalizeCode, systemKey } from './value-sets.js';
import { ACT_CODE, ACT_REASON, CONFIDENTIALITY, purposeLineage, rank, withAncestors } from './vocabulary.js';

export interface ConsentRequest {
  organizationId: string;
  purposeOfUse: string;
  now: Date;
}

export type Effect = 'permit' | 'deny';

export interface ConsentVerdict {
  effect: Effect | 'none';
  /** Consent ids that decided (Consent/<id>). */
  basedOn: string[];
}

type Tri = 'yes' | 'no' | 'unknown';

const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const CONSENT_ACTION = 'http://terminology.hl7.org/CodeSystem/consentaction';
const PARTICIPATION_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';
const POLICY_CODES = 'http://terminology.hl7.org/CodeSystem/consentpolicycodes';
const PROFILE_URI = 'urn:ietf:rfc:3986';

/** The consents that govern disclosure now: active, patient-privacy, root period in force. */
export function inForce(consents: Consent[], now: Date): Consent[] {
  return consents.filter((c) => {
    if (c.status !== 'active') return false;
    const codings = [...(c.scope?.coding ?? []), ...(c.category ?? []).flatMap((x) => x.coding ?? [])];
    // R5 drops scope and LEAP puts patient-privacy in category: accept either (§1.1).
    if (!codings.some((x) => x.system === CONSENT_SCOPE && x.code === 'patient-privacy')) return false;
    return inPeriod(c.provision?.period, now) !== 'no';
  });
}

/** Deny-overrides across every consent in force for the people the resource is about. */
export function evaluateConsents(consents: Consent[], req: ConsentRequest, resource: Resource, labels: Labels): ConsentVerdict {
  const permits: string[] = [];
  const denies: string[] = [];
  for (const c of consents) {
    const e = evaluateConsent(c, req, resource, labels);
    if (e === 'deny') denies.push(`Consent/${c.id}`);
    else if (e === 'permit') permits.push(`Consent/${c.id}`);
  }
  if (denies.length) return { effect: 'deny', basedOn: denies };
  if (permits.length) return { effect: 'permit', basedOn: permits };
  return { effect: 'none', basedOn: [] };
}

export function evaluateConsent(consent: Consent, req: ConsentRequest, resource: Resource, labels: Labels): Effect | 'none' {
  const root = consent.provision ?? {};
  const base = (root.type as Effect | undefined) ?? baseFromPolicy(consent);
  if (!base) return 'none';
  if (!applies(root, base, req, resource, labels)) return 'none';
  return evalNode(root, base, req, resource, labels);
}

function evalNode(node: ConsentProvision, effect: Effect, req: ConsentRequest, resource: Resource, labels: Labels): Effect {
  const results: Effect[] = [];
  for (const child of node.provision ?? []) {
    const ce: Effect = child.type === 'permit' ? 'permit' : 'deny';
    if (applies(child, ce, req, resource, labels)) results.push(evalNode(child, ce, req, resource, labels));
  }
  if (!results.length) return effect;
  return results.includes('deny') ? 'deny' : 'permit';
}

function applies(node: ConsentProvision, effect: Effect, req: ConsentRequest, resource: Resource, labels: Labels): boolean {
  const checks: Tri[] = [
    node.period ? inPeriod(node.period, req.now) : 'yes',
    node.actor?.length ? actorMatch(node, req) : 'yes',
    node.purpose?.length ? purposeMatch(node.purpose, req) : 'yes',
    node.action?.length ? actionMatch(node) : 'yes',
    node.securityLabel?.length ? labelMatch(node.securityLabel, labels) : 'yes',
    node.class?.length ? classMatch(node.class, resource) : 'yes',
    node.code?.length ? codeMatch(node, resource) : 'yes',
    node.dataPeriod ? dataPeriodMatch(node.dataPeriod, resource) : 'yes',
    node.data?.length ? dataMatch(node, resource) : 'yes',
  ];
  if (checks.includes('no')) return false;
  // Fail closed: an unknowable criterion only ever narrows what is disclosed.
  if (checks.includes('unknown')) return effect === 'deny';
  return true;
}

function baseFromPolicy(consent: Consent): Effect | undefined {
  for (const c of consent.policyRule?.coding ?? []) {
    if (c.system === ACT_CODE && (c.code === 'OPTIN' || c.code === 'OPTINR')) return 'permit';
    if (c.system === ACT_CODE && (c.code === 'OPTOUT' || c.code === 'OPTOUTE')) return 'deny';
    if (c.system === POLICY_CODES && c.code === 'hipaa-auth') return 'permit';
    if (c.system === POLICY_CODES && c.code === 'hipaa-restrictions') return 'deny';
  }
  return undefined;
}

function inPeriod(period: { start?: string; end?: string } | undefined, now: Date): Tri {
  if (!period) return 'yes';
  const start = period.start ? Date.parse(period.start) : -Infinity;
  const end = period.end ? endOf(period.end) : Infinity;
  if (Number.isNaN(start) || Number.isNaN(end)) return 'unknown';
  const t = now.getTime();
  return t >= start && t <= end ? 'yes' : 'no';
}

/** A date-only or partial end covers the whole day/month/year it names. */
function endOf(v: string): number {
  if (/^\d{4}$/.test(v)) return Date.parse(`${Number(v) + 1}-01-01`) - 1;
  if (/^\d{4}-\d{2}$/.test(v)) {
    const [y, m] = v.split('-').map(Number);
    return Date.UTC(m === 12 ? y + 1 : y, m === 12 ? 0 : m, 1) - 1;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return Date.parse(v) + 86400000 - 1;
  return Date.parse(v);
}

function actorMatch(node: ConsentProvision, req: ConsentRequest): Tri {
  let unknown = false;
  for (const a of node.actor ?? []) {
    const recipientRole = (a.role?.coding ?? []).some((c) => c.system === PARTICIPATION_TYPE && c.code === 'IRCP');
    if (!recipientRole) {
      unknown = true; // e.g. INF (the discloser): not something this gateway can establish
      continue;
    }
    const ref = a.reference?.reference ? relativeRef(a.reference.reference) : undefined;
    if (ref === `Organization/${req.organizationId}`) return 'yes';
    const id = a.reference?.identifier;
    if (id?.system === PARTNER_ID_SYSTEM && id.value === req.organizationId) return 'yes';
    if (!ref && !id) unknown = true;
  }
  return unknown ? 'unknown' : 'no';
}

/** Identifier system for partner organizations (their partner-directory id). */
export const PARTNER_ID_SYSTEM = 'https://lead-gateway.example.org/fhir/sid/partner-id';

function purposeMatch(purposes: Coding[], req: ConsentRequest): Tri {
  const lineage = purposeLineage(req.purposeOfUse);
  let unknown = false;
  for (const p of purposes) {
    if (p.system !== ACT_REASON) unknown = true;
    else if (p.code && lineage.includes(p.code)) return 'yes';
  }
  return unknown ? 'unknown' : 'no';
}

function actionMatch(node: ConsentProvision): Tri {
  let unknown = false;
  for (const cc of node.action ?? []) {
    for (const c of cc.coding ?? []) {
      if (c.system !== CONSENT_ACTION) unknown = true;
      else if (c.code === 'access' || c.code === 'disclose' || c.code === 'use') return 'yes';
      else if (c.code !== 'collect' && c.code !== 'correct') unknown = true;
    }
  }
  return unknown ? 'unknown' : 'no';
}

/** Confidentiality is a high-water mark; ActCode sensitivity codes subsume their children. */
function labelMatch(selectors: Coding[], labels: Labels): Tri {
  const have = new Set([...labels.actCodes].flatMap(withAncestors));
  let unknown = false;
  for (const s of selectors) {
    if (s.system === CONFIDENTIALITY && s.code && rank(s.code) >= 0) {
      if (rank(labels.confidentiality) <= rank(s.code)) return 'yes';
    } else if (s.system === ACT_CODE && s.code) {
      if (have.has(s.code === 'ETH' ? 'SUD' : s.code)) return 'yes';
    } else unknown = true;
  }
  return unknown ? 'unknown' : 'no';
}

function classMatch(classes: Coding[], resource: Resource): Tri {
  let unknown = false;
  for (const c of classes) {
    if (c.system === RESOURCE_TYPES) {
      if (c.code === resource.resourceType) return 'yes';
    } else if (c.system === PROFILE_URI) {
      if (c.code && (resource.meta?.profile ?? []).includes(c.code)) return 'yes';
    } else unknown = true;
  }
  return unknown ? 'unknown' : 'no';
}

function codeMatch(node: ConsentProvision, resource: Resource): Tri {
  const wanted = new Set<string>();
  for (const cc of node.code ?? []) {
    for (const c of cc.coding ?? []) {
      const k = systemKey(c.system);
      if (k && c.code) wanted.add(`${k}|${normalizeCode(k, c.code)}`);
    }
  }
  let found = false;
  walkCodings(resource, (system, code) => {
    const k = systemKey(system);
    if (!found && k && wanted.has(`${k}|${normalizeCode(k, code)}`)) found = true;
  });
  return found ? 'yes' : 'no';
}

// When the data happened (clinical or service time), first element present wins.
const DATA_DATES = [
  'effectiveDateTime', 'effectivePeriod', 'onsetDateTime', 'onsetPeriod', 'recordedDate', 'authoredOn', 'authored', 'issued',
  'performedDateTime', 'performedPeriod', 'occurrenceDateTime', 'occurrencePeriod', 'period', 'billablePeriod', 'whenHandedOver',
  'date', 'created', 'recorded', 'started', 'sent',
];

function dataPeriodMatch(period: { start?: string; end?: string }, resource: Resource): Tri {
  const r = resource as unknown as Record<string, unknown>;
  for (const k of DATA_DATES) {
    const v = r[k];
    const when = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { start?: string; end?: string }).start ?? (v as { end?: string }).end : undefined;
    if (typeof when === 'string') {
      const t = Date.parse(when);
      if (Number.isNaN(t)) return 'unknown';
      return inPeriod(period, new Date(t));
    }
  }
  return 'unknown';
}

function dataMatch(node: ConsentProvision, resource: Resource): Tri {
  const self = `${resource.resourceType}/${resource.id}`;
  let unknown = false;
  for (const d of node.data ?? []) {
    const ref = d.reference?.reference ? relativeRef(d.reference.reference) : undefined;
    if (ref === self) return 'yes';
    if (d.meaning !== 'instance') unknown = true; // related / dependents / authoredby need a graph walk we do not do
  }
  return unknown ? 'unknown' : 'no';
}
