// The roster-changed topic end to end: an alignment run writes a new version of an ACO's roster
// Group, and the ACO's rest-hook endpoint (a separate process on loopback) gets an id-only event
// notification for it; a run that changes nothing makes no version and sends nothing.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadPartners } from '../../../src/config/partners.js';
import { runAlignment } from '../../../src/alignment/run.js';
import type { SuppliedAlignment } from '../../../src/alignment/rules.js';
import { TOPICS } from '../../../src/notifications/topics.js';
import { http } from '../../helpers/gateway.js';
import { waitFor } from '../exchange/helpers.js';
import { startNotificationHub, type NotificationHub, type ReceivedNotification } from '../../support/notification-hub.js';

const prefix = `test:roster-notify:${randomUUID()}:`;
const tmp = join(process.cwd(), 'tmp', `roster-notify-${randomUUID()}`);
let hub: NotificationHub;

const as = (t: string) => ({ authorization: `Bearer ${t}` });
const statusOf = (n: ReceivedNotification) => n.body.entry[0].resource;
const param = (p: any, name: string) => p.parameter.find((x: { name: string }) => x.name === name);
const typeOf = (n: ReceivedNotification) => param(statusOf(n), 'type').valueCode;


beforeAll(async () => {
  mkdirSync(tmp, { recursive: true });
  hub = await startNotificationHub({ tmp, prefix });
}, 180_000);

afterAll(async () => {
  await hub?.close();
  rmSync(tmp, { recursive: true, force: true });
});

it('an alignment run that changes an ACO roster notifies the ACO (roster-changed, id-only); an unchanged run does not', async () => {
  const sma = await hub.token('sma-admin', 'system/*.cruds');
  const aco = await hub.token('sunrise-ehr', 'system/Subscription.cruds');
  const sub = await http(
    'POST',
    `${hub.gw.fhir}/Subscription`,
    {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'Roster changes',
      criteria: TOPICS.rosterChanged,
      channel: { type: 'rest-hook', endpoint: hub.receiver.endpoint, payload: 'application/fhir+json' },
    },
    as(aco),
  );
  expect(sub.status).toBe(201);
  await waitFor('active', async () => (await http('GET', `${hub.gw.fhir}/Subscription/${sub.body.id}`, undefined, as(aco))).body.status === 'active');

  const patient = (await http('POST', `${hub.gw.fhir}/Patient`, { resourceType: 'Patient', name: [{ family: 'Roster' }] }, as(sma))).body.id as string;
  const supplied: SuppliedAlignment[] = [{ patientId: patient, acoId: 'aco-sunrise', pathway: 'claims', start: '2027-01-01', source: 'test' }];
  const directory = loadPartners(join(tmp, 'partners.json'));
  const run = () => runAlignment({ db: hub.gw.gateway.db, repo: hub.gw.gateway.repo, directory, period: '2027', supplied });

  expect((await run()).rosters.find((r) => r.acoId === 'aco-sunrise')).toMatchObject({ written: true, members: 1 });
  const n = await waitFor('roster-changed event', async () => (await hub.receiver.received()).find((x) => typeOf(x) === 'event-notification'));
  expect(n.authorized).toBe(true);
  expect(param(statusOf(n), 'topic').valueCanonical).toBe(TOPICS.rosterChanged);
  const focus = param(statusOf(n), 'notification-event').part.find((p: { name: string }) => p.name === 'focus').valueReference.reference;
  expect(focus).toBe(`${hub.gw.fhir}/Group/alignment-aco-sunrise-2027`);
  expect(n.body.entry[1]).toEqual({ fullUrl: focus, request: { method: 'POST', url: 'Group' }, response: { status: '201' } });

  // The same data again: no new roster version, so nothing more is sent.
  const before = (await hub.receiver.received()).length;
  expect((await run()).rosters.find((r) => r.acoId === 'aco-sunrise')).toMatchObject({ written: false });
  await new Promise((r) => setTimeout(r, 1500));
  expect((await hub.receiver.received()).filter((x) => typeOf(x) === 'event-notification')).toHaveLength(1);
  expect((await hub.receiver.received()).length).toBe(before);
}, 120_000);
