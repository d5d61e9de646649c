// DisclosureContextCache's own logic on a real (in-memory PGlite) store: it answers from memory
// only while listening, reads only the people (and relationships) it does not hold, never
// stores what a query racing an emptying read, and starts empty once it listens again.
import type { Resource } from '@medplum/fhirtypes';
import { CONTEXT_TYPES, DisclosureContextCache } from '../../../src/consent/disclosure-context-cache.js';
import { disclosureContext, EVERYONE, type DisclosureContext } from '../../../src/consent/disclosure-context.js';
import type { RelationshipParty } from '../../../src/consent/relationship.js';
import type { Database, QueryOptions, QueryResult } from '../../../src/fhir/store/database.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/database.js';

const MCO: RelationshipParty = { organizationType: 'MCO', organizationId: 'mco-bluecare' };
const SMA: RelationshipParty = { organizationType: 'SMA', organizationId: 'sma-ohio' };

/** The store, recording each context query's bound id lists and holding queries on demand. */
interface Probe {
  db: Database;
  /** Each context query: its text[] parameters (the id lists). */
  queries: string[][][];
  /** Holds the next context query until the returned function is called. */
  holdNext(): () => void;
  /** The cache's listen callbacks, captured (the real PGlite listen underneath). */
  notify(payload: string | null): void;
  lose(): void;
}

