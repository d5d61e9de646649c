// The FHIR store: create/read/update/delete with full version history, search, and the
// search-index rows, each write in one database transaction. The only module that knows the
// resource tables. Framework-free: no HTTP here.
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { isR4ResourceType } from '../definitions.js';
import { outcomes } from '../outcomes.js';
import { searchCountSql, searchPageSql } from '../search/search-sql.js';
import type { SearchRequest } from '../search/search-request.js';
import type { Database, Sql } from './database.js';
import { extractIndexRows } from './index-extraction.js';
import { deleteIndexSql, writeVersionSql, writeVersionsSql } from './index-writer.js';
import { jsonbText } from './jsonb-text.js';
import type { TypeStore } from './type-store.js';

export const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/** Savepoint units one transaction may hold (the outbox packs the unit into its delivery key). */
export const MAX_UNITS = 4096;
const unitCounts = new WeakMap<Sql, number>();
/** Resource types written in each open transaction (and its savepoint units), for `afterCommit`. */
const writtenTypes = new WeakMap<Sql, Set<string>>();

/** A change committed to the store, handed to write hooks inside the same transaction. */
export interface WriteEvent {
  kind: 'create' | 'update' | 'delete';
  resourceType: string;
  id: string;
  versionId: string;
  resource?: Resource;
}

export interface RepositoryOptions {
  /**
   * Runs first on every create/update, inside the write's transaction: the security labeler
   * sets meta.security here. Must be deterministic, so an unchanged resource stays unchanged.
   */
  prepare?: (tx: Sql, resource: Resource, known?: PrepareContext) => Promise<Resource>;
  /** Throws a FhirError (422) when a resource is not valid; runs before every write. */
  validate?: (resource: Resource) => void;
  /** Runs inside the write's transaction: labels, outbox rows, audit. */
  onWrite?: (tx: Sql, event: WriteEvent) => Promise<void>;
  /**
   * Runs once a transaction this repository opened has committed, with the resource types it
   * wrote (a rolled-back savepoint unit's included), before the write returns: for this
   * process's caches of stored data (consent's disclosure context). Must not throw.
   */
  afterCommit?: (resourceTypes: ReadonlySet<string>) => void;
  /**
   * Types kept in tables of their own and served read-only (type-store.ts): reads, searches and
   * includes of such a type go to its store, writes of it are refused (405). AuditEvent.
   */
  typeStores?: readonly TypeStore[];
  /**
   * What a reader of a version's stored text will need to know (the consent engine's disclosure
   * facts), found from that text when the version is written and kept with it (index-writer.ts
   * keeps it only where PostgreSQL prints the text back unchanged); undefined: none. Read back as
   * `facts` by readText and search.
   */
  disclosureFacts?: (resourceType: string, storedText: string) => string | undefined;
  now?: () => Date;
  newId?: () => string;
  baseUrl?: string;
}

/** What the write already knows when it calls `prepare` (so the hook need not read it again). */
export interface PrepareContext {
  /** The current version, read and locked by `update`; undefined when absent or deleted. */
  current: Resource | undefined;
}

export interface WriteResult<T extends Resource = Resource> {
  resource: T;
  /** 'created' | 'updated' | 'unchanged' (an update identical to the current version). */
  outcome: 'created' | 'updated' | 'unchanged';
}

export interface SearchResult {
  /**
   * Matches of the page, as stored JSON text (sent unchanged where possible), with the version's
   * disclosure facts where the store has them (RepositoryOptions.disclosureFacts).
   */
  matches: { id: string; content: string; facts?: string | null }[];
  included: { resourceType: string; id: string; content: string; facts?: string | null }[];
  total?: number;
  hasNext: boolean;
}

export interface ResourceKey {
  resourceType: string;
  id: string;
}

interface Row {
  version_id: string;
  deleted: boolean;
  content: string | null;
}

export class Repository {
  private readonly opts: Required<Omit<RepositoryOptions, 'validate' | 'onWrite' | 'afterCommit' | 'prepare' | 'typeStores' | 'disclosureFacts'>> & RepositoryOptions;

  /** Rows read and locked by `prefetch`, each used once by `update` (undefined: no row). */
  private readonly prefetched = new Map<string, Row | undefined>();

