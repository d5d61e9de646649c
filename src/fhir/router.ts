// The framework-free FHIR REST core: a FhirRequest in, a FhirResponse out. The express adapter
// (routes.ts) only translates HTTP to and from these shapes, so everything here is testable
// without a server. R4 http.html is the specification followed throughout.
import type { Bundle, BundleEntry, OperationOutcome, Parameters, Resource } from '@medplum/fhirtypes';
import { assertAllowed, type AccessCheck, type Interaction } from './access.js';
import { isR4ResourceType } from './definitions.js';
import { FhirError, allOk, outcome, outcomes } from './outcomes.js';
import { criteriaKey } from './search/criteria-key.js';
import { parseSearchRequest, type SearchRequest } from './search/search-request.js';
import { ID_RE, type Repository } from './store/repository.js';
import { applyElements, applySummary } from './summary.js';
import type { Validator } from './validation/validator.js';
import { processBundle } from './bundle.js';
import type { Recipient } from '../consent/filter.js';

export interface FhirRequest {
  method: string;
  /** Path below the FHIR base, e.g. "/Patient/123/_history/2" or "/" for the base. */
  path: string;
  /** Query pairs in order; repeats allowed. */
  query: [string, string][];
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  body?: unknown;
  access: AccessCheck;
  /** Who receives what this request discloses (from the SMART token); absent for trusted callers. */
  recipient?: Recipient;
}

export interface FhirResponse {
  status: number;
  /** A resource, or stored JSON text sent as it is. */
  body?: Resource | string;
  headers?: Record<string, string>;
}

export interface RouterOptions {
  baseUrl: string; // the FHIR base, e.g. http://host/fhir
  defaultPageSize: number;
  maxPageSize: number;
  capabilityStatement: () => Resource;
  /**
   * The consent filter for every read path (read, vread, history, search, includes): returns
   * the resources that may be disclosed to the request's recipient, possibly redacted. When
   * absent, stored JSON is sent unchanged (no parse / re-serialise).
   */
  disclose?: (req: FhirRequest, resources: Resource[]) => Promise<Resource[]>;
  /**
   * The same filter for stored JSON texts (search pages, reads): per row, the text to send, or
   * undefined when withheld. Used instead of `disclose` where given, so rows the filter passes
   * need not be parsed and re-serialised.
   */
  discloseStored?: (req: FhirRequest, rows: StoredRow[]) => Promise<(string | undefined)[]>;
  /**
   * Runs before a search or history reads anything: throws (e.g. 400/403) for requests whose
   * answer could reveal data the recipient may not see (`_has`, chains, counts).
   */
  screen?: (req: FhirRequest, interaction: 'search' | 'history' | 'conditional', search?: SearchRequest) => void;
}

/** A stored current version as search and read return it. */
export interface StoredRow {
  resourceType: string;
  id: string;
  content: string;
  /** The version's disclosure facts, where the store keeps them (RepositoryOptions.disclosureFacts). */
  facts?: string | null;
}

export class FhirRouter {
  constructor(
    readonly repo: Repository,
    readonly validator: Validator,
    readonly opts: RouterOptions,
  ) {}

