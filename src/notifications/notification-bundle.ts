// Notification Bundles and SubscriptionStatus Parameters of the Subscriptions R4 Backport IG
// (v1.1.0): a `history` Bundle whose first entry is a Parameters (backport-subscription-status-r4)
// with subscription, topic, status, type, events-since-subscription-start and the
// notification-event parts; then, for id-only / full-resource payloads, one entry per focus.
// Pure.
// Spec: StructureDefinition-backport-subscription-notification-r4, payloads.html,
// Bundle-r4-notification-id-only (entry.request/response satisfy bdl-3/bdl-4 of history Bundles).
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { BACKPORT, type PayloadContent } from './subscription-request.js';

export const PROFILE = {
  notification: `${BACKPORT}/StructureDefinition/backport-subscription-notification-r4`,
  status: `${BACKPORT}/StructureDefinition/backport-subscription-status-r4`,
} as const;

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status';

export interface StatusInput {
  fhirBase: string;
  subscriptionId: string;
  topic: string;
  /** requested | active | error | off (R4 subscription-status). */
  status: string;
  type: NotificationType;
  eventsSinceSubscriptionStart: number;
  payload: PayloadContent;
  events?: { number: number; timestamp?: string; focus?: { resourceType: string; id: string } }[];
  error?: string;
}

export function statusParameters(s: StatusInput): Parameters {
  const parameter: ParametersParameter[] = [
    { name: 'subscription', valueReference: { reference: `${s.fhirBase}/Subscription/${s.subscriptionId}` } },
  ];
  // The topic SHOULD NOT be present with empty payloads (it can say what happened).
  if (s.payload !== 'empty') parameter.push({ name: 'topic', valueCanonical: s.topic });
  parameter.push({ name: 'status', valueCode: s.status }, { name: 'type', valueCode: s.type });
  parameter.push({ name: 'events-since-subscription-start', valueString: String(s.eventsSinceSubscriptionStart) });
  for (const e of s.events ?? []) {
    const part: ParametersParameter[] = [{ name: 'event-number', valueString: String(e.number) }];
    if (e.timestamp) part.push({ name: 'timestamp', valueInstant: e.timestamp });
    if (e.focus && s.payload !== 'empty') part.push({ name: 'focus', valueReference: { reference: `${s.fhirBase}/${e.focus.resourceType}/${e.focus.id}` } });
    parameter.push({ name: 'notification-event', part });
  }
  if (s.error) parameter.push({ name: 'error', valueCodeableConcept: { text: s.error } });
  return { resourceType: 'Parameters', meta: { profile: [PROFILE.status] }, parameter };
}

function statusEntry(s: StatusInput): BundleEntry {
  return {
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: statusParameters(s),
    request: { method: 'GET', url: `${s.fhirBase}/Subscription/${s.subscriptionId}/$status` },
    response: { status: '200' },
  };
}

/**
 * A notification Bundle. `focus` (event notifications only) is the resource as it may be
 * disclosed (after the consent filter); for id-only only its URL travels.
 */
export function notificationBundle(s: StatusInput, opts: { now: Date; focus?: Resource & { id: string } }): Bundle {
  const entry: BundleEntry[] = [statusEntry(s)];
  const f = opts.focus;
  if (f && s.type === 'event-notification' && s.payload !== 'empty') {
    const created = (f.meta?.versionId ?? '1') === '1';
    entry.push({
      fullUrl: `${s.fhirBase}/${f.resourceType}/${f.id}`,
      ...(s.payload === 'full-resource' ? { resource: f } : {}),
      request: { method: created ? 'POST' : 'PUT', url: created ? f.resourceType : `${f.resourceType}/${f.id}` },
      response: { status: created ? '201' : '200' },
    });
  }
  return { resourceType: 'Bundle', id: randomUUID(), meta: { profile: [PROFILE.notification] }, type: 'history', timestamp: opts.now.toISOString(), entry };
}

/** $status: a searchset Bundle of query-status Parameters, one per subscription. */
export function statusBundle(statuses: StatusInput[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: statuses.length,
    entry: statuses.map((s) => ({ fullUrl: `urn:uuid:${randomUUID()}`, resource: statusParameters(s), search: { mode: 'match' } })),
  };
}