  constructor(
    readonly db: Database,
    opts: RepositoryOptions = {},
    private readonly tx?: Sql,
  ) {
    this.opts = { ...opts, now: opts.now ?? (() => new Date()), newId: opts.newId ?? randomUUID, baseUrl: opts.baseUrl ?? '' };
  }

  /** Runs `fn` with a repository bound to one transaction: all of it commits or none of it. */
  async withTransaction<T>(fn: (repo: Repository) => Promise<T>): Promise<T> {
    if (this.tx) return fn(this);
    const afterCommit = this.opts.afterCommit;
    if (!afterCommit) return this.db.transaction((tx) => fn(new Repository(this.db, this.opts, tx)));
    const types = new Set<string>();
    const result = await this.db.transaction((tx) => {
      writtenTypes.set(tx, types);
      return fn(new Repository(this.db, this.opts, tx));
    });
    if (types.size) afterCommit(types);
    return result;
  }

  /**
   * Runs `fn` in a savepoint of this repository's transaction: when it throws, its writes (and
   * its hooks' writes) roll back alone and the transaction goes on. `fn` gets its own handle
   * (`Sql.unit`), so per-transaction caches of hooks start empty and die with a rolled-back unit.
   */
  async inSavepoint<T>(fn: (repo: Repository) => Promise<T>): Promise<T> {
    const tx = this.tx;
    if (!tx) throw new Error('inSavepoint needs a transaction (withTransaction)');
    const unit = unitCounts.get(tx) ?? 0;
    if (unit >= MAX_UNITS) throw new Error(`more than ${MAX_UNITS} savepoint units in one transaction`);
    unitCounts.set(tx, unit + 1);
    const handle: Sql = { query: (text, params, opts) => tx.query(text, params, opts), exec: (text) => tx.exec(text), unit };
    const types = writtenTypes.get(tx);
    if (types) writtenTypes.set(handle, types);
    await tx.query('SAVEPOINT unit');
    try {
      const result = await fn(new Repository(this.db, this.opts, handle));
      await tx.query('RELEASE SAVEPOINT unit');
      return result;
    } catch (err) {
      await tx.query('ROLLBACK TO SAVEPOINT unit');
      await tx.query('RELEASE SAVEPOINT unit');
      throw err;
    }
  }

  /**
   * One statement instead of one per resource: reads and locks (FOR UPDATE) the current rows of
   * `lock`, which this repository's next `update` of each then uses instead of reading it again
   * (the lock keeps them as read until commit); and tells which of `peek` have a row, current
   * or deleted, without locking them (ingest's create-if-absent: shared resources, which several
   * transactions may check at once).
   */
  async prefetch(lock: ResourceKey[], peek: ResourceKey[] = []): Promise<Set<string>> {
    if (!this.tx) throw new Error('prefetch needs a transaction (withTransaction)');
    if (!lock.length && !peek.length) return new Set();
    const r = await this.tx.query<Row & { resource_type: string; id: string; locked: boolean }>(
      `WITH locked AS (
         SELECT r.resource_type, r.id, r.version_id, r.deleted, r.content::text AS content FROM resource r
         JOIN unnest($1::text[], $2::text[]) AS k(t, i) ON r.resource_type = k.t AND r.id = k.i
         ORDER BY r.resource_type, r.id FOR UPDATE OF r)
       SELECT resource_type, id, version_id, deleted, content, true AS locked FROM locked
       UNION ALL
       SELECT r.resource_type, r.id, NULL, NULL, NULL, false FROM resource r
       JOIN unnest($3::text[], $4::text[]) AS k(t, i) ON r.resource_type = k.t AND r.id = k.i`,
      // Not prepared: a generic plan cannot see how few keys the arrays hold and scans the table.
      [lock.map((k) => k.resourceType), lock.map((k) => k.id), peek.map((k) => k.resourceType), peek.map((k) => k.id)],
    );
    // Absent ones too: an update then inserts at once (a concurrent insert of the same id makes
    // that insert find it taken: the same conflict as when a read had found nothing).
    for (const k of [...lock, ...peek]) this.prefetched.set(`${k.resourceType}/${k.id}`, undefined);
    const present = new Set<string>();
    for (const row of r.rows) {
      const key = `${row.resource_type}/${row.id}`;
      if (row.locked) this.prefetched.set(key, row);
      else {
        present.add(key);
        this.prefetched.delete(key); // present, not locked: an update must read it itself
      }
    }
    return present;
  }

