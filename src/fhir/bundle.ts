// Bundle transaction and batch (R4 http.html#transaction). A transaction runs in one database
// transaction: every entry or none. Entries are processed DELETE, POST, PUT, GET (the order
// the specification gives); `urn:uuid:` fullUrls and conditional references are resolved to
// real ids before anything is written.
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { assertAllowed } from './access.js';
import { isR4ResourceType } from './definitions.js';
import { FhirError, outcomes } from './outcomes.js';
import type { FhirRequest, FhirResponse, FhirRouter } from './router.js';
import { criteriaKey } from './search/criteria-key.js';
import type { Repository } from './store/repository.js';

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface Planned {
  index: number;
  entry: BundleEntry;
  method: string;
  url: string;
  /** For POST: the id assigned up front, or the existing match of If-None-Exist. */
  id?: string;
  existing?: boolean;
}

export async function processBundle(router: FhirRouter, req: FhirRequest, repo: Repository): Promise<FhirResponse> {
  const bundle = req.body as Bundle | undefined;
  if (!bundle || bundle.resourceType !== 'Bundle') throw outcomes.badRequest('POST to the base needs a Bundle', ['resourceType']);
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') {
    throw outcomes.badRequest(`Bundle.type must be transaction or batch, got "${String(bundle.type)}"`, ['Bundle.type']);
  }
  const entries = bundle.entry ?? [];
  if (!Array.isArray(entries)) throw outcomes.badRequest('Bundle.entry must be an array', ['Bundle.entry']);
  const planned = entries.map((entry, index) => plan(entry, index));
  return bundle.type === 'batch' ? batch(router, req, repo, planned) : transaction(router, req, repo, planned);
}

function plan(entry: BundleEntry, index: number): Planned {
  const method = entry?.request?.method;
  const url = entry?.request?.url;
  if (!method || !ORDER.hasOwnProperty(method) || method === 'PATCH' || method === 'HEAD') {
    throw atEntry(index, outcomes.badRequest(`request.method must be GET, POST, PUT or DELETE`));
  }
  if (!url || typeof url !== 'string') throw atEntry(index, outcomes.badRequest('request.url is required'));
  if ((method === 'POST' || method === 'PUT') && (!entry.resource || typeof entry.resource !== 'object')) {
    throw atEntry(index, outcomes.badRequest(`${method} entry needs a resource`));
  }
  return { index, entry, method, url };
}

/** Re-labels an entry's error so the caller knows which entry failed. */
function atEntry(index: number, err: unknown): FhirError {
  if (!(err instanceof FhirError)) return outcomes.internal();
  const issues = (err.outcome.issue ?? []).map((i) => ({
    ...i,
    diagnostics: `Bundle.entry[${index}]: ${i.diagnostics ?? i.details?.text ?? ''}`,
    expression: [`Bundle.entry[${index}]`, ...(i.expression ?? [])],
  }));
  return new FhirError(err.status, { resourceType: 'OperationOutcome', issue: issues }, err.headers);
}

function subRequest(req: FhirRequest, method: string, url: string, body: unknown, entry: BundleEntry): FhirRequest {
  const [path, query = ''] = url.replace(/^\//, '').split('?', 2);
  const headers: Record<string, string | undefined> = { prefer: req.headers.prefer };
  if (entry.request?.ifMatch) headers['if-match'] = entry.request.ifMatch;
  if (entry.request?.ifNoneExist) headers['if-none-exist'] = entry.request.ifNoneExist;
  if (entry.request?.ifNoneMatch) headers['if-none-match'] = entry.request.ifNoneMatch;
  return { method, path: `/${path}`, query: [...new URLSearchParams(query)], headers, body, access: req.access, recipient: req.recipient };
}

function responseEntry(res: FhirResponse, fullUrl?: string): BundleEntry {
  const entry: BundleEntry = { response: { status: String(res.status) } };
  if (fullUrl) entry.fullUrl = fullUrl;
  const h = res.headers ?? {};
  if (h.Location) entry.response!.location = h.Location;
  if (h.ETag) entry.response!.etag = h.ETag;
  if (h['Last-Modified']) entry.response!.lastModified = new Date(h['Last-Modified']).toISOString();
  if (res.body !== undefined) {
    const body = typeof res.body === 'string' ? (JSON.parse(res.body) as Resource) : res.body;
    if (body.resourceType === 'OperationOutcome') entry.response!.outcome = body;
    else entry.resource = body;
  }
  return entry;
}

async function batch(router: FhirRouter, req: FhirRequest, repo: Repository, planned: Planned[]): Promise<FhirResponse> {
  const out: BundleEntry[] = new Array(planned.length);
  for (const p of [...planned].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index)) {
    try {
      if (p.url.includes('urn:uuid:') || JSON.stringify(p.entry.resource ?? {}).includes('"urn:uuid:')) {
        throw outcomes.badRequest('A batch entry cannot refer to another entry (use a transaction)');
      }
      const res = await router.handle(subRequest(req, p.method, p.url, p.entry.resource, p.entry), repo);
      out[p.index] = responseEntry(res);
    } catch (err) {
      const e = err instanceof FhirError ? err : outcomes.internal();
      out[p.index] = { response: { status: String(e.status), outcome: e.outcome } };
    }
  }
  return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: out } };
}

