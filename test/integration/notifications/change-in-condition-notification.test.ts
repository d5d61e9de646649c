// Done-when of the change-in-condition notifications: a report POSTed at the real gateway
// (SMART tokens of the demo clients, PostgreSQL, Redis) reaches the ACO's rest-hook endpoint —
// a separate process on loopback that checks the gateway's SMART token — as a Subscriptions R4
// Backport notification Bundle: handshake first (requested → active), then id-only event
// notifications numbered per subscription. A report about a person the ACO has no relationship
// with is not notified at all, and only the owner sees its Subscription.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CARE_COORDINATION_ROLE_SYSTEM, CHANGE_IN_CONDITION_QUESTIONNAIRE } from '../../../src/care/change-in-condition/vocabulary.js';
import { notificationStore } from '../../../src/notifications/notification-store.js';
import { TOPICS } from '../../../src/notifications/topics.js';
import { http } from '../../helpers/gateway.js';
import { waitFor } from '../exchange/helpers.js';
import { startNotificationHub, type NotificationHub, type ReceivedNotification } from '../../support/notification-hub.js';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport';
const prefix = `test:notify:${randomUUID()}:`;
const tmp = join(process.cwd(), 'tmp', `notifications-${randomUUID()}`);
let hub: NotificationHub;
let sma: string;
let mco: string;
let aco: string;
let otherAco: string;
let aligned: string;
let unrelated: string;

const as = (t: string) => ({ authorization: `Bearer ${t}` });


const param = (p: any, name: string) => p.parameter.find((x: { name: string }) => x.name === name);
const events = (n: ReceivedNotification) => n.body.entry[0].resource.parameter.filter((x: { name: string }) => x.name === 'notification-event');
const typeOf = (n: ReceivedNotification) => param(n.body.entry[0].resource, 'type').valueCode;

const report = (patientId: string, yes: string[]) => ({
  resourceType: 'QuestionnaireResponse',
  questionnaire: CHANGE_IN_CONDITION_QUESTIONNAIRE,
  status: 'completed',
  subject: { reference: `Patient/${patientId}` },
  authored: new Date().toISOString(),
  item: [{ linkId: 'changes', item: yes.map((linkId) => ({ linkId, answer: [{ valueBoolean: true }] })) }],
});

const subscription = (endpoint: string) => ({
  resourceType: 'Subscription',
  meta: { profile: [`${BACKPORT}/StructureDefinition/backport-subscription`] },
  status: 'requested',
  reason: 'Change-in-condition alerts for our aligned members',
  criteria: TOPICS.changeInCondition,
  channel: {
    type: 'rest-hook',
    endpoint,
    payload: 'application/fhir+json',
    _payload: { extension: [{ url: `${BACKPORT}/StructureDefinition/backport-payload-content`, valueCode: 'id-only' }] },
    extension: [{ url: `${BACKPORT}/StructureDefinition/backport-timeout`, valueUnsignedInt: 20 }],
  },
});