  private get sql(): Sql {
    return this.tx ?? this.db;
  }

  private checkType(resourceType: string): void {
    if (!isR4ResourceType(resourceType)) throw outcomes.unknownResourceType(resourceType);
  }

  /** The store of a type kept outside the resource tables, if it is one. */
  private typeStore(resourceType: string): TypeStore | undefined {
    return this.opts.typeStores?.find((t) => t.resourceType === resourceType);
  }

  /** Writes of a store-kept type are the gateway's own (AuditTrail), never the API's. */
  private checkWritable(resourceType: string): void {
    this.checkType(resourceType);
    if (this.typeStore(resourceType)) throw outcomes.readOnlyType(resourceType);
  }

  /**
   * The current version as stored JSON text (sent unchanged: parsing and re-serialising costs
   * about half the read throughput); 404 when absent, 410 when deleted.
   */
  async readText(resourceType: string, id: string): Promise<{ content: string; versionId: string; lastUpdated: string; facts: string | null }> {
    this.checkType(resourceType);
    if (!ID_RE.test(id)) throw outcomes.notFound(`${resourceType}/${id}`);
    const store = this.typeStore(resourceType);
    if (store) {
      const found = await store.read(this.sql, id);
      if (!found) throw outcomes.notFound(`${resourceType}/${id}`);
      return { ...found, versionId: '1', facts: null };
    }
    const r = await this.sql.query<Row & { last_updated: Date; facts: string | null }>(
      'SELECT version_id, deleted, last_updated, content::text AS content, disclosure_facts AS facts FROM resource WHERE resource_type = $1 AND id = $2',
      [resourceType, id],
    );
    const row = r.rows[0];
    if (!row) throw outcomes.notFound(`${resourceType}/${id}`);
    if (row.deleted) throw outcomes.gone(`${resourceType}/${id}`);
    return { content: row.content as string, versionId: String(row.version_id), lastUpdated: new Date(row.last_updated).toISOString(), facts: row.facts };
  }

  async read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T> {
    return JSON.parse((await this.readText(resourceType, id)).content) as T;
  }

  /**
   * The current row, locked for the write about to replace it: the one `prefetch` read, used once
   * (after the write it is no longer current), else read now.
   */
  private async lockedCurrent(resourceType: string, id: string): Promise<Row | undefined> {
    const key = `${resourceType}/${id}`;
    if (!this.prefetched.has(key)) return this.current(this.sql, resourceType, id, true);
    const row = this.prefetched.get(key);
    this.prefetched.delete(key);
    return row;
  }

