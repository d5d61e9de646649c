// A client's Subscription (R4, profile backport-subscription) read into the settings the
// gateway acts on, and checked: a supported topic, a rest-hook channel to an endpoint the partner
// directory registers for the requesting organization (never an arbitrary URL: no SSRF, no
// exfiltration to a third party), a supported payload and filter. Pure.
// Spec: http://hl7.org/fhir/uv/subscriptions-backport/ (v1.1.0), StructureDefinition-backport-subscription.
import type { OperationOutcomeIssue, Subscription } from '@medplum/fhirtypes';
import type { PartnerOrganization } from '../config/partners.js';
import { TOPICS, TOPIC_DESCRIPTIONS, type TopicUrl } from './topics.js';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport';
export const EXT = {
  filterCriteria: `${BACKPORT}/StructureDefinition/backport-filter-criteria`,
  payloadContent: `${BACKPORT}/StructureDefinition/backport-payload-content`,
  heartbeatPeriod: `${BACKPORT}/StructureDefinition/backport-heartbeat-period`,
  timeout: `${BACKPORT}/StructureDefinition/backport-timeout`,
  maxCount: `${BACKPORT}/StructureDefinition/backport-max-count`,
} as const;

export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

export interface SubscriptionSettings {
  topic: TopicUrl;
  filterPatient?: string;
  endpoint: string;
  payload: PayloadContent;
  heartbeatSeconds?: number;
  timeoutSeconds?: number;
  end?: string;
  status: Subscription['status'];
}

const invalid = (diagnostics: string, expression: string, code: OperationOutcomeIssue['code'] = 'invalid'): OperationOutcomeIssue => ({
  severity: 'error',
  code,
  diagnostics,
  expression: [expression],
});

const topicUrls = new Set<string>(Object.values(TOPICS));

/** `patient=Patient/123`, optionally `QuestionnaireResponse?patient=…`; several joined by & (AND). */
function parseFilter(values: string[], issues: OperationOutcomeIssue[]): string | undefined {
  let patient: string | undefined;
  for (const v of values) {
    const query = v.includes('?') ? v.slice(v.indexOf('?') + 1) : v;
    for (const pair of query.split('&').filter(Boolean)) {
      const [key, raw = ''] = pair.split('=');
      const value = decodeURIComponent(raw);
      const id = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(value)?.[1];
      if ((key === 'patient' || key === 'subject') && id) {
        if (patient && patient !== id) issues.push(invalid('Filters name two different patients: nothing could match', 'Subscription.criteria.extension'));
        patient = id;
      } else {
        issues.push(invalid(`Unsupported filter "${key}": the topics can be filtered by patient=Patient/<id> only`, 'Subscription.criteria.extension', 'not-supported'));
      }
    }
  }
  return patient;
}

/**
 * Reads and checks a Subscription for `owner` (the requesting organization). Returns the
 * settings, or the issues (422) when it cannot be honoured as asked.
 */
export function readSubscription(sub: Subscription, owner: PartnerOrganization, opts: { maxTimeoutSeconds: number }): { settings?: SubscriptionSettings; issues: OperationOutcomeIssue[] } {
  const issues: OperationOutcomeIssue[] = [];
  const topic = sub.criteria ?? '';
  if (!topicUrls.has(topic)) {
    issues.push(invalid(`Unknown topic "${topic}"; supported: ${Object.keys(TOPIC_DESCRIPTIONS).join(', ')}`, 'Subscription.criteria', 'not-supported'));
  }
  const criteriaExt = (sub as Subscription & { _criteria?: { extension?: { url: string; valueString?: string }[] } })._criteria?.extension ?? [];
  const filters = criteriaExt.filter((e) => e.url === EXT.filterCriteria).map((e) => e.valueString ?? '');
  const filterPatient = parseFilter(filters, issues);
  if (filterPatient && topic === TOPICS.rosterChanged) issues.push(invalid('The roster-changed topic cannot be filtered by patient', 'Subscription.criteria.extension', 'not-supported'));

  const ch = sub.channel;
  if (ch?.type !== 'rest-hook') issues.push(invalid('Only the rest-hook channel is supported', 'Subscription.channel.type', 'not-supported'));
  const endpoint = ch?.endpoint ?? '';
  if (!endpoint) issues.push(invalid('A rest-hook channel needs an endpoint', 'Subscription.channel.endpoint', 'required'));
  else if (!(owner.notificationEndpoints ?? []).includes(endpoint)) {
    // Deny by default: only URLs the partner directory registers for this organization.
    issues.push(invalid(`The endpoint is not registered for ${owner.id} in the partner directory (notificationEndpoints)`, 'Subscription.channel.endpoint', 'security'));
  }
  if (ch?.header?.length) {
    issues.push(invalid('channel.header is not supported: notifications carry the gateway\'s SMART Backend Services token', 'Subscription.channel.header', 'not-supported'));
  }
  if ((ch?.payload ?? 'application/fhir+json') !== 'application/fhir+json') {
    issues.push(invalid('Notifications are sent as application/fhir+json', 'Subscription.channel.payload', 'not-supported'));
  }
  const payloadExt = (ch as { _payload?: { extension?: { url: string; valueCode?: string }[] } } | undefined)?._payload?.extension ?? [];
  const content = payloadExt.find((e) => e.url === EXT.payloadContent)?.valueCode ?? 'id-only';
  if (!['empty', 'id-only', 'full-resource'].includes(content)) {
    issues.push(invalid(`Unknown payload content "${content}" (empty, id-only, full-resource)`, 'Subscription.channel.payload.extension', 'code-invalid'));
  }
  const chExt = ch?.extension ?? [];
  const heartbeat = chExt.find((e) => e.url === EXT.heartbeatPeriod)?.valueUnsignedInt;
  if (heartbeat !== undefined && heartbeat < 1) issues.push(invalid('The heartbeat period is at least 1 second', 'Subscription.channel.extension', 'value'));
  const timeout = chExt.find((e) => e.url === EXT.timeout)?.valueUnsignedInt;
  if (sub.end && Number.isNaN(Date.parse(sub.end))) issues.push(invalid('end is not an instant', 'Subscription.end'));
  if (issues.length) return { issues };
  return {
    issues,
    settings: {
      topic: topic as TopicUrl,
      filterPatient,
      endpoint,
      payload: content as PayloadContent,
      heartbeatSeconds: heartbeat,
      // The gateway's own request timeout is the ceiling.
      timeoutSeconds: timeout ? Math.min(timeout, opts.maxTimeoutSeconds) : undefined,
      end: sub.end,
      status: sub.status,
    },
  };
}