  async handle(req: FhirRequest, repo: Repository = this.repo): Promise<FhirResponse> {
    const segs = req.path.split('/').filter(Boolean).map(decodeURIComponent);
    const m = req.method.toUpperCase();
    const [type, id, hist, vid] = segs;

    if (segs.length === 0) {
      if (m === 'POST') return processBundle(this, req, repo);
      throw outcomes.methodNotAllowed(m, '/');
    }
    if (type === 'metadata' && segs.length === 1) {
      if (m !== 'GET') throw outcomes.methodNotAllowed(m, '/metadata');
      return { status: 200, body: this.opts.capabilityStatement() };
    }
    if (!isR4ResourceType(type)) throw outcomes.unknownResourceType(type);

    if (segs.length === 1) {
      if (m === 'GET') return this.search(req, repo, type, req.query);
      if (m === 'POST') return this.create(req, repo, type);
      if (m === 'PUT') return this.conditionalUpdate(req, repo, type);
      if (m === 'DELETE') return this.conditionalDelete(req, repo, type);
      throw outcomes.methodNotAllowed(m, `/${type}`);
    }
    if (segs.length === 2 && id === '_search') {
      if (m !== 'POST') throw outcomes.methodNotAllowed(m, `/${type}/_search`);
      return this.search(req, repo, type, [...req.query, ...formPairs(req.body)]);
    }
    if (segs.length === 2 && id === '$validate') {
      if (m !== 'POST') throw outcomes.methodNotAllowed(m, `/${type}/$validate`);
      return this.validate(req, type);
    }
    if (id.startsWith('$')) throw outcomes.notFound(`Operation ${id}`);
    if (segs.length === 2) {
      if (m === 'GET') return this.read(req, repo, type, id);
      if (m === 'PUT') return this.update(req, repo, type, id);
      if (m === 'DELETE') return this.delete(req, repo, type, id);
      throw outcomes.methodNotAllowed(m, `/${type}/${id}`);
    }
    if (hist === '_history' && segs.length <= 4) {
      if (m !== 'GET') throw outcomes.methodNotAllowed(m, req.path);
      return segs.length === 3 ? this.history(req, repo, type, id) : this.vread(req, repo, type, id, vid);
    }
    throw outcomes.notFound(`Path ${req.path}`);
  }

  // --- read side -----------------------------------------------------------------------

