// The subscription topics the gateway supports (FHIR Subscriptions R4 Backport: a Subscription's
// criteria is a topic canonical). Each topic is a rule on a committed write: which resource
// versions are events, what the event's focus is, and which person it is about (for the
// relationship check of the subscriber). Pure: the hook supplies the previous version.
import type { Condition, Group, QuestionnaireResponse, Resource, RiskAssessment } from '@medplum/fhirtypes';
import { LEAD_CANONICAL, SYSTEM } from '../mappers/common/systems.js';
import { ROSTER_IDENTIFIER_SYSTEM } from '../alignment/roster.js';
import { SHARED_RISK_PROTOCOL_SYSTEM } from '../risk/codes.js';
import { isChangeInConditionReport } from '../care/change-in-condition/report.js';
import { sourceRecordOf } from '../exchange/data-classes.js';
import type { WriteEvent } from '../fhir/store/repository.js';

const TOPIC_BASE = `${LEAD_CANONICAL}/SubscriptionTopic`;

export const TOPICS = {
  changeInCondition: `${TOPIC_BASE}/change-in-condition`,
  newHcbsAssessment: `${TOPIC_BASE}/new-hcbs-assessment`,
  fallRiskElevated: `${TOPIC_BASE}/fall-risk-elevated`,
  riskTierChanged: `${TOPIC_BASE}/risk-tier-changed`,
  rosterChanged: `${TOPIC_BASE}/roster-changed`,
} as const;

export type TopicUrl = (typeof TOPICS)[keyof typeof TOPICS];

/** Every supported topic with what triggers it (CapabilityStatement, docs, 422 messages). */
export const TOPIC_DESCRIPTIONS: Record<TopicUrl, string> = {
  [TOPICS.changeInCondition]: 'A change-in-condition report (QuestionnaireResponse of the published Questionnaire) is created or amended',
  [TOPICS.newHcbsAssessment]: 'A QuestionnaireResponse from the hcbs-assessment layout is created',
  [TOPICS.fallRiskElevated]: 'A falls RiskAssessment becomes high, or a Condition SNOMED 129839007 (at increased risk for falls) becomes active',
  [TOPICS.riskTierChanged]: 'A shared-risk RiskAssessment gets a qualitativeRisk code different from its previous version',
  [TOPICS.rosterChanged]: 'An alignment roster Group gets a new version',
};

// The systems that mark what a topic is about belong to the modules that write them.
export { SHARED_RISK_PROTOCOL_SYSTEM, ROSTER_IDENTIFIER_SYSTEM as ALIGNMENT_ROSTER_SYSTEM };
const RISK_PROBABILITY = SYSTEM.riskProbability;
const SNOMED = SYSTEM.snomed;
const AT_RISK_FOR_FALLS = '129839007';
const FALL_EVENT = '1912002';

export interface TopicEvent {
  topic: TopicUrl;
  /** The person the event is about (relationship and filter); absent for a roster. */
  patientId?: string;
  /** The organization managing a roster Group (who may be told it changed). */
  managingOrganization?: string;
}

const patientOf = (ref: { reference?: string } | undefined): string | undefined => /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref?.reference ?? '')?.[1];

const riskCode = (r: RiskAssessment): string | undefined =>
  r.prediction?.flatMap((p) => p.qualitativeRisk?.coding ?? []).find((c) => c.system === RISK_PROBABILITY)?.code;

const isSharedRisk = (r: RiskAssessment): boolean => (r.method?.coding ?? []).some((c) => c.system === SHARED_RISK_PROTOCOL_SYSTEM);

/** A falls RiskAssessment (falls-screen layout or a Fall outcome) predicting high risk; or an active at-risk-for-falls Condition. */
function fallRiskHigh(r: Resource | undefined): boolean {
  if (!r) return false;
  if (r.resourceType === 'RiskAssessment') {
    if (r.status === 'entered-in-error' || isSharedRisk(r)) return false;
    const falls = sourceRecordOf(r)?.layout === 'falls-screen' || (r.prediction ?? []).some((p) => (p.outcome?.coding ?? []).some((c) => c.system === SNOMED && c.code === FALL_EVENT));
    return falls && riskCode(r) === 'high';
  }
  if (r.resourceType === 'Condition') {
    const c = r as Condition;
    const coded = (c.code?.coding ?? []).some((x) => x.system === SNOMED && x.code === AT_RISK_FOR_FALLS);
    const clinical = c.clinicalStatus?.coding?.[0]?.code;
    const verification = c.verificationStatus?.coding?.[0]?.code;
    return coded && (!clinical || clinical === 'active') && verification !== 'entered-in-error' && verification !== 'refuted';
  }
  return false;
}

/** Whether the write needs its previous version to be judged (fall risk, risk tier). */
export function needsPrevious(event: WriteEvent): boolean {
  return event.kind === 'update' && (event.resourceType === 'RiskAssessment' || event.resourceType === 'Condition');
}

/** The topic events one committed write raises (usually none). */
export function matchTopics(event: WriteEvent, previous?: Resource): TopicEvent[] {
  const r = event.resource;
  if (event.kind === 'delete' || !r) return [];
  const out: TopicEvent[] = [];
  switch (r.resourceType) {
    case 'QuestionnaireResponse': {
      const qr = r as QuestionnaireResponse;
      const patientId = patientOf(qr.subject);
      if (isChangeInConditionReport(qr) && (qr.status === 'completed' || qr.status === 'amended')) out.push({ topic: TOPICS.changeInCondition, patientId });
      if (event.kind === 'create' && sourceRecordOf(qr)?.layout === 'hcbs-assessment') out.push({ topic: TOPICS.newHcbsAssessment, patientId });
      break;
    }
    case 'RiskAssessment':
    case 'Condition': {
      const patientId = patientOf((r as RiskAssessment).subject);
      if (fallRiskHigh(r) && !fallRiskHigh(previous)) out.push({ topic: TOPICS.fallRiskElevated, patientId });
      if (r.resourceType === 'RiskAssessment' && event.kind === 'update' && isSharedRisk(r) && previous?.resourceType === 'RiskAssessment') {
        if (riskCode(r) !== riskCode(previous)) out.push({ topic: TOPICS.riskTierChanged, patientId });
      }
      break;
    }
    case 'Group': {
      const g = r as Group;
      if ((g.identifier ?? []).some((i) => i.system === ROSTER_IDENTIFIER_SYSTEM)) {
        const org = /^Organization\/(.+)$/.exec(g.managingEntity?.reference ?? '')?.[1];
        out.push({ topic: TOPICS.rosterChanged, managingOrganization: org });
      }
      break;
    }
    default:
      break;
  }
  // A topic about a person needs the person; without one there is no one to check against.
  return out.filter((e) => e.topic === TOPICS.rosterChanged || e.patientId);
}