  /** Current version id, or undefined when the resource never existed; deleted flag too. */
  private async current(tx: Sql, resourceType: string, id: string, lock: boolean): Promise<Row | undefined> {
    const r = await tx.query<Row>(
      `SELECT version_id, deleted, content::text AS content FROM resource WHERE resource_type = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
      [resourceType, id],
    );
    return r.rows[0];
  }

  async vread<T extends Resource = Resource>(resourceType: string, id: string, versionId: string): Promise<T> {
    this.checkType(resourceType);
    if (!/^\d{1,18}$/.test(versionId) || !ID_RE.test(id)) throw outcomes.notFound(`${resourceType}/${id}/_history/${versionId}`);
    const store = this.typeStore(resourceType);
    if (store) {
      const found = versionId === '1' ? await store.read(this.sql, id) : undefined;
      if (!found) throw outcomes.notFound(`${resourceType}/${id}/_history/${versionId}`);
      return JSON.parse(found.content) as T;
    }
    const r = await this.sql.query<Row>(
      'SELECT version_id, deleted, content::text AS content FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3',
      [resourceType, id, versionId],
    );
    const row = r.rows[0];
    if (!row) throw outcomes.notFound(`${resourceType}/${id}/_history/${versionId}`);
    if (row.deleted) throw outcomes.gone(`${resourceType}/${id}/_history/${versionId}`);
    return JSON.parse(row.content as string) as T;
  }

  /** Versions of one resource, newest first. Deleted versions have no resource. */
  async history(
    resourceType: string,
    id: string,
    page: { count: number; offset: number },
  ): Promise<{ versions: { versionId: string; lastUpdated: string; deleted: boolean; content: string | null }[]; total: number }> {
    this.checkType(resourceType);
    if (!ID_RE.test(id)) throw outcomes.notFound(`${resourceType}/${id}`);
    const store = this.typeStore(resourceType);
    if (store) {
      const found = await store.read(this.sql, id);
      if (!found) throw outcomes.notFound(`${resourceType}/${id}`);
      const versions = page.offset === 0 && page.count > 0 ? [{ versionId: '1', lastUpdated: found.lastUpdated, deleted: false, content: found.content }] : [];
      return { versions, total: 1 };
    }
    const total = await this.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM resource_history WHERE resource_type = $1 AND id = $2',
      [resourceType, id],
    );
    if (!total.rows[0].n) throw outcomes.notFound(`${resourceType}/${id}`);
    const r = await this.sql.query<{ version_id: string; last_updated: Date; deleted: boolean; content: string | null }>(
      `SELECT version_id, last_updated, deleted, content::text AS content FROM resource_history
       WHERE resource_type = $1 AND id = $2 ORDER BY version_id DESC LIMIT $3 OFFSET $4`,
      [resourceType, id, page.count, page.offset],
    );
    return {
      total: total.rows[0].n,
      versions: r.rows.map((x) => ({
        versionId: String(x.version_id),
        lastUpdated: new Date(x.last_updated).toISOString(),
        deleted: x.deleted,
        content: x.content,
      })),
    };
  }

  async create<T extends Resource>(resource: T, opts: { id?: string } = {}): Promise<WriteResult<T>> {
    this.checkWritable(resource.resourceType);
    const id = opts.id ?? this.opts.newId();
    return this.withTransaction(async (repo) => repo.write(repo.sql, await repo.prepared({ ...resource, id }), 'create'));
  }

  /**
   * Update (or create with the client's id, R4 http.html#upsert). `ifMatch` is the version
   * the client last saw: a different current version is a 412. An update whose content equals
   * the current version makes no new version, so re-sending the same data is idempotent.
   */
  async update<T extends Resource>(resource: T, opts: { ifMatch?: string } = {}): Promise<WriteResult<T>> {
    this.checkWritable(resource.resourceType);
    const id = resource.id;
    if (!id || !ID_RE.test(id)) throw outcomes.badRequest('Resource id is missing or invalid', [`${resource.resourceType}.id`]);
    return this.withTransaction(async (repo) => {
      const cur = await repo.lockedCurrent(resource.resourceType, id);
      if (opts.ifMatch !== undefined && (!cur || cur.deleted || String(cur.version_id) !== opts.ifMatch)) {
        throw outcomes.preconditionFailed(
          `Version conflict: If-Match ${opts.ifMatch} but ${resource.resourceType}/${id} is at ${cur ? (cur.deleted ? 'deleted' : String(cur.version_id)) : 'no version'}`,
        );
      }
      const current = cur && !cur.deleted && cur.content ? (JSON.parse(cur.content) as T) : undefined;
      const next = await repo.prepared(resource, { current });
      if (current && sameContent(current, next)) return { resource: current, outcome: 'unchanged' as const };
      return repo.write(repo.sql, next, cur ? 'update' : 'create', cur);
    });
  }

  /**
   * Several upserts as `update` makes each (current row, prepare, no version when unchanged,
   * validate, index rows), but the new versions written by one statement (writeVersionsSql)
   * and the write hooks run after it, in order. For an ingest record, whose resources do not
   * depend on the hooks of the ones before them; ids must be distinct (else one by one).
   */
  async updateAll<T extends Resource>(resources: T[]): Promise<WriteResult<T>[]> {
    for (const r of resources) this.checkWritable(r.resourceType);
    const keys = resources.map((r) => `${r.resourceType}/${r.id}`);
    if (new Set(keys).size !== keys.length) {
      return this.withTransaction(async (repo) => {
        const out: WriteResult<T>[] = [];
        for (const r of resources) out.push(await repo.update(r));
        return out;
      });
    }
    for (const r of resources) {
      this.checkType(r.resourceType);
      if (!r.id || !ID_RE.test(r.id)) throw outcomes.badRequest('Resource id is missing or invalid', [`${r.resourceType}.id`]);
    }
    return this.withTransaction(async (repo) => {
      const tx = repo.sql;
      const results: WriteResult<T>[] = [];
      const pending: { at: number; resource: T; cur?: Row }[] = [];
      const lastUpdated = repo.opts.now().toISOString();
      for (const [at, resource] of resources.entries()) {
        const cur = await repo.lockedCurrent(resource.resourceType, resource.id as string);
        const current = cur && !cur.deleted && cur.content ? (JSON.parse(cur.content) as T) : undefined;
        const next = await repo.prepared(resource, { current });
        if (current && sameContent(current, next)) {
          results[at] = { resource: current, outcome: 'unchanged' };
          continue;
        }
        const versionId = cur ? String(Number(cur.version_id) + 1) : '1';
        const stamped = { ...next, meta: { ...next.meta, versionId, lastUpdated } } as T;
        repo.opts.validate?.(stamped);
        pending.push({ at, resource: stamped, cur });
      }
      if (!pending.length) return results;
      const q = writeVersionsSql(
        pending.map(({ resource, cur }) => ({
          resourceType: resource.resourceType,
          id: resource.id as string,
          versionId: resource.meta?.versionId as string,
          lastUpdated,
          ...repo.storedForm(resource),
          replace: !!cur,
          rows: extractIndexRows(resource),
        })),
      );
      // Not prepared (unlike writeVersionSql): joins over the arrays need a plan that knows their size.
      const written = new Set((await tx.query<{ resource_type: string; id: string }>(q.text, q.values)).rows.map((r) => `${r.resource_type}/${r.id}`));
      for (const { resource } of pending) {
        if (!written.has(`${resource.resourceType}/${resource.id}`)) throw outcomes.conflict(`${resource.resourceType}/${resource.id} was created concurrently`);
      }
      for (const { at, resource, cur } of pending) results[at] = await repo.written(tx, resource, cur && !cur.deleted ? 'update' : 'create');
      return results;
    });
  }

  async delete(resourceType: string, id: string): Promise<{ versionId?: string }> {
    this.checkWritable(resourceType);
    if (!ID_RE.test(id)) throw outcomes.notFound(`${resourceType}/${id}`);
    return this.withTransaction(async (repo) => {
      const tx = repo.sql;
      const cur = await repo.current(tx, resourceType, id, true);
      // Deleting what is absent or already deleted succeeds with no new version (R4 http.html#delete).
      if (!cur || cur.deleted) return {};
      const versionId = String(Number(cur.version_id) + 1);
      const now = repo.opts.now().toISOString();
      await tx.query(
        `WITH r AS (UPDATE resource SET version_id = $3, last_updated = $4, deleted = true, content = NULL, disclosure_facts = NULL
                    WHERE resource_type = $1 AND id = $2)
         INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content) VALUES ($1, $2, $3, $4, true, NULL)`,
        [resourceType, id, versionId, now],
      );
      const del = deleteIndexSql(resourceType, id);
      await tx.query(del.text, del.values);
      writtenTypes.get(tx)?.add(resourceType);
      await repo.opts.onWrite?.(tx, { kind: 'delete', resourceType, id, versionId });
      return { versionId };
    });
  }

  /**
   * A version's text as written: with a disclosureFacts hook, in the form PostgreSQL prints jsonb
   * (jsonb-text.ts), so facts found in it hold for the text every read returns; JSON.stringify
   * (native, cheaper) where no facts are wanted or that form is unsure. The stored jsonb is the same.
   */
  private storedForm(resource: Resource): { content: string; facts: string | null } {
    const factsOf = this.opts.disclosureFacts;
    const text = factsOf && jsonbText(resource);
    if (!factsOf || !text) return { content: JSON.stringify(resource), facts: null };
    return { content: text, facts: factsOf(resource.resourceType, text) ?? null };
  }

  private async prepared<T extends Resource>(resource: T, known?: PrepareContext): Promise<T> {
    return this.opts.prepare ? ((await this.opts.prepare(this.sql, resource, known)) as T) : resource;
  }

  private async write<T extends Resource>(tx: Sql, input: T, kind: 'create' | 'update', cur?: Row): Promise<WriteResult<T>> {
    const id = input.id as string;
    if (!ID_RE.test(id)) throw outcomes.badRequest(`Invalid id "${id}"`, [`${input.resourceType}.id`]);
    const lastUpdated = this.opts.now().toISOString();
    const stamp = (versionId: string): T => ({ ...input, meta: { ...input.meta, versionId, lastUpdated } }) as T;
    // meta.versionId does not change validity: validate once, whichever version this becomes.
    let resource = stamp(cur ? String(Number(cur.version_id) + 1) : '1');
    this.opts.validate?.(resource);
    const rows = extractIndexRows(resource);
    const run = async (r: T, replace: boolean): Promise<number> => {
      const q = writeVersionSql({ resourceType: r.resourceType, id, versionId: r.meta?.versionId as string, lastUpdated, ...this.storedForm(r) }, rows, replace);
      return (await tx.query<{ n: number }>(q.text, q.values, { prepare: true })).rows[0].n;
    };
    if (!cur) {
      // Optimistic insert; a taken id falls back to the locked read below.
      if ((await run(resource, false)) === 1) return this.written(tx, resource, 'create');
      if (kind === 'update') throw outcomes.conflict(`${input.resourceType}/${id} was created concurrently`);
      const existing = await this.current(tx, input.resourceType, id, true);
      if (!existing || !existing.deleted) throw outcomes.conflict(`${input.resourceType}/${id} already exists`);
      cur = existing;
      resource = stamp(String(Number(cur.version_id) + 1));
    }
    await run(resource, true);
    return this.written(tx, resource, cur.deleted ? 'create' : 'update');
  }

  private async written<T extends Resource>(tx: Sql, resource: T, kind: 'create' | 'update'): Promise<WriteResult<T>> {
    const { resourceType, id } = resource as T & { id: string };
    writtenTypes.get(tx)?.add(resourceType);
    await this.opts.onWrite?.(tx, { kind, resourceType, id, versionId: resource.meta?.versionId as string, resource });
    return { resource, outcome: kind === 'create' ? 'created' : 'updated' };
  }

  async search(req: SearchRequest): Promise<SearchResult> {
    this.checkType(req.resourceType);
    const baseUrl = this.opts.baseUrl;
    const store = this.typeStore(req.resourceType);
    if (store) {
      const found = await store.search(this.sql, req, baseUrl);
      return { ...found, included: await this.includes(req, found.matches.map((m) => m.id)) };
    }
    let total: number | undefined;
    if (req.total !== 'none' || req.summary === 'count') {
      const c = searchCountSql(req, baseUrl);
      total = (await this.sql.query<{ n: number }>(c.text, c.values)).rows[0].n;
    }
    if (req.summary === 'count') return { matches: [], included: [], total, hasNext: false };
    const q = searchPageSql(req, baseUrl);
    const rows = (await this.sql.query<{ id: string; content: string; facts: string | null }>(q.text, q.values)).rows;
    const hasNext = rows.length > req.count;
    const matches = rows.slice(0, req.count);
    const included = await this.includes(req, matches.map((m) => m.id));
    return { matches, included, total, hasNext };
  }

  private async includes(req: SearchRequest, ids: string[]): Promise<SearchResult['included']> {
    if (!ids.length || (!req.include.length && !req.revinclude.length)) return [];
    const out = new Map<string, SearchResult['included'][number]>();
    const seen = new Set(ids.map((id) => `${req.resourceType}/${id}`));
    type IncludedRow = { resource_type: string; id: string; content: string; facts: string | null };
    const add = (rows: IncludedRow[]): void => {
      for (const r of rows) {
        const key = `${r.resource_type}/${r.id}`;
        if (!seen.has(key) && !out.has(key)) out.set(key, { resourceType: r.resource_type, id: r.id, content: r.content, facts: r.facts });
      }
    };
    const store = this.typeStore(req.resourceType);
    for (const inc of req.include) {
      if (inc.sourceType !== req.resourceType) continue;
      if (store) {
        const keys = (await store.references(this.sql, ids, inc.param)).filter((k) => !inc.targetType || k.resourceType === inc.targetType);
        const r = await this.sql.query<IncludedRow>(
          `SELECT t.resource_type, t.id, t.content::text AS content, t.disclosure_facts AS facts
           FROM unnest($1::text[], $2::text[]) AS k(resource_type, id) JOIN resource t ON t.resource_type = k.resource_type AND t.id = k.id
           WHERE NOT t.deleted`,
          [keys.map((k) => k.resourceType), keys.map((k) => k.id)],
        );
        add(r.rows);
        continue;
      }
      const r = await this.sql.query<IncludedRow>(
        `SELECT t.resource_type, t.id, t.content::text AS content, t.disclosure_facts AS facts
         FROM idx_reference i JOIN resource t ON t.resource_type = i.target_type AND t.id = i.target_id
         WHERE i.resource_type = $1 AND i.id = ANY($2::text[]) AND i.param = $3 AND NOT t.deleted
           AND ($4::text IS NULL OR i.target_type = $4)`,
        [req.resourceType, ids, inc.param, inc.targetType ?? null],
      );
      add(r.rows);
    }
    for (const inc of req.revinclude) {
      const source = this.typeStore(inc.sourceType);
      if (source) {
        const rows = await source.referring(this.sql, inc.param, req.resourceType, ids);
        add(rows.map((r) => ({ resource_type: inc.sourceType, id: r.id, content: r.content, facts: null })));
        continue;
      }
      const r = await this.sql.query<IncludedRow>(
        `SELECT s.resource_type, s.id, s.content::text AS content, s.disclosure_facts AS facts
         FROM idx_reference i JOIN resource s ON s.resource_type = i.resource_type AND s.id = i.id
         WHERE i.resource_type = $1 AND i.param = $2 AND i.target_type = $3 AND i.target_id = ANY($4::text[]) AND NOT s.deleted`,
        [inc.sourceType, inc.param, req.resourceType, ids],
      );
      add(r.rows);
    }
    return [...out.values()];
  }

  /**
   * Serialises conditional writes on the same criteria (keys from `criteriaKey`) until this
   * transaction commits or rolls back: without it, two conditional creates of one Patient that
   * overlap (a sender retrying while the first request is still being written) both match
   * nothing and both create. Call it before the match query, in the write's transaction; under
   * READ COMMITTED the match that follows sees what the previous holder committed. Locks are
   * taken in hash order, so transactions locking several keys cannot deadlock on each other.
   */
  async lockCriteria(keys: string[]): Promise<void> {
    if (!this.tx) throw new Error('lockCriteria needs a transaction (withTransaction)');
    if (!keys.length) return;
    await this.tx.query(
      `SELECT count(pg_advisory_xact_lock(h))::int AS n
       FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS keys`,
      [keys],
    );
  }

  /** Ids of the current resources matching a search (conditional create/update/references). */
  async matchIds(req: SearchRequest, limit = 2): Promise<string[]> {
    // Conditional writes only: a store-kept type is not written through the API.
    this.checkWritable(req.resourceType);
    const q = searchPageSql({ ...req, count: limit, offset: 0, sort: [], include: [], revinclude: [] }, this.opts.baseUrl);
    const rows = (await this.sql.query<{ id: string }>(q.text, q.values)).rows;
    return rows.slice(0, limit).map((r) => r.id);
  }
}

/** Equal apart from meta.versionId / meta.lastUpdated (which the store sets). */
export function sameContent(a: Resource, b: Resource): boolean {
  const strip = (r: Resource): unknown => {
    const { meta, ...rest } = r as Resource & { meta?: Record<string, unknown> };
    const { versionId: _v, lastUpdated: _l, ...m } = meta ?? {};
    return { ...rest, meta: Object.keys(m).length ? m : undefined };
  };
  return jsonEqual(strip(a), strip(b));
}

/**
 * Equal as JSON texts with keys sorted would be (undefined members dropped, undefined in an
 * array written as null), without building the texts: re-ingest compares every resource it maps.
 */
function jsonEqual(a: unknown, b: unknown, element = false): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return element && (a ?? null) === (b ?? null);
  if (typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const y = b as unknown[];
    if (a.length !== y.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], y[i], true)) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k of Object.keys(x)) {
    if (x[k] === undefined) continue;
    n++;
    if (y[k] === undefined || !jsonEqual(x[k], y[k])) return false;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined) n--;
  return n === 0;
}