beforeAll(async () => {
  mkdirSync(tmp, { recursive: true });
  hub = await startNotificationHub({ tmp, prefix, env: { EXCHANGE_ATTEMPTS: '3' } });
  sma = await hub.token('sma-admin', 'system/*.cruds');
  mco = await hub.token('bluecare-care-mgmt', 'system/QuestionnaireResponse.cruds system/CareTeam.cruds system/Patient.rs');
  aco = await hub.token('sunrise-ehr', 'system/Subscription.cruds system/QuestionnaireResponse.rs');
  otherAco = await hub.token('riverside-ehr', 'system/Subscription.cruds');
  const patient = async (gp?: string) =>
    (
      await http(
        'POST',
        `${hub.gw.fhir}/Patient`,
        { resourceType: 'Patient', name: [{ family: 'Watch' }], ...(gp ? { generalPractitioner: [{ reference: `Organization/${gp}` }] } : {}) },
        as(sma),
      )
    ).body.id as string;
  aligned = await patient('aco-sunrise');
  unrelated = await patient();
  for (const id of [aligned, unrelated]) {
    const c = await http(
      'POST',
      `${hub.gw.fhir}/Coverage`,
      { resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${id}` }, payor: [{ reference: 'Organization/mco-bluecare' }] },
      as(sma),
    );
    expect(c.status).toBe(201);
  }
  const rn = (await http('POST', `${hub.gw.fhir}/Practitioner`, { resourceType: 'Practitioner', name: [{ family: 'Nurse' }] }, as(sma))).body.id;
  // The MCO names the points of contact through the normal API.
  const team = await http(
    'POST',
    `${hub.gw.fhir}/CareTeam`,
    {
      resourceType: 'CareTeam',
      status: 'active',
      subject: { reference: `Patient/${aligned}` },
      participant: [{ role: [{ coding: [{ system: CARE_COORDINATION_ROLE_SYSTEM, code: 'aco-rn-care-coordinator' }] }], member: { reference: `Practitioner/${rn}` } }],
    },
    as(mco),
  );
  expect(team.status).toBe(201);
});

afterAll(async () => {
  await hub?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('change-in-condition notifications (Subscriptions R4 Backport, rest-hook)', () => {
  let subId: string;

  it('refuses a Subscription to an endpoint not registered for the organization: 422, nothing stored', async () => {
    const r = await http('POST', `${hub.gw.fhir}/Subscription`, subscription('http://127.0.0.1:9/somewhere-else'), as(aco));
    expect(r.status).toBe(422);
    expect(r.body.issue[0].expression).toEqual(['Subscription.channel.endpoint']);
    const rows = await hub.gw.gateway.db.query(`SELECT 1 FROM resource WHERE resource_type = 'Subscription'`);
    expect(rows.rows).toHaveLength(0);
    // Another organization's registered endpoint is just as foreign.
    expect((await http('POST', `${hub.gw.fhir}/Subscription`, subscription(hub.receiver.endpoint), as(otherAco))).status).toBe(422);
  });

  it('creates the Subscription (requested), sends the handshake with a SMART token, then makes it active', async () => {
    const r = await http('POST', `${hub.gw.fhir}/Subscription`, subscription(hub.receiver.endpoint), as(aco));
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('requested');
    subId = r.body.id;
    const handshake = await waitFor('handshake', async () => (await hub.receiver.received()).find((n) => typeOf(n) === 'handshake'));
    expect(handshake.authorized).toBe(true);
    expect(handshake.contentType).toBe('application/fhir+json');
    expect(handshake.body).toMatchObject({ resourceType: 'Bundle', type: 'history', meta: { profile: [`${BACKPORT}/StructureDefinition/backport-subscription-notification-r4`] } });
    const status = handshake.body.entry[0].resource;
    expect(status.resourceType).toBe('Parameters');
    expect(param(status, 'subscription').valueReference.reference).toBe(`${hub.gw.fhir}/Subscription/${subId}`);
    expect(param(status, 'topic').valueCanonical).toBe(TOPICS.changeInCondition);
    expect(param(status, 'status').valueCode).toBe('requested');
    expect(param(status, 'events-since-subscription-start').valueString).toBe('0');
    expect(handshake.body.entry).toHaveLength(1);
    const active = await waitFor('active', async () => {
      const s = await http('GET', `${hub.gw.fhir}/Subscription/${subId}`, undefined, as(aco));
      return s.body.status === 'active' && s.body;
    });
    expect(active.criteria).toBe(TOPICS.changeInCondition);
  });

  it('shows a Subscription to its owner only', async () => {
    expect((await http('GET', `${hub.gw.fhir}/Subscription/${subId}`, undefined, as(otherAco))).status).toBe(404);
    expect((await http('GET', `${hub.gw.fhir}/Subscription/${subId}/$status`, undefined, as(otherAco))).status).toBe(404);
    const search = await http('GET', `${hub.gw.fhir}/Subscription`, undefined, as(otherAco));
    expect(search.body.entry ?? []).toEqual([]);
    const mine = await http('GET', `${hub.gw.fhir}/Subscription`, undefined, as(aco));
    expect(mine.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([subId]);
    // Nor can anyone else change or delete it.
    const current = mine.body.entry[0].resource;
    const hijack = { ...current, channel: { ...current.channel, endpoint: 'http://127.0.0.1:9/riverside-notifications' } };
    expect((await http('PUT', `${hub.gw.fhir}/Subscription/${subId}`, hijack, as(otherAco))).status).toBe(404);
    await http('DELETE', `${hub.gw.fhir}/Subscription/${subId}`, undefined, as(otherAco));
    const after = await http('GET', `${hub.gw.fhir}/Subscription/${subId}`, undefined, as(aco));
    expect([after.status, after.body.meta.versionId, after.body.channel.endpoint]).toEqual([200, current.meta.versionId, hub.receiver.endpoint]);
  });

  it('notifies a report about an aligned member as an id-only event notification, numbered 1', async () => {
    const posted = await http('POST', `${hub.gw.fhir}/QuestionnaireResponse`, report(aligned, ['fall', 'tired-confused-drowsy']), as(mco));
    expect(posted.status).toBe(201);
    const n = await waitFor('event notification', async () => (await hub.receiver.received()).find((x) => typeOf(x) === 'event-notification'));
    writeFileSync(join(process.cwd(), 'tmp', 'last-notification-bundle.json'), JSON.stringify(n.body, null, 2));
    expect(n.authorized).toBe(true);
    const status = n.body.entry[0].resource;
    expect(param(status, 'status').valueCode).toBe('active');
    expect(param(status, 'topic').valueCanonical).toBe(TOPICS.changeInCondition);
    expect(param(status, 'events-since-subscription-start').valueString).toBe('1');
    const [event] = events(n);
    const part = (name: string) => event.part.find((p: { name: string }) => p.name === name);
    expect(part('event-number').valueString).toBe('1');
    expect(Date.parse(part('timestamp').valueInstant)).not.toBeNaN();
    const focusUrl = `${hub.gw.fhir}/QuestionnaireResponse/${posted.body.id}`;
    expect(part('focus').valueReference.reference).toBe(focusUrl);
    // id-only: the focus entry carries its URL, request and response, never the resource.
    expect(n.body.entry).toHaveLength(2);
    expect(n.body.entry[1]).toEqual({ fullUrl: focusUrl, request: { method: 'POST', url: 'QuestionnaireResponse' }, response: { status: '201' } });
    expect(JSON.stringify(n.body)).not.toContain('Watch');
    // The disclosure is audited like any exchange delivery.
    const audits = await hub.gw.gateway.db.query(`SELECT 1 FROM audit_event WHERE recipient = 'aco-sunrise'`);
    expect(audits.rows.length).toBeGreaterThan(0);
  });

  it('does not notify a report about a person the ACO has no relationship with, not even by id', async () => {
    const hidden = await http('POST', `${hub.gw.fhir}/QuestionnaireResponse`, report(unrelated, ['pain']), as(mco));
    expect(hidden.status).toBe(201);
    const next = await http('POST', `${hub.gw.fhir}/QuestionnaireResponse`, report(aligned, ['ate-drank-less']), as(mco));
    const second = await waitFor('second event', async () =>
      (await hub.receiver.received()).find((x) => typeOf(x) === 'event-notification' && events(x)[0].part[0].valueString === '2'),
    );
    expect(events(second)[0].part.find((p: { name: string }) => p.name === 'focus').valueReference.reference).toBe(`${hub.gw.fhir}/QuestionnaireResponse/${next.body.id}`);
    const all = JSON.stringify(await hub.receiver.received());
    expect(all).not.toContain(hidden.body.id);
    expect(all).not.toContain(unrelated);
    const rows = await notificationStore.list(hub.gw.gateway.db, subId);
    expect(rows.filter((r) => r.focus?.id === hidden.body.id)).toEqual([]);
    expect(rows.map((r) => [r.kind, r.eventNumber ?? null, r.state])).toEqual([
      ['handshake', null, 'delivered'],
      ['event-notification', 1, 'delivered'],
      ['event-notification', 2, 'delivered'],
    ]);
  });

  it('answers $status with the events since the subscription started', async () => {
    const r = await http('GET', `${hub.gw.fhir}/Subscription/${subId}/$status`, undefined, as(aco));
    expect(r.status).toBe(200);
    expect(r.body.type).toBe('searchset');
    const status = r.body.entry[0].resource;
    expect(param(status, 'type').valueCode).toBe('query-status');
    expect(param(status, 'status').valueCode).toBe('active');
    expect(param(status, 'events-since-subscription-start').valueString).toBe('2');
    const all = await http('GET', `${hub.gw.fhir}/Subscription/$status`, undefined, as(aco));
    expect(all.body.total).toBe(1);
  });

  it('withholds a notification the person\'s Consent denies to the ACO: not sent, audited, the number is a gap', async () => {
    const optedOut = (
      await http('POST', `${hub.gw.fhir}/Patient`, { resourceType: 'Patient', name: [{ family: 'Private' }], generalPractitioner: [{ reference: 'Organization/aco-sunrise' }] }, as(sma))
    ).body.id;
    await http('POST', `${hub.gw.fhir}/Coverage`, { resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${optedOut}` }, payor: [{ reference: 'Organization/mco-bluecare' }] }, as(sma));
    const consent = await http(
      'POST',
      `${hub.gw.fhir}/Consent`,
      {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${optedOut}` },
        dateTime: '2027-01-01T00:00:00Z',
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
        provision: {
          type: 'deny',
          actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/aco-sunrise' } }],
        },
      },
      as(sma),
    );
    expect(consent.status).toBe(201);
    const denied = await http('POST', `${hub.gw.fhir}/QuestionnaireResponse`, report(optedOut, ['fall']), as(mco));
    expect(denied.status).toBe(201);
    const withheld = await waitFor('withheld', async () => (await notificationStore.list(hub.gw.gateway.db, subId)).find((r) => r.focus?.id === denied.body.id && r.state === 'withheld'));
    expect(withheld.eventNumber).toBe(3);
    const next = await http('POST', `${hub.gw.fhir}/QuestionnaireResponse`, report(aligned, ['pain']), as(mco));
    await waitFor('event 4', async () => (await hub.receiver.received()).find((x) => typeOf(x) === 'event-notification' && events(x)[0].part[0].valueString === '4'));
    const all = JSON.stringify(await hub.receiver.received());
    expect(all).not.toContain(denied.body.id);
    expect(all).toContain(next.body.id);
    // The decision is audited (the AuditEvent names people only for what it disclosed).
    const audits = await hub.gw.gateway.db.query<{ disclosed: string; withheld: number }>(`SELECT disclosed, withheld FROM audit_event WHERE recipient = 'aco-sunrise'`);
    expect(audits.rows).toContainEqual({ disclosed: '', withheld: 1 });
  });

  it('notifies fall-risk-elevated for the filtered person when an at-risk-for-falls Condition is recorded', async () => {
    const sub = subscription(hub.receiver.endpoint) as any;
    sub.criteria = TOPICS.fallRiskElevated;
    sub._criteria = { extension: [{ url: `${BACKPORT}/StructureDefinition/backport-filter-criteria`, valueString: `Condition?patient=Patient/${aligned}` }] };
    const created = await http('POST', `${hub.gw.fhir}/Subscription`, sub, as(aco));
    expect(created.status).toBe(201);
    await waitFor('active', async () => (await http('GET', `${hub.gw.fhir}/Subscription/${created.body.id}`, undefined, as(aco))).body.status === 'active');
    const condition = (patientId: string) => ({
      resourceType: 'Condition',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '129839007', display: 'At increased risk for falls' }] },
      subject: { reference: `Patient/${patientId}` },
    });
    const other = await http('POST', `${hub.gw.fhir}/Condition`, condition(unrelated), as(sma)); // outside the filter
    const mine = await http('POST', `${hub.gw.fhir}/Condition`, condition(aligned), as(sma));
    expect([other.status, mine.status]).toEqual([201, 201]);
    const ref = `${hub.gw.fhir}/Subscription/${created.body.id}`;
    const n = await waitFor('fall-risk event', async () =>
      (await hub.receiver.received()).find((x) => typeOf(x) === 'event-notification' && param(x.body.entry[0].resource, 'subscription').valueReference.reference === ref),
    );
    expect(param(n.body.entry[0].resource, 'topic').valueCanonical).toBe(TOPICS.fallRiskElevated);
    expect(events(n)[0].part.find((p: { name: string }) => p.name === 'focus').valueReference.reference).toBe(`${hub.gw.fhir}/Condition/${mine.body.id}`);
    expect(events(n)[0].part[0].valueString).toBe('1');
    expect((await notificationStore.list(hub.gw.gateway.db, created.body.id)).filter((r) => r.kind === 'event-notification')).toHaveLength(1);
  });

  it('sends heartbeats on the period, and nothing once the owner turns the Subscription off', async () => {
    const withHeartbeat = subscription(hub.receiver.endpoint);
    withHeartbeat.channel.extension.push({ url: `${BACKPORT}/StructureDefinition/backport-heartbeat-period`, valueUnsignedInt: 1 });
    const r = await http('POST', `${hub.gw.fhir}/Subscription`, withHeartbeat, as(aco));
    expect(r.status).toBe(201);
    const ref = `${hub.gw.fhir}/Subscription/${r.body.id}`;
    const ofIt = async () => (await hub.receiver.received()).filter((n) => param(n.body.entry[0].resource, 'subscription').valueReference.reference === ref);
    const beats = await waitFor('two heartbeats', async () => {
      const hb = (await ofIt()).filter((n) => typeOf(n) === 'heartbeat');
      return hb.length >= 2 && hb;
    });
    expect(param(beats[0].body.entry[0].resource, 'status').valueCode).toBe('active');
    expect(beats[0].body.entry).toHaveLength(1);
    const current = (await http('GET', `${hub.gw.fhir}/Subscription/${r.body.id}`, undefined, as(aco))).body;
    expect((await http('PUT', `${hub.gw.fhir}/Subscription/${r.body.id}`, { ...current, status: 'off' }, as(aco))).status).toBe(200);
    await new Promise((res) => setTimeout(res, 500)); // a heartbeat already queued may still arrive
    const before = (await ofIt()).length;
    await new Promise((res) => setTimeout(res, 2500));
    expect((await ofIt()).length).toBe(before);
    // Only the gateway makes a Subscription active.
    expect((await http('PUT', `${hub.gw.fhir}/Subscription/${r.body.id}`, { ...current, status: 'active' }, as(aco))).status).toBe(422);
  });

  it('makes a Subscription whose handshake cannot be delivered error', async () => {
    // aco-riverside's registered endpoint does not answer (port 9, connection refused).
    const r = await http('POST', `${hub.gw.fhir}/Subscription`, subscription('http://127.0.0.1:9/riverside-notifications'), as(otherAco));
    expect(r.status).toBe(201);
    const failed = await waitFor('error status', async () => {
      const s = await http('GET', `${hub.gw.fhir}/Subscription/${r.body.id}`, undefined, as(otherAco));
      return s.body.status === 'error' && s.body;
    });
    expect(failed.error).toMatch(/handshake failed/);
    const rows = await notificationStore.list(hub.gw.gateway.db, r.body.id);
    expect(rows.map((x) => [x.kind, x.state])).toEqual([['handshake', 'dead']]);
  });

  it('advertises the topics in the CapabilityStatement', async () => {
    const cs = (await http('GET', `${hub.gw.fhir}/metadata`)).body;
    const sub = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Subscription');
    const topics = sub.extension.filter((e: { url: string }) => e.url === `${BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical`).map((e: { valueCanonical: string }) => e.valueCanonical);
    expect(topics.sort()).toEqual(Object.values(TOPICS).sort());
    expect(sub.operation.map((o: { name: string }) => o.name)).toContain('status');
  });
});
