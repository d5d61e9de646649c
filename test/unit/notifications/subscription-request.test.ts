// Reading and checking a client's Subscription (src/notifications/subscription-request.ts).
import type { Subscription } from '@medplum/fhirtypes';
import type { PartnerOrganization } from '../../../src/config/partners.js';
import { EXT, readSubscription } from '../../../src/notifications/subscription-request.js';
import { TOPICS } from '../../../src/notifications/topics.js';

const owner: PartnerOrganization = { id: 'aco-x', type: 'ACO', name: 'X', clients: [], notificationEndpoints: ['https://aco-x.example.org/notify'] };
const base = (over: Partial<Subscription> & Record<string, unknown> = {}): Subscription =>
  ({
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'r',
    criteria: TOPICS.changeInCondition,
    channel: { type: 'rest-hook', endpoint: 'https://aco-x.example.org/notify', payload: 'application/fhir+json' },
    ...over,
  }) as Subscription;
const read = (s: Subscription) => readSubscription(s, owner, { maxTimeoutSeconds: 30 });

describe('readSubscription', () => {
  it('reads topic, endpoint, payload (id-only by default), heartbeat, timeout (capped) and a patient filter', () => {
    const s = base({
      _criteria: { extension: [{ url: EXT.filterCriteria, valueString: 'QuestionnaireResponse?patient=Patient/p1' }] },
      channel: {
        type: 'rest-hook',
        endpoint: 'https://aco-x.example.org/notify',
        payload: 'application/fhir+json',
        extension: [
          { url: EXT.heartbeatPeriod, valueUnsignedInt: 60 },
          { url: EXT.timeout, valueUnsignedInt: 120 },
        ],
      },
    });
    expect(read(s).settings).toEqual({ topic: TOPICS.changeInCondition, filterPatient: 'p1', endpoint: 'https://aco-x.example.org/notify', payload: 'id-only', heartbeatSeconds: 60, timeoutSeconds: 30, end: undefined, status: 'requested' });
    const full = base({ channel: { type: 'rest-hook', endpoint: 'https://aco-x.example.org/notify', payload: 'application/fhir+json', _payload: { extension: [{ url: EXT.payloadContent, valueCode: 'full-resource' }] } } as Subscription['channel'] });
    expect(read(full).settings?.payload).toBe('full-resource');
  });

  it.each<[string, Subscription, string]>([
    ['an endpoint not registered for the owner', base({ channel: { type: 'rest-hook', endpoint: 'https://attacker.example.com/x', payload: 'application/fhir+json' } }), 'Subscription.channel.endpoint'],
    ['an unknown topic', base({ criteria: 'Observation?code=1234' }), 'Subscription.criteria'],
    ['another channel type', base({ channel: { type: 'email', endpoint: 'https://aco-x.example.org/notify' } }), 'Subscription.channel.type'],
    ['channel headers', base({ channel: { type: 'rest-hook', endpoint: 'https://aco-x.example.org/notify', payload: 'application/fhir+json', header: ['Authorization: x'] } }), 'Subscription.channel.header'],
    ['an unsupported filter', base({ _criteria: { extension: [{ url: EXT.filterCriteria, valueString: 'code=123' }] } }), 'Subscription.criteria.extension'],
    ['an XML payload', base({ channel: { type: 'rest-hook', endpoint: 'https://aco-x.example.org/notify', payload: 'application/fhir+xml' } }), 'Subscription.channel.payload'],
  ])('refuses %s', (_what, s, expression) => {
    const { settings, issues } = read(s);
    expect(settings).toBeUndefined();
    expect(issues.flatMap((i) => i.expression ?? [])).toContain(expression);
  });

  it('refuses an organization without registered endpoints', () => {
    const none = readSubscription(base(), { ...owner, notificationEndpoints: undefined }, { maxTimeoutSeconds: 30 });
    expect(none.issues[0].code).toBe('security');
  });
});
