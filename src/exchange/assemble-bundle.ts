// At send time: read the CURRENT version of every resource a delivery names (plus the Patient
// it is about), pass them through the consent filter for the recipient and purpose, and build
// the transaction Bundle. Entries are conditional updates on the resources' stable business
// identifiers (R4 http.html#cond-update: `PUT Type?identifier=system|value`), so a retried or
// replayed delivery updates what it created before instead of creating a copy; references
// between entries use urn:uuid fullUrls the receiver resolves (R4 http.html#trules).
import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Identifier, Resource } from '@medplum/fhirtypes';
import { filterForRecipient, type FilterResult, type Recipient } from '../consent/filter.js';
import type { Sql } from '../fhir/store/database.js';
import type { DeliveryItem, DeliveryRow } from './outbox.js';
import { sourceRecordOf } from './data-classes.js';

export interface AssembledBundle {
  bundle: Bundle;
  /** Type/id → version sent, for the after-send check that nothing newer was committed meanwhile. */
  sent: Map<string, string>;
  /** Routed resources (not counting the Patient sent as context) that passed the consent filter. */
  routedPermitted: number;
  withheld: number;
}

type Stored = Resource & { id: string };

/** Current versions of the given resources (deleted and absent ones are left out). */
export async function currentVersions(db: Sql, keys: { resourceType: string; resourceId: string }[]): Promise<Map<string, { versionId: string; resource: Stored }>> {
  const out = new Map<string, { versionId: string; resource: Stored }>();
  if (!keys.length) return out;
  const r = await db.query<{ resource_type: string; id: string; version_id: string; content: string }>(
    `SELECT resource_type, id, version_id::text AS version_id, content::text AS content FROM resource
     WHERE (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND NOT deleted`,
    [keys.map((k) => k.resourceType), keys.map((k) => k.resourceId)],
  );
  for (const row of r.rows) out.set(`${row.resource_type}/${row.id}`, { versionId: row.version_id, resource: JSON.parse(row.content) as Stored });
  return out;
}

/** A stable identifier to match on at the receiver: the source-record one, else the first full one. */
export function matchIdentifier(resource: Resource): Identifier | undefined {
  const raw = (resource as { identifier?: Identifier | Identifier[] }).identifier;
  const ids = (Array.isArray(raw) ? raw : raw ? [raw] : []).filter((i) => i.system && i.value);
  const source = sourceRecordOf(resource);
  return (source && ids.find((i) => i.system?.includes('/sid/source/'))) || ids[0];
}

function urnFor(key: string): string {
  const h = createHash('sha1').update(`lead-exchange|${key}`).digest('hex');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function rewriteReferences(node: unknown, urns: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteReferences(n, urns));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    out[k] = k === 'reference' && typeof v === 'string' && urns.has(v) ? urns.get(v) : rewriteReferences(v, urns);
  }
  return out;
}

/** The resource as the receiver should store it: no local id or version metadata. */
function forReceiver(resource: Stored, urns: Map<string, string>): Resource {
  const { id: _id, meta, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...keptMeta } = meta ?? {};
  const body = rewriteReferences(rest, urns) as Resource;
  return Object.keys(keptMeta).length ? ({ ...body, meta: keptMeta } as Resource) : body;
}

/** R4 search.html#escaping: `\`, `|`, `,` and `$` in a token value are escaped with `\`. */
const escapeSearch = (v: string): string => v.replace(/[\\|,$]/g, (c) => `\\${c}`);

function entryFor(resource: Stored, urns: Map<string, string>): BundleEntry {
  const key = `${resource.resourceType}/${resource.id}`;
  const id = matchIdentifier(resource);
  // Without a business identifier, the gateway's own (stable, often deterministic) id is the key.
  const url = id
    ? `${resource.resourceType}?identifier=${encodeURIComponent(`${escapeSearch(id.system!)}|${escapeSearch(id.value!)}`)}`
    : `${resource.resourceType}/${resource.id}`;
  const body = forReceiver(resource, urns);
  return {
    fullUrl: urns.get(key),
    resource: id ? body : ({ ...body, id: resource.id } as Resource),
    request: { method: 'PUT', url },
  };
}

/** The consent seam as the exchange calls it: recipient, purpose, channel 'exchange' (audited). */
export type DisclosureFilter = (recipient: Recipient, resources: Resource[]) => Promise<FilterResult<Resource>>;

export const defaultDisclosureFilter: DisclosureFilter = (recipient, resources) => filterForRecipient(recipient, resources, { channel: 'exchange' });

export async function assembleBundle(
  db: Sql,
  delivery: DeliveryRow,
  items: DeliveryItem[],
  filter: DisclosureFilter = defaultDisclosureFilter,
): Promise<AssembledBundle> {
  const keys = [{ resourceType: 'Patient', resourceId: delivery.patientId }, ...items.filter((i) => i.resourceType !== 'Patient')];
  const current = await currentVersions(db, keys);
  const stored = keys.map((k) => current.get(`${k.resourceType}/${k.resourceId}`)).filter((x) => x !== undefined);
  const { permitted, withheld } = await filter(
    { organizationId: delivery.destination, purposeOfUse: delivery.purposeOfUse },
    stored.map((s) => s.resource),
  );
  const urns = new Map(permitted.map((r) => [`${r.resourceType}/${r.id}`, urnFor(`${r.resourceType}/${r.id}`)]));
  const sent = new Map<string, string>();
  for (const r of permitted) sent.set(`${r.resourceType}/${r.id}`, current.get(`${r.resourceType}/${r.id}`)!.versionId);
  return {
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: permitted.map((r) => entryFor(r as Stored, urns)) },
    sent,
    routedPermitted: permitted.filter((r) => !(r.resourceType === 'Patient' && r.id === delivery.patientId)).length,
    withheld,
  };
}