function probe(db: Database): Probe {
  const queries: string[][][] = [];
  let hold: Promise<void> | undefined;
  let callbacks: { onNotify: (p: string | null) => void; onLost: () => void } | undefined;
  const wrapped: Database = Object.create(db) as Database;
  wrapped.query = async <T>(text: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>> => {
    if (text.includes('AS kind')) {
      queries.push((params ?? []).filter((p): p is string[] => Array.isArray(p)));
      const h = hold;
      hold = undefined;
      const result = await db.query<T>(text, params, opts);
      await h; // the snapshot is taken; the answer comes back only when released
      return result;
    }
    return db.query<T>(text, params, opts);
  };
  wrapped.listen = (channel, onNotify, onLost) => {
    callbacks = { onNotify, onLost };
    return db.listen(channel, onNotify, onLost);
  };
  return {
    db: wrapped,
    queries,
    holdNext() {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      return release;
    },
    notify: (p) => callbacks?.onNotify(p),
    lose: () => callbacks?.onLost(),
  };
}

let t: TestDatabase;
let repo: Repository;
const pid: string[] = [];

beforeAll(async () => {
  loadDefinitions();
  t = await openTestDatabase('pglite');
  repo = new Repository(t.db, { baseUrl: 'http://test/fhir' });
  for (let i = 0; i < 4; i++) {
    const p = (await repo.create({ resourceType: 'Patient', name: [{ family: `P${i}` }] } as Resource)).resource.id as string;
    pid.push(p);
    // p0, p1 covered by the MCO; p2, p3 not.
    if (i < 2) await repo.create({ resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${p}` }, payor: [{ reference: 'Organization/mco-bluecare' }] } as Resource);
  }
  await repo.create({ resourceType: 'Consent', status: 'active', patient: { reference: `Patient/${pid[0]}` }, scope: { text: 'x' }, category: [{ text: 'x' }] } as Resource);
});
afterAll(() => t?.drop());

/** A cache listening on a probed database for the length of `fn`; stopped after (returned). */
async function listening(fn: (cache: DisclosureContextCache, pr: Probe) => Promise<void>, maxEntries?: number): Promise<DisclosureContextCache> {
  const pr = probe(t.db);
  const cache = new DisclosureContextCache(maxEntries);
  await cache.start(pr.db);
  try {
    await fn(cache, pr);
  } finally {
    await cache.stop();
  }
  return cache;
}

const shape = (c: DisclosureContext) => ({
  related: c.related === EVERYONE ? 'everyone' : [...(c.related as Set<string>)].sort(),
  consents: [...c.consents].map(([p, l]) => [p, l.length]).sort(),
});

it('answers from the store, storing nothing, until it listens', async () => {
  const pr = probe(t.db);
  const cache = new DisclosureContextCache();
  await cache.get(pr.db, MCO, pid);
  await cache.get(pr.db, MCO, pid);
  expect(pr.queries).toHaveLength(2);
  expect(cache.size).toBe(0);
});

it('returns what disclosureContext returns; a repeat runs no query; a partial miss reads only the missing people', async () => {
  await listening(async (cache, pr) => {
    const fresh = shape(await disclosureContext(t.db, MCO, pid));
    expect(fresh).toEqual({ related: [pid[0], pid[1]].sort(), consents: [[pid[0], 1]] });
    expect(shape(await cache.get(pr.db, MCO, pid.slice(0, 2)))).toEqual({ related: [pid[0], pid[1]].sort(), consents: [[pid[0], 1]] });
    expect(pr.queries).toEqual([[pid.slice(0, 2)]]); // one list: relationships and Consents of the same people
    expect(shape(await cache.get(pr.db, MCO, pid))).toEqual(fresh);
    expect(pr.queries[1]).toEqual([pid.slice(2)]);
    expect(shape(await cache.get(pr.db, MCO, [...pid].reverse()))).toEqual(fresh);
    expect(pr.queries).toHaveLength(2);
    // Another organization: its relationships are read, the Consents (anyone's) are held.
    const other: RelationshipParty = { organizationType: 'MCO', organizationId: 'mco-greenway' };
    expect(shape(await cache.get(pr.db, other, pid))).toEqual({ related: [], consents: [[pid[0], 1]] });
    expect(pr.queries[2]).toEqual([pid]);
    // The SMA is related to everyone: nothing to read at all.
    expect(shape(await cache.get(pr.db, SMA, pid))).toEqual({ related: 'everyone', consents: [[pid[0], 1]] });
    expect(pr.queries).toHaveLength(3);
  });
});

it('does not store a fill whose query raced an emptying (its answer is still returned)', async () => {
  await listening(async (cache, pr) => {
    const release = pr.holdNext();
    const pending = cache.get(pr.db, MCO, pid);
    await new Promise((r) => setTimeout(r, 20));
    cache.written(new Set(['Consent']));
    release();
    expect(shape(await pending).related).toEqual([pid[0], pid[1]].sort());
    expect(cache.size).toBe(0);
    await cache.get(pr.db, MCO, pid);
    expect(pr.queries).toHaveLength(2); // read again: nothing was kept

    // An emptying racing a fill while a later fill is stored: only the later one is kept.
    cache.invalidate();
    const release2 = pr.holdNext();
    const pending2 = cache.get(pr.db, MCO, pid.slice(0, 1));
    cache.invalidate();
    await cache.get(pr.db, MCO, pid.slice(1, 2)); // a fill under the new generation is kept
    release2();
    await pending2;
    expect(cache.size).toBe(2); // p1's Consents and relationship only
  });
});

it('ignores writes of other types and notifications of other schemas', async () => {
  await listening(async (cache, pr) => {
    await cache.get(pr.db, MCO, pid);
    cache.written(new Set(['Observation', 'AuditEvent']));
    pr.notify('t_someone_else');
    expect(cache.size).toBe(8);
    for (const type of CONTEXT_TYPES) {
      await cache.get(pr.db, MCO, pid);
      expect(cache.size).toBe(8);
      cache.written(new Set(['Observation', type]));
      expect(cache.size).toBe(0);
    }
    await cache.get(pr.db, MCO, pid);
    pr.notify('public'); // PGlite's schema
    expect(cache.size).toBe(0);
  });
});

it('serves nothing from memory while the listener is lost, drops a fill that straddles the loss, and starts empty when listening again', async () => {
  const stopped = await listening(async (cache, pr) => {
    const release = pr.holdNext();
    const pending = cache.get(pr.db, MCO, pid);
    await new Promise((r) => setTimeout(r, 20));
    pr.lose();
    release();
    await pending;
    expect(cache.serving).toBe(false);
    expect(cache.size).toBe(0);
    const before = pr.queries.length;
    await cache.get(pr.db, MCO, pid);
    await cache.get(pr.db, MCO, pid);
    expect(pr.queries.length - before).toBe(2);
    expect(cache.size).toBe(0);
    pr.notify(null); // listening again
    expect(cache.serving).toBe(true);
    await cache.get(pr.db, MCO, pid);
    await cache.get(pr.db, MCO, pid);
    expect(pr.queries.length - before).toBe(3);
  });
  expect(stopped.serving).toBe(false);
});

it('stays within its bound, dropping the oldest entries', async () => {
  await listening(async (cache, pr) => {
    for (const p of pid) await cache.get(pr.db, MCO, [p]);
    expect(cache.size).toBeLessThanOrEqual(5);
    const n = pr.queries.length;
    await cache.get(pr.db, MCO, [pid[3]]); // the newest is still held
    expect(pr.queries.length).toBe(n);
    await cache.get(pr.db, MCO, [pid[0]]); // the oldest went
    expect(pr.queries.length).toBe(n + 1);
  }, 5);
});