  private async read(req: FhirRequest, repo: Repository, type: string, id: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'read');
    const r = await repo.readText(type, id);
    const headers = versionHeaders(r.versionId, r.lastUpdated);
    let disclosed: Resource | undefined;
    if (this.opts.discloseStored) {
      // Withheld reads as absent — before the ETag check, or a 304 would confirm it exists.
      const [text] = await this.opts.discloseStored(req, [{ resourceType: type, id, content: r.content, facts: r.facts }]);
      if (text === undefined) throw outcomes.notFound(`${type}/${id}`);
      r.content = text;
    } else if (this.opts.disclose) {
      // Withheld reads as absent — before the ETag check, or a 304 would confirm it exists.
      [disclosed] = await this.opts.disclose(req, [JSON.parse(r.content) as Resource]);
      if (!disclosed) throw outcomes.notFound(`${type}/${id}`);
    }
    if (req.headers['if-none-match'] === headers.ETag) return { status: 304, headers };
    const summary = req.query.find(([k]) => k === '_summary')?.[1];
    const elements = req.query.find(([k]) => k === '_elements')?.[1];
    if (summary || elements || disclosed) {
      let res = disclosed ?? (JSON.parse(r.content) as Resource);
      if (elements) res = applyElements(res, elements.split(','));
      else if (summary === 'true' || summary === 'text' || summary === 'data') res = applySummary(res, summary);
      return { status: 200, body: res, headers };
    }
    return { status: 200, body: r.content, headers };
  }

  private async vread(req: FhirRequest, repo: Repository, type: string, id: string, vid: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'vread');
    let res = await repo.vread(type, id, vid);
    if (this.opts.disclose) {
      const [allowed] = await this.opts.disclose(req, [res]);
      if (!allowed) throw outcomes.notFound(`${type}/${id}/_history/${vid}`);
      res = allowed;
    }
    return { status: 200, body: res, headers: versionHeaders(res.meta?.versionId as string, res.meta?.lastUpdated as string) };
  }

  private async history(req: FhirRequest, repo: Repository, type: string, id: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'history');
    this.opts.screen?.(req, 'history');
    const count = Math.min(intQuery(req, '_count') ?? this.opts.defaultPageSize, this.opts.maxPageSize);
    const offset = intQuery(req, '_offset') ?? 0;
    const { versions, total } = await repo.history(type, id, { count, offset });
    const self = `${this.opts.baseUrl}/${type}/${id}/_history`;
    const link = [{ relation: 'self', url: `${self}?_count=${count}&_offset=${offset}` }];
    if (offset + count < total) link.push({ relation: 'next', url: `${self}?_count=${count}&_offset=${offset + count}` });
    if (offset > 0) link.push({ relation: 'previous', url: `${self}?_count=${count}&_offset=${Math.max(0, offset - count)}` });
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      total,
      link,
      entry: versions.map((v) => {
        const entry: BundleEntry = {
          fullUrl: `${this.opts.baseUrl}/${type}/${id}`,
          request: { method: v.deleted ? 'DELETE' : v.versionId === '1' ? 'POST' : 'PUT', url: v.versionId === '1' ? type : `${type}/${id}` },
          response: { status: v.deleted ? '204' : v.versionId === '1' ? '201' : '200', etag: `W/"${v.versionId}"`, lastModified: v.lastUpdated },
        };
        if (v.content) entry.resource = JSON.parse(v.content) as Resource;
        return entry;
      }),
    };
    if (this.opts.disclose) {
      const withResource = (bundle.entry ?? []).filter((e) => e.resource);
      const allowed = new Set(await this.opts.disclose(req, withResource.map((e) => e.resource as Resource)));
      if (withResource.length && !allowed.size) throw outcomes.notFound(`${type}/${id}`);
      for (const e of withResource) {
        if (!allowed.has(e.resource as Resource)) delete e.resource;
      }
    }
    return { status: 200, body: bundle };
  }

  /** True when the current version exists and the consent filter withholds it from this caller. */
  private async withheld(req: FhirRequest, repo: Repository, type: string, id: string): Promise<boolean> {
    if (!this.opts.disclose || !ID_RE.test(id)) return false;
    // Callers cleared for conditional writes (the SMA, the data steward; the hub delivering to a
    // receiver) write over data whatever they may read back.
    try {
      this.opts.screen?.(req, 'conditional');
      return false;
    } catch {
      /* not a steward: check the current version */
    }
    let current: Resource;
    try {
      current = await repo.read(type, id);
    } catch {
      return false; // absent or deleted: the write proceeds as it would anyway
    }
    return (await this.opts.disclose(req, [current])).length === 0;
  }

  parseSearch(req: FhirRequest, type: string, pairs: [string, string][]): SearchRequest {
    return parseSearchRequest(type, pairs, {
      strict: preferHandling(req) === 'strict',
      defaultCount: this.opts.defaultPageSize,
      maxCount: this.opts.maxPageSize,
    });
  }

  private async search(req: FhirRequest, repo: Repository, type: string, pairs: [string, string][]): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'search');
    const sreq = this.parseSearch(req, type, pairs);
    this.opts.screen?.(req, 'search', sreq);
    // Included resources obey the same scopes: an include that can only reach a type outside
    // them is refused; one that may reach several types returns only the permitted ones.
    for (const inc of sreq.include) {
      if (inc.targetType) assertAllowed(req.access, inc.targetType, 'read');
    }
    for (const inc of sreq.revinclude) assertAllowed(req.access, inc.sourceType, 'search');
    let result = await repo.search(sreq);
    if (this.opts.disclose || this.opts.discloseStored) result = await this.discloseSearch(req, result, type);
    return { status: 200, body: this.searchBundle(req, sreq, pairs, result, type) };
  }

  /** Filters matches and includes through the consent seam, keeping stored order. */
  private async discloseSearch(req: FhirRequest, result: Awaited<ReturnType<Repository['search']>>, type: string): Promise<Awaited<ReturnType<Repository['search']>>> {
    if (this.opts.discloseStored) {
      const rows = [...result.matches.map((m) => ({ resourceType: type, id: m.id, content: m.content, facts: m.facts })), ...result.included];
      const texts = await this.opts.discloseStored(req, rows);
      const n = result.matches.length;
      return {
        ...result,
        // The disclosed text may be cut: the stored text's facts no longer describe it.
        matches: result.matches.flatMap((m, i) => (texts[i] === undefined ? [] : [{ id: m.id, content: texts[i] as string }])),
        included: result.included.flatMap((m, i) => (texts[n + i] === undefined ? [] : [{ resourceType: m.resourceType, id: m.id, content: texts[n + i] as string }])),
      };
    }
    const disclose = this.opts.disclose as NonNullable<RouterOptions['disclose']>;
    const stored = new Map<Resource, string>();
    const parse = (content: string): Resource => {
      const r = JSON.parse(content) as Resource;
      stored.set(r, content);
      return r;
    };
    const matches = result.matches.map((m) => parse(m.content));
    const included = result.included.map((m) => parse(m.content));
    const allowed = await disclose(req, [...matches, ...included]);
    const byKey = new Map(allowed.map((r) => [`${r.resourceType}/${r.id}`, r]));
    // A resource the filter passed unchanged (the same object) goes out as stored text.
    const keep = (r: Resource): string | undefined => {
      const a = byKey.get(`${r.resourceType}/${r.id}`);
      return a ? (stored.get(a) ?? JSON.stringify(a)) : undefined;
    };
    return {
      ...result,
      matches: matches.flatMap((r) => {
        const content = keep(r);
        return content ? [{ id: r.id as string, content }] : [];
      }),
      included: included.flatMap((r) => {
        const content = keep(r);
        return content ? [{ resourceType: r.resourceType, id: r.id as string, content }] : [];
      }),
    };
  }

  private searchBundle(
    req: FhirRequest,
    sreq: SearchRequest,
    pairs: [string, string][],
    result: Awaited<ReturnType<Repository['search']>>,
    type: string,
  ): string {
    const base = this.opts.baseUrl;
    const kept = pairs.filter(([k]) => k !== '_offset' && k !== '_count' && !sreq.ignored.includes(k));
    const pageUrl = (offset: number): string => {
      const q = new URLSearchParams([...kept, ['_count', String(sreq.count)], ['_offset', String(offset)]]);
      return `${base}/${type}?${q.toString()}`;
    };
    const links = [{ relation: 'self', url: pageUrl(sreq.offset) }];
    if (result.hasNext) links.push({ relation: 'next', url: pageUrl(sreq.offset + sreq.count) });
    if (sreq.offset > 0) links.push({ relation: 'previous', url: pageUrl(Math.max(0, sreq.offset - sreq.count)) });

    const transform = sreq.elements || (sreq.summary && sreq.summary !== 'false' && sreq.summary !== 'count');
    const resourceText = (content: string): string => {
      if (!transform) return content;
      let r = JSON.parse(content) as Resource;
      if (sreq.elements) r = applyElements(r, sreq.elements);
      else r = applySummary(r, sreq.summary as 'true' | 'text' | 'data');
      return JSON.stringify(r);
    };
    const entries: string[] = result.matches.map(
      (m) => `{"fullUrl":${JSON.stringify(`${base}/${type}/${m.id}`)},"resource":${resourceText(m.content)},"search":{"mode":"match"}}`,
    );
    for (const inc of result.included) {
      if (!req.access.allows(inc.resourceType, 'read')) continue;
      entries.push(`{"fullUrl":${JSON.stringify(`${base}/${inc.resourceType}/${inc.id}`)},"resource":${inc.content},"search":{"mode":"include"}}`);
    }
    if (sreq.ignored.length) {
      const oo = outcome('warning', 'not-supported', `Ignored unknown search parameters: ${sreq.ignored.join(', ')}`, sreq.ignored);
      entries.push(`{"resource":${JSON.stringify(oo)},"search":{"mode":"outcome"}}`);
    }
    const head: Record<string, unknown> = { resourceType: 'Bundle', type: 'searchset' };
    if (result.total !== undefined) head.total = result.total;
    head.link = links;
    const json = JSON.stringify(head);
    return sreq.summary === 'count' ? json : `${json.slice(0, -1)},"entry":[${entries.join(',')}]}`;
  }

  // --- write side ----------------------------------------------------------------------

  private bodyResource(req: FhirRequest, type: string, id?: string): Resource {
    const body = req.body as Resource | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw outcomes.badRequest('Request body must be a FHIR resource');
    if (body.resourceType !== type) {
      throw outcomes.badRequest(`resourceType "${String(body.resourceType)}" does not match the URL (${type})`, ['resourceType']);
    }
    if (id !== undefined && body.id !== id) {
      throw outcomes.badRequest(`Resource id "${String(body.id)}" does not match the URL id "${id}"`, [`${type}.id`]);
    }
    return body;
  }

  private async create(req: FhirRequest, repo: Repository, type: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'create');
    const body = this.bodyResource(req, type);
    const ifNoneExist = req.headers['if-none-exist'];
    if (ifNoneExist) {
      assertAllowed(req.access, type, 'search');
      this.opts.screen?.(req, 'conditional');
      const criteria = this.parseSearch(req, type, [...new URLSearchParams(ifNoneExist.replace(/^.*\?/, ''))]);
      return repo.withTransaction(async (tx) => {
        await tx.lockCriteria([criteriaKey(criteria)]);
        const ids = await tx.matchIds(criteria);
        if (ids.length > 1) throw outcomes.multipleMatches(`If-None-Exist matched ${ids.length} or more ${type} resources`);
        if (ids.length === 1) {
          const existing = await tx.read(type, ids[0]);
          return this.writeResponse(req, 200, existing);
        }
        const { resource } = await tx.create({ ...body, id: undefined });
        return this.writeResponse(req, 201, resource);
      });
    }
    const { resource } = await repo.create({ ...body, id: undefined });
    return this.writeResponse(req, 201, resource);
  }

  private async update(req: FhirRequest, repo: Repository, type: string, id: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'update');
    if (!ID_RE.test(id)) throw outcomes.badRequest(`Invalid id "${id}"`);
    // Never overwrite what the caller may not see (it would also confirm it exists).
    if (await this.withheld(req, repo, type, id)) throw outcomes.notFound(`${type}/${id}`);
    const body = this.bodyResource(req, type, id);
    const ifMatch = parseIfMatch(req.headers['if-match']);
    const r = await repo.update(body, { ifMatch });
    return this.writeResponse(req, r.outcome === 'created' ? 201 : 200, r.resource);
  }

  private async conditionalUpdate(req: FhirRequest, repo: Repository, type: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'update');
    assertAllowed(req.access, type, 'search');
    this.opts.screen?.(req, 'conditional');
    if (!req.query.length) throw outcomes.methodNotAllowed('PUT', `/${type} without search criteria`);
    const body = this.bodyResource(req, type);
    const criteria = this.parseSearch(req, type, req.query);
    return repo.withTransaction(async (tx) => {
      await tx.lockCriteria([criteriaKey(criteria)]);
      const ids = await tx.matchIds(criteria);
      if (ids.length > 1) throw outcomes.multipleMatches(`Conditional update matched ${ids.length} or more ${type} resources`);
      if (ids.length === 1) {
        if (body.id && body.id !== ids[0]) throw outcomes.badRequest(`Resource id "${body.id}" does not match the resource found (${ids[0]})`);
        const r = await tx.update({ ...body, id: ids[0] }, { ifMatch: parseIfMatch(req.headers['if-match']) });
        return this.writeResponse(req, 200, r.resource);
      }
      const r = body.id ? await tx.update(body) : await tx.create(body);
      return this.writeResponse(req, 201, r.resource);
    });
  }

  private async delete(req: FhirRequest, repo: Repository, type: string, id: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'delete');
    // A hidden resource is left alone and answered like an absent one (R4: deleting nothing is 200).
    if (await this.withheld(req, repo, type, id)) return { status: 200, body: allOk(`Deleted ${type}/${id}`), headers: {} };
    const r = await repo.delete(type, id);
    return { status: 200, body: allOk(`Deleted ${type}/${id}`), headers: r.versionId ? { ETag: `W/"${r.versionId}"` } : {} };
  }

  private async conditionalDelete(req: FhirRequest, repo: Repository, type: string): Promise<FhirResponse> {
    assertAllowed(req.access, type, 'delete');
    assertAllowed(req.access, type, 'search');
    this.opts.screen?.(req, 'conditional');
    if (!req.query.length) throw outcomes.methodNotAllowed('DELETE', `/${type} without search criteria`);
    return repo.withTransaction(async (tx) => {
      const ids = await tx.matchIds(this.parseSearch(req, type, req.query));
      if (ids.length > 1) throw outcomes.multipleMatches(`Conditional delete matched ${ids.length} or more ${type} resources`);
      if (ids.length === 1) await tx.delete(type, ids[0]);
      return { status: 200, body: allOk(ids.length ? `Deleted ${type}/${ids[0]}` : 'No match: nothing deleted') };
    });
  }

  private validate(req: FhirRequest, type: string): FhirResponse {
    assertAllowed(req.access, type, 'read');
    let body = req.body as Resource | undefined;
    if (body?.resourceType === 'Parameters') {
      body = (body as Parameters).parameter?.find((p) => p.name === 'resource')?.resource;
    }
    if (!body || typeof body !== 'object') throw outcomes.badRequest('$validate needs a resource in the body');
    if (body.resourceType !== type) {
      throw outcomes.badRequest(`resourceType "${String(body.resourceType)}" does not match the URL (${type})`, ['resourceType']);
    }
    const issues = this.validator.issues(body);
    const oo: OperationOutcome = issues.length
      ? { resourceType: 'OperationOutcome', issue: issues }
      : allOk('Validation passed: no issues found');
    // $validate reports on the content: 200 whether or not it is valid (R4 resource-operation-validate).
    return { status: 200, body: oo };
  }

  writeResponse(req: FhirRequest, status: number, resource: Resource): FhirResponse {
    const headers: Record<string, string> = {
      ...versionHeaders(resource.meta?.versionId as string, resource.meta?.lastUpdated as string),
      Location: `${this.opts.baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`,
    };
    const prefer = preferReturn(req);
    if (prefer === 'minimal') return { status, headers };
    if (prefer === 'OperationOutcome') return { status, headers, body: allOk(`${resource.resourceType}/${resource.id} stored`) };
    return { status, headers, body: resource };
  }
}