async function transaction(router: FhirRouter, req: FhirRequest, repo: Repository, planned: Planned[]): Promise<FhirResponse> {
  for (const p of planned) {
    if (p.method === 'POST' && (p.url.split('?')[0].split('/').filter(Boolean).length !== 1 || !isR4ResourceType(p.url.split('?')[0].replace(/\//g, '')))) {
      throw atEntry(p.index, outcomes.badRequest(`POST entries must target a resource type, got "${p.url}"`));
    }
  }
  return repo.withTransaction(async (tx) => {
    // 0. Serialise with every concurrent conditional write on the same criteria (one Patient
    //    sent twice at once must be created once), all keys at once, before any match.
    await tx.lockCriteria(planned.flatMap((p) => conditionalKey(router, req, p) ?? []));
    const refs = new Map<string, string>(); // fullUrl → Type/id
    // 1. Decide every id before writing anything, so references between entries resolve.
    for (const p of planned) {
      try {
        await assignId(router, req, tx, p, refs);
      } catch (err) {
        throw atEntry(p.index, err);
      }
    }
    // 2. Rewrite urn:uuid and conditional references everywhere.
    for (const p of planned) {
      if (!p.entry.resource) continue;
      try {
        p.entry = { ...p.entry, resource: (await rewrite(router, req, tx, p.entry.resource, refs)) as Resource };
      } catch (err) {
        throw atEntry(p.index, err);
      }
    }
    // 3. Validate every resource before writing any, so a bad entry costs no writes.
    for (const p of planned) {
      if ((p.method === 'POST' || p.method === 'PUT') && p.entry.resource) {
        try {
          router.validator.validate(p.entry.resource);
        } catch (err) {
          throw atEntry(p.index, err);
        }
      }
    }
    // 4. Execute in the specified order.
    const out: BundleEntry[] = new Array(planned.length);
    for (const p of [...planned].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index)) {
      try {
        out[p.index] = await execute(router, req, tx, p);
      } catch (err) {
        throw atEntry(p.index, err);
      }
    }
    const body: Bundle = { resourceType: 'Bundle', type: 'transaction-response', entry: out };
    return { status: 200, body };
  });
}

/** The criteria key of a conditional create or update entry; errors are left to assignId. */
function conditionalKey(router: FhirRouter, req: FhirRequest, p: Planned): string | undefined {
  const [path, query] = p.url.split('?', 2);
  const type = path.replace(/\//g, '');
  const criteria = p.method === 'POST' ? p.entry.request?.ifNoneExist?.replace(/^.*\?/, '') : p.method === 'PUT' ? query : undefined;
  if (!criteria || !isR4ResourceType(type)) return undefined;
  try {
    return criteriaKey(router.parseSearch(req, type, [...new URLSearchParams(criteria)]));
  } catch {
    return undefined;
  }
}

async function assignId(router: FhirRouter, req: FhirRequest, tx: Repository, p: Planned, refs: Map<string, string>): Promise<void> {
  const fullUrl = p.entry.fullUrl;
  if (p.method === 'POST') {
    const type = p.url.split('?')[0].replace(/\//g, '');
    const resource = p.entry.resource as Resource;
    if (resource.resourceType !== type) throw outcomes.badRequest(`resourceType "${resource.resourceType}" does not match ${type}`);
    assertAllowed(req.access, type, 'create');
    const cond = p.entry.request?.ifNoneExist;
    if (cond) {
      assertAllowed(req.access, type, 'search');
      router.opts.screen?.(req, 'conditional');
      const ids = await tx.matchIds(router.parseSearch(req, type, [...new URLSearchParams(cond.replace(/^.*\?/, ''))]));
      if (ids.length > 1) throw outcomes.multipleMatches(`If-None-Exist matched ${ids.length} or more ${type} resources`);
      if (ids.length === 1) {
        p.id = ids[0];
        p.existing = true;
      }
    }
    p.id ??= randomUUID();
    if (fullUrl) refs.set(fullUrl, `${type}/${p.id}`);
  } else if (p.method === 'PUT') {
    const [path, query] = p.url.split('?', 2);
    const [type, id] = path.split('/').filter(Boolean);
    if (!isR4ResourceType(type)) throw outcomes.unknownResourceType(type);
    if (id) {
      if (fullUrl) refs.set(fullUrl, `${type}/${id}`);
      return;
    }
    if (!query) throw outcomes.badRequest('PUT entries need Type/id or Type?criteria');
    assertAllowed(req.access, type, 'search');
    router.opts.screen?.(req, 'conditional');
    const ids = await tx.matchIds(router.parseSearch(req, type, [...new URLSearchParams(query)]));
    if (ids.length > 1) throw outcomes.multipleMatches(`Conditional update matched ${ids.length} or more ${type} resources`);
    p.id = ids[0] ?? (p.entry.resource?.id as string | undefined) ?? randomUUID();
    p.url = `${type}/${p.id}`;
    if (fullUrl) refs.set(fullUrl, p.url);
  }
}

/** Replaces every Reference.reference that names an entry's fullUrl or a conditional query. */
async function rewrite(router: FhirRouter, req: FhirRequest, tx: Repository, node: unknown, refs: Map<string, string>): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((n) => rewrite(router, req, tx, n, refs)));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === 'reference' && typeof v === 'string') out[k] = await resolveReference(router, req, tx, v, refs);
    else out[k] = await rewrite(router, req, tx, v, refs);
  }
  return out;
}

