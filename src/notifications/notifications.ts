// Subscription notifications, assembled for the API process (gateway.ts): the $status routes,
// the owner-only rule for reading Subscriptions, and what the CapabilityStatement says about
// them. The write hook (notification-hook.ts) is installed by the write path; the worker
// (notification-worker.ts) by src/cli/worker.ts.
import express, { type Response, type Router } from 'express';
import type { Extension, Resource } from '@medplum/fhirtypes';
import type { AccessCheck } from '../fhir/access.js';
import { outcomes } from '../fhir/outcomes.js';
import { send } from '../fhir/routes.js';
import type { Database } from '../fhir/store/database.js';
import { statusBundle, type StatusInput } from './notification-bundle.js';
import { notificationStore, type SubscriptionState } from './notification-store.js';
import { BACKPORT } from './subscription-request.js';
import { TOPICS } from './topics.js';

export const STATUS_OPERATION = { name: 'status', definition: `${BACKPORT}/OperationDefinition/backport-subscription-status` };
export const SUBSCRIPTION_SERVER_R4 = `${BACKPORT}/CapabilityStatement/backport-subscription-server-r4`;

/** CapabilityStatement.rest.resource extensions of Subscription: the supported topics. */
export function topicCapabilityExtensions(): Extension[] {
  return Object.values(TOPICS).map((url) => ({ url: `${BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical`, valueCanonical: url }));
}

function statusInput(fhirBase: string, s: SubscriptionState): StatusInput {
  return {
    fhirBase,
    subscriptionId: s.id,
    topic: s.topic,
    status: s.status,
    type: 'query-status',
    eventsSinceSubscriptionStart: s.events,
    payload: s.payload,
    ...(s.status === 'error' && s.error ? { error: s.error } : {}),
  };
}

export interface Notifications {
  /** GET /fhir/Subscription/$status and /fhir/Subscription/{id}/$status. */
  routes: Router;
  /** Drops Subscriptions the recipient does not own from what a read path discloses. */
  ownedOnly(recipientOrganization: string, resources: Resource[]): Promise<Resource[]>;
}

export function createNotifications(opts: {
  db: Database;
  fhirBase: string;
  accessFor: (res: Response) => AccessCheck;
  /** The requesting organization; undefined for trusted callers (auth 'none'), who see every Subscription. */
  ownerFor: (res: Response) => string | undefined;
}): Notifications {
  const { db, fhirBase } = opts;
  const visible = (s: SubscriptionState | undefined, owner: string | undefined): s is SubscriptionState =>
    !!s && s.status !== 'deleted' && (owner === undefined || s.owner === owner);
  const routes = express.Router();
  routes.get('/fhir/Subscription/:id/$status', async (req, res, next) => {
    try {
      if (!opts.accessFor(res).allows('Subscription', 'read')) throw outcomes.forbidden('The granted scopes do not allow read on Subscription');
      const s = await notificationStore.get(db, req.params.id);
      // Someone else's subscription answers like a missing one.
      if (!visible(s, opts.ownerFor(res))) throw outcomes.notFound(`Subscription/${req.params.id}`);
      send(res, { status: 200, body: statusBundle([statusInput(fhirBase, s)]) });
    } catch (err) {
      next(err);
    }
  });
  routes.get('/fhir/Subscription/$status', async (req, res, next) => {
    try {
      if (!opts.accessFor(res).allows('Subscription', 'read')) throw outcomes.forbidden('The granted scopes do not allow read on Subscription');
      const owner = opts.ownerFor(res);
      const raw = req.query.id;
      const ids = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((v) => String(v).split(',')).filter(Boolean);
      let subs: SubscriptionState[];
      if (ids.length) subs = (await Promise.all(ids.map((id) => notificationStore.get(db, id)))).filter((s): s is SubscriptionState => visible(s, owner));
      else if (owner) subs = await notificationStore.ownedBy(db, owner);
      else throw outcomes.badRequest('Name the subscriptions with id=');
      send(res, { status: 200, body: statusBundle(subs.map((s) => statusInput(fhirBase, s))) });
    } catch (err) {
      next(err);
    }
  });
  return {
    routes,
    async ownedOnly(recipientOrganization, resources) {
      const ids = resources.filter((r) => r.resourceType === 'Subscription' && r.id).map((r) => r.id as string);
      if (!ids.length) return resources;
      const owners = await notificationStore.owners(db, ids);
      return resources.filter((r) => r.resourceType !== 'Subscription' || owners.get(r.id as string) === recipientOrganization);
    },
  };
}