export function versionHeaders(versionId: string, lastUpdated: string): Record<string, string> {
  return { ETag: `W/"${versionId}"`, 'Last-Modified': new Date(lastUpdated).toUTCString() };
}

function parseIfMatch(h: string | undefined): string | undefined {
  if (h === undefined) return undefined;
  const m = /^(?:W\/)?"?([^"]+)"?$/.exec(h.trim());
  if (!m) throw outcomes.badRequest(`Malformed If-Match header`);
  return m[1];
}

function preferParts(req: FhirRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.prefer ?? '').split(/[,;]/)) {
    const [k, v] = part.trim().split('=');
    if (k) out.set(k.toLowerCase(), (v ?? '').replace(/"/g, ''));
  }
  return out;
}

export const preferHandling = (req: FhirRequest): string | undefined => preferParts(req).get('handling');
const preferReturn = (req: FhirRequest): string | undefined => preferParts(req).get('return');

function intQuery(req: FhirRequest, key: string): number | undefined {
  const v = req.query.find(([k]) => k === key)?.[1];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw outcomes.badRequest(`${key} must be a non-negative integer`, [key]);
  return Number(v);
}

function formPairs(body: unknown): [string, string][] {
  if (typeof body === 'string') return [...new URLSearchParams(body)];
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const out: [string, string][] = [];
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      for (const x of Array.isArray(v) ? v : [v]) out.push([k, String(x)]);
    }
    return out;
  }
  return [];
}

export { FhirError };
export type { Interaction };
