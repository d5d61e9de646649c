// Notification Bundles per payload content (src/notifications/notification-bundle.ts),
// Subscriptions R4 Backport 1.1.0 payloads.html.
import type { Resource } from '@medplum/fhirtypes';
import { notificationBundle, PROFILE, statusBundle, type StatusInput } from '../../../src/notifications/notification-bundle.js';
import { TOPICS } from '../../../src/notifications/topics.js';

const base: StatusInput = {
  fhirBase: 'https://gw.example.org/fhir',
  subscriptionId: 's1',
  topic: TOPICS.changeInCondition,
  status: 'active',
  type: 'event-notification',
  eventsSinceSubscriptionStart: 7,
  payload: 'id-only',
  events: [{ number: 7, timestamp: '2028-03-02T10:15:00.000Z', focus: { resourceType: 'QuestionnaireResponse', id: 'q1' } }],
};
const focus = { resourceType: 'QuestionnaireResponse', id: 'q1', status: 'completed', meta: { versionId: '2' } } as Resource & { id: string };
const now = new Date('2028-03-02T10:15:01Z');
const names = (b: any) => b.entry[0].resource.parameter.map((p: { name: string }) => p.name);

describe('notification bundles', () => {
  it('id-only: status first, then the focus entry without its resource', () => {
    const b = notificationBundle(base, { now, focus });
    expect(b).toMatchObject({ resourceType: 'Bundle', type: 'history', timestamp: now.toISOString(), meta: { profile: [PROFILE.notification] } });
    expect(b.entry![0]).toMatchObject({ request: { method: 'GET', url: 'https://gw.example.org/fhir/Subscription/s1/$status' }, response: { status: '200' } });
    expect(b.entry![0].resource).toMatchObject({ resourceType: 'Parameters', meta: { profile: [PROFILE.status] } });
    expect(names(b)).toEqual(['subscription', 'topic', 'status', 'type', 'events-since-subscription-start', 'notification-event']);
    expect(b.entry![1]).toEqual({ fullUrl: 'https://gw.example.org/fhir/QuestionnaireResponse/q1', request: { method: 'PUT', url: 'QuestionnaireResponse/q1' }, response: { status: '200' } });
  });

  it('full-resource: the focus travels in the entry', () => {
    const b = notificationBundle({ ...base, payload: 'full-resource' }, { now, focus });
    expect(b.entry![1].resource).toEqual(focus);
  });

  it('empty: no topic, no focus, no entry beyond the status', () => {
    const b = notificationBundle({ ...base, payload: 'empty' }, { now, focus });
    expect(b.entry).toHaveLength(1);
    expect(names(b)).not.toContain('topic');
    const event = b.entry![0].resource as any;
    expect(event.parameter.find((p: { name: string }) => p.name === 'notification-event').part.map((p: { name: string }) => p.name)).toEqual(['event-number', 'timestamp']);
  });

  it('handshake and $status carry no events', () => {
    const h = notificationBundle({ ...base, type: 'handshake', status: 'requested', events: [], eventsSinceSubscriptionStart: 0 }, { now });
    expect(h.entry).toHaveLength(1);
    expect(names(h)).not.toContain('notification-event');
    const s = statusBundle([{ ...base, type: 'query-status', events: [] }]);
    expect(s).toMatchObject({ type: 'searchset', total: 1 });
    expect((s.entry![0].resource as any).parameter.find((p: { name: string }) => p.name === 'type').valueCode).toBe('query-status');
  });
});
