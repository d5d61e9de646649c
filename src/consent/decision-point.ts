// The policy decision point (pure): may this resource go to this recipient, and in what form?
// Order (consent-security.md §2.6): hard denies (type restrictions, V, psychotherapy notes) →
// relationship → the person's Consents (deny-overrides; an opt-out or restriction wins) →
// self-pay restriction → category rules (Part 2, state-protected, normal) from the default policy
// (config/policy.json). Anything unexpected denies (fail closed).
import type { Coding, Consent, Resource } from '@medplum/fhirtypes';
import type { DisclosurePolicy, PurposeClass } from '../config/policy.js';
import type { OrganizationType } from '../config/partners.js';
import { evaluateConsents, type ConsentVerdict } from './consent-evaluation.js';
import type { Labels } from './labeler.js';
import { ACT_CODE, PART2_CODES } from './vocabulary.js';

export interface RecipientProfile {
  organizationId: string;
  organizationType: OrganizationType;
  purposeOfUse: string;
  clientId?: string;
}

export interface DecisionInput {
  recipient: RecipientProfile;
  /**
   * The resource. Only its type is read, except by Consent evaluation (class, code, dataPeriod,
   * data): ConsentEngine.filterStored relies on this to decide from a stub when no Consent is
   * in force for the resource's people.
   */
  resource: Resource;
  /** Stored labels merged with a read-time code scan. */
  labels: Labels;
  /** The people the resource is about (Patient ids). */
  patientIds: string[];
  related: (patientId: string) => boolean;
  /** Consents in force for a person (all of them: the caller reads every page). */
  consents: (patientId: string) => Consent[];
  policy: DisclosurePolicy;
  now: Date;
}

export interface Obligations {
  dropNarrative: boolean;
  scrubReferenceDisplay: boolean;
  /** Labels to add on disclosure, e.g. v3-ActCode NORDSCLCD for Part 2 data. */
  addLabels: Coding[];
  /** Notice that must accompany the disclosure (42 CFR 2.32). */
  notice?: string;
}

export interface Decision {
  effect: 'permit' | 'deny';
  /** Which rule decided: for the audit trail, never shown to the recipient. */
  rule: string;
  /** Consent ids and the policy URI behind the decision. */
  basedOn: string[];
  obligations?: Obligations;
}

export function decide(input: DecisionInput): Decision {
  try {
    return decideUnsafe(input);
  } catch {
    return { effect: 'deny', rule: 'error', basedOn: [] };
  }
}

function decideUnsafe(input: DecisionInput): Decision {
  const { recipient, resource, labels, policy } = input;
  const deny = (rule: string, basedOn: string[] = [policy.uri]): Decision => ({ effect: 'deny', rule, basedOn });
  const purpose = policy.purposeClasses[recipient.purposeOfUse] as PurposeClass | undefined;
  if (!purpose) return deny('unknown-purpose');

  const restricted = policy.restrictedTypes[resource.resourceType];
  if (Array.isArray(restricted)) {
    if (!restricted.includes(recipient.organizationType)) return deny('restricted-type');
    // Consent directives and the audit trail are the steward's records about the person, not the
    // person's health data: an opt-out must not hide itself (or its accounting) from the SMA.
    const obligations: Obligations = { dropNarrative: policy.obligations.dropNarrative, scrubReferenceDisplay: policy.obligations.scrubReferenceDisplay, addLabels: [] };
    return { effect: 'permit', rule: 'steward-record', basedOn: [policy.uri], obligations };
  }
  if (policy.alwaysDeny.confidentiality.includes(labels.confidentiality)) return deny('very-restricted');
  if (policy.alwaysDeny.labels.some((l) => labels.actCodes.has(l))) return deny('always-denied-label');

  for (const p of input.patientIds) if (!input.related(p)) return deny('no-relationship');

  const consents = input.patientIds.flatMap((p) => input.consents(p));
  const verdict: ConsentVerdict = consents.length
    ? evaluateConsents(consents, { organizationId: recipient.organizationId, purposeOfUse: recipient.purposeOfUse, now: input.now }, resource, labels)
    : { effect: 'none', basedOn: [] };
  if (verdict.effect === 'deny') return deny('consent-deny', verdict.basedOn);

  const selfPay = policy.alwaysDeny.selfPayToPlans;
  if (labels.actCodes.has(selfPay.label) && selfPay.organizationTypes.includes(recipient.organizationType) && selfPay.purposes.includes(purpose)) {
    return deny('self-pay-restriction');
  }

  const consented = verdict.effect === 'permit';
  const basedOn = [policy.uri, ...verdict.basedOn];
  const obligations: Obligations = {
    dropNarrative: policy.obligations.dropNarrative,
    scrubReferenceDisplay: policy.obligations.scrubReferenceDisplay,
    addLabels: [],
  };

  const part2 = [...labels.actCodes].some((c) => PART2_CODES.has(c));
  if (part2) {
    if (policy.part2.neverFor.includes(recipient.organizationType) && !consented) return deny('part2-never');
    const emergency = purpose === 'emergency' && policy.part2.emergencyPermittedFor.includes(recipient.organizationType);
    if (purpose === 'research' || purpose === 'marketing') return deny('part2-purpose');
    if (!consented && !emergency) return deny('part2-no-consent', basedOn);
    obligations.addLabels.push(...policy.part2.refrains.map((code) => ({ system: ACT_CODE, code })), { system: ACT_CODE, code: '42CFRPart2' });
    obligations.notice = policy.part2.notice;
  }

  const state = policy.states[policy.defaultState];
  for (const cat of state.protected) {
    if (!labels.actCodes.has(cat)) continue;
    const allowed = (state.withoutConsent[cat] ?? []).includes(purpose);
    if (!allowed && !consented) return deny('state-protected', basedOn);
  }

  if (policy.normal.consentRequired.includes(purpose) && !consented) return deny('consent-required', basedOn);
  if (!policy.normal.permit.includes(purpose) && !consented) return deny('purpose-not-permitted', basedOn);
  return { effect: 'permit', rule: part2 ? (consented ? 'part2-consent' : 'part2-emergency') : consented ? 'consent-permit' : 'tpo', basedOn, obligations };
}
