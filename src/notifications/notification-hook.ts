// The write hook of the subscription notifications, run in the data's transaction:
//  - a Subscription write (any path: REST, transaction entry) is checked and its server-side
//    state saved; a new or re-requested one gets a handshake notification row;
//  - any other write is matched against the topics (topics.ts); for each active subscription of
//    a matching topic whose owner has a relationship with the person, the next event number and
//    a notification row are written. A person the owner has no relationship with raises no
//    event for it at all (not even an id): deny by default.
// If the data's transaction rolls back, so do the events; if it commits, they are durable
// before anything touches Redis (the exchange's outbox idea).
import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { PartnerDirectory } from '../config/partners.js';
import { relatedPatientIdsSql } from '../consent/relationship.js';
import { currentSource } from '../exchange/write-source.js';
import { outcomes } from '../fhir/outcomes.js';
import type { Sql } from '../fhir/store/database.js';
import type { WriteEvent } from '../fhir/store/repository.js';
import type { WriteHook } from '../care/write-hooks.js';
import { notificationStore } from './notification-store.js';
import { readSubscription } from './subscription-request.js';
import { matchTopics, needsPrevious, type TopicEvent } from './topics.js';

export interface NotificationHookDeps {
  directory: Pick<PartnerDirectory, 'findOrganization'>;
  /** Ceiling for backport-timeout (the exchange's request timeout), seconds. */
  maxTimeoutSeconds?: number;
  now?: () => Date;
}

async function previousVersion(tx: Sql, event: WriteEvent): Promise<Resource | undefined> {
  const prev = Number(event.versionId) - 1;
  if (prev < 1) return undefined;
  const r = await tx.query<{ content: string | null }>(
    'SELECT content::text AS content FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3',
    [event.resourceType, event.id, prev],
  );
  return r.rows[0]?.content ? (JSON.parse(r.rows[0].content) as Resource) : undefined;
}

/** May the subscriber learn that this event happened? The same relationship the consent engine checks. */
async function mayKnow(tx: Sql, deps: NotificationHookDeps, owner: string, e: TopicEvent): Promise<boolean> {
  const org = deps.directory.findOrganization(owner);
  if (!org) return false;
  if (!e.patientId) return org.type === 'SMA' || e.managingOrganization === owner;
  const values: unknown[] = [];
  const bind = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const sub = relatedPatientIdsSql({ organizationId: owner, organizationType: org.type }, bind);
  const r = await tx.query(`SELECT 1 FROM (${sub}) rel WHERE rel.patient_id = ${bind(e.patientId)} LIMIT 1`, values);
  return r.rows.length > 0;
}

async function onSubscriptionWrite(tx: Sql, event: WriteEvent, deps: NotificationHookDeps): Promise<void> {
  const existing = await notificationStore.get(tx, event.id);
  if (event.kind === 'delete') {
    if (existing) await notificationStore.setStatus(tx, event.id, 'deleted');
    return;
  }
  // The owner is the organization whose client writes it: never one named in the body.
  const owner = currentSource();
  const org = owner ? deps.directory.findOrganization(owner) : undefined;
  if (!owner || !org) throw outcomes.forbidden('Subscriptions are created by a partner organization\'s client');
  if (existing && existing.status !== 'deleted' && existing.owner !== owner) throw outcomes.forbidden('Only the organization that created a Subscription may change it');
  const sub = event.resource as Subscription;
  const { settings, issues } = readSubscription(sub, org, { maxTimeoutSeconds: deps.maxTimeoutSeconds ?? 30 });
  if (!settings) throw outcomes.unprocessable(issues);
  const fresh = !existing || existing.status === 'deleted';
  const reject = (msg: string) =>
    outcomes.unprocessable([{ severity: 'error', code: 'business-rule', diagnostics: msg, expression: ['Subscription.status'] }]);
  if (settings.status === 'requested') {
    await notificationStore.saveSubscription(tx, event.id, owner, settings, 'requested');
    await notificationStore.recordControl(tx, { id: event.id, owner, topic: settings.topic }, 'handshake');
    return;
  }
  if (fresh) throw reject('A new Subscription has status "requested"; the gateway makes it active after a successful handshake');
  if (settings.status === 'off') {
    await notificationStore.saveSubscription(tx, event.id, owner, settings, 'off');
    return;
  }
  // active / error: only as the gateway last set it, on the same endpoint.
  if (settings.status !== existing.status || settings.endpoint !== existing.endpoint) {
    throw reject(`Status ${settings.status} is set by the gateway; send "requested" to (re)activate a Subscription or "off" to stop it`);
  }
  await notificationStore.saveSubscription(tx, event.id, owner, settings, existing.status);
}

export function notificationWriteHook(deps: NotificationHookDeps): WriteHook {
  const now = deps.now ?? (() => new Date());
  return async (tx, event) => {
    if (event.resourceType === 'Subscription') return onSubscriptionWrite(tx, event, deps);
    if (event.kind === 'delete' || !event.resource) return;
    const previous = needsPrevious(event) ? await previousVersion(tx, event) : undefined;
    for (const e of matchTopics(event, previous)) {
      for (const sub of await notificationStore.activeFor(tx, e.topic, e.patientId)) {
        if (!(await mayKnow(tx, deps, sub.owner, e))) continue;
        await notificationStore.recordEvent(tx, sub, {
          topic: e.topic,
          focus: { resourceType: event.resourceType, id: event.id, versionId: event.versionId },
          patientId: e.patientId,
          at: now().toISOString(),
        });
      }
    }
  };
}