async function resolveReference(router: FhirRouter, req: FhirRequest, tx: Repository, ref: string, refs: Map<string, string>): Promise<string> {
  const mapped = refs.get(ref);
  if (mapped) return mapped;
  if (ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) {
    throw outcomes.badRequest(`Reference "${ref}" names no entry of this transaction`);
  }
  const cond = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(ref);
  if (!cond) return ref;
  const [, type, query] = cond;
  if (!isR4ResourceType(type)) throw outcomes.badRequest(`Conditional reference to unknown type ${type}`);
  assertAllowed(req.access, type, 'search');
  router.opts.screen?.(req, 'conditional');
  const ids = await tx.matchIds(router.parseSearch(req, type, [...new URLSearchParams(query)]));
  if (ids.length !== 1) {
    throw outcomes.preconditionFailed(`Conditional reference "${ref}" matched ${ids.length === 0 ? 'no' : 'more than one'} resource`);
  }
  return `${type}/${ids[0]}`;
}

async function execute(router: FhirRouter, req: FhirRequest, tx: Repository, p: Planned): Promise<BundleEntry> {
  if (p.method === 'POST') {
    const type = p.url.split('?')[0].replace(/\//g, '');
    if (p.existing) {
      const existing = await tx.read(type, p.id as string);
      return responseEntry(router.writeResponse(subRequest(req, 'POST', p.url, undefined, p.entry), 200, existing), p.entry.fullUrl);
    }
    const { resource } = await tx.create(p.entry.resource as Resource, { id: p.id });
    return responseEntry(router.writeResponse(subRequest(req, 'POST', p.url, undefined, p.entry), 201, resource), p.entry.fullUrl);
  }
  if (p.method === 'PUT') {
    const [type, id] = p.url.split('?')[0].split('/').filter(Boolean);
    const body = { ...(p.entry.resource as Resource), id };
    const res = await router.handle(subRequest(req, 'PUT', `${type}/${id}`, body, p.entry), tx);
    return responseEntry(res, p.entry.fullUrl);
  }
  const res = await router.handle(subRequest(req, p.method, p.url, undefined, p.entry), tx);
  return responseEntry(res, p.entry.fullUrl);
}

export type { OperationOutcome };
