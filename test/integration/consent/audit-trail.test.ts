// AuditTrail: a disclosure's AuditEvent is committed to the audit journal before record()
// resolves — disclosures recorded while the statements in flight are busy go together, and a
// statement that fails takes every event of its group with it (none on record, every caller
// told) — and the indexer moves journal rows into the resource store as searchable AuditEvents:
// before any read of AuditEvents (nothing already disclosed is missed), in the background when
// the journal is quiet or its backlog full, once per row however many processes index at once,
// and not at all when its transaction fails (the rows stay for the next try).
import type { AuditEvent } from '@medplum/fhirtypes';
import { AuditTrail, type AuditWriteOptions, type DisclosureRecord } from '../../../src/consent/audit.js';
import type { Database, QueryOptions, QueryResult } from '../../../src/fhir/store/database.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { parseSearchRequest } from '../../../src/fhir/search/search-request.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../../helpers/database.js';

const record = (n: number, patient: string): DisclosureRecord => ({
  recipient: { organizationId: 'mco-bluecare', organizationType: 'MCO', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' },
  channel: 'search',
  disclosed: [`Observation/o${n}/_history/1`],
  withheld: 0,
  patientIds: [patient],
  basedOn: ['https://lead-gateway.example.org/fhir/policy/default'],
  rules: ['tpo'],
});

/** The database, counting the statements that contain `marker` (events each) and failing them on demand. */
function instrumented(db: Database, marker: string): { db: Database; statements: number[]; failNext: () => void } {
  const statements: number[] = [];
  let fail = false;
  const wrapped: Database = Object.create(db) as Database;
  const wrap = (run: Database['query']): Database['query'] =>
    (async <T>(text: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>> => {
      if (!text.includes(marker)) return run<T>(text, params, opts);
      const first = params?.[0];
      statements.push(Array.isArray(first) ? first.length : (JSON.parse(first as string) as unknown[]).length);
      if (!fail) return run<T>(text, params, opts);
      fail = false;
      // A real failing statement: its writes roll back inside PostgreSQL / PGlite.
      return run<T>(`${text} UNION ALL SELECT ${text.includes('resource_history') ? 'NULL, ' : ''}1 / 0`, params, opts);
    }) as Database['query'];
  wrapped.query = wrap(db.query.bind(db));
  wrapped.transaction = (fn) => db.transaction((tx) => fn({ ...tx, query: wrap(tx.query.bind(tx)) }));
  return { db: wrapped, statements, failNext: () => (fail = true) };
}

const JOURNAL = 'INSERT INTO audit_journal';
const INDEX = 'INSERT INTO resource_history';

describe.each(STORE_KINDS)('AuditTrail (%s)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    loadDefinitions();
    t = await openTestDatabase(kind);
  });
  afterAll(() => t.drop());

  const trailOn = (db: Database, opts: Partial<AuditWriteOptions> = {}): AuditTrail => new AuditTrail(db, undefined, opts);
  /** Journal rows about a person (not yet indexed). */
  const journalled = async (patient: string): Promise<number> =>
    (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_journal WHERE entry->'record'->'patientIds'->>0 = $1`, [patient])).rows[0].n;
  /** Indexed AuditEvents about a person: resource, history and `entity` index rows alike. */
  const indexed = async (patient: string): Promise<number> => {
    const n = await t.db.query<{ r: number; h: number; i: number }>(
      `SELECT (SELECT count(*)::int FROM resource WHERE resource_type = 'AuditEvent' AND content->'entity'->0->'what'->>'reference' = $2) AS r,
              (SELECT count(*)::int FROM resource_history WHERE resource_type = 'AuditEvent' AND content->'entity'->0->'what'->>'reference' = $2) AS h,
              (SELECT count(*)::int FROM idx_reference WHERE resource_type = 'AuditEvent' AND param = 'entity' AND target_type = 'Patient' AND target_id = $1) AS i`,
      [patient, `Patient/${patient}`],
    );
    const { r, h, i } = n.rows[0];
    expect([h, i]).toEqual([r, r]);
    return r;
  };
  const search = (repo: Repository, patient: string) =>
    repo.search(parseSearchRequest('AuditEvent', [['patient', `Patient/${patient}`], ['_count', '1000']], { strict: true, defaultCount: 50, maxCount: 1000 }));
  const waitFor = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (await ok()) return;
    throw new Error(`timed out waiting for ${what}`);
  };

  it('a lone disclosure is one journal statement of one event, committed before record() resolves', async () => {
    const i = instrumented(t.db, JOURNAL);
    await trailOn(i.db, { concurrency: 1, maxBatch: 32 }).record(record(1, 'lone'));
    expect(i.statements).toEqual([1]);
    expect(await journalled('lone')).toBe(1);
    expect(await indexed('lone')).toBe(0);
  });

  it('disclosures recorded while a statement is in flight are journalled together, each one on record', async () => {
    const i = instrumented(t.db, JOURNAL);
    const trail = trailOn(i.db, { concurrency: 1, maxBatch: 8 });
    await Promise.all(Array.from({ length: 21 }, (_, n) => trail.record(record(n, 'busy'))));
    // The first goes alone; the 20 that arrived meanwhile go 8, 8 and 4 at a time.
    expect(i.statements).toEqual([1, 8, 8, 4]);
    expect(await journalled('busy')).toBe(21);
  });

  it('a failing journal statement rejects every disclosure of its group and writes none of them', async () => {
    const i = instrumented(t.db, JOURNAL);
    const trail = trailOn(i.db, { concurrency: 1, maxBatch: 8 });
    const first = trail.record(record(0, 'failed-first'));
    i.failNext(); // the group written after the first one
    const group = Array.from({ length: 5 }, (_, n) => trail.record(record(n, 'failed-group')));
    await expect(first).resolves.toBeUndefined();
    const settled = await Promise.allSettled(group);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    expect(i.statements).toEqual([1, 5]);
    expect(await journalled('failed-first')).toBe(1);
    expect(await journalled('failed-group')).toBe(0);
    // The trail goes on after a failure.
    await trail.record(record(9, 'after'));
    expect(await journalled('after')).toBe(1);
  });

  it('indexes the journal in batches into AuditEvents the search engine finds, and empties it', async () => {
    await trailOn(t.db).index(); // what the tests above journalled
    const i = instrumented(t.db, INDEX);
    const trail = trailOn(i.db, { indexBatch: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, n) => trail.record(record(n, 'batched'))));
    await trail.index();
    expect(i.statements.filter((n) => n > 0)).toEqual([4, 4, 2]);
    expect(await journalled('batched')).toBe(0);
    expect(await indexed('batched')).toBe(10);
    const found = await search(new Repository(t.db), 'batched');
    expect(found.matches).toHaveLength(10);
    const ev = JSON.parse(found.matches[0].content) as AuditEvent;
    expect(ev).toMatchObject({ resourceType: 'AuditEvent', meta: { versionId: '1' }, outcomeDesc: 'disclosed 1, withheld 0' });
  });

  it('a read of AuditEvents through a Repository with the trail as beforeRead never misses a disclosure already recorded', async () => {
    const trail = trailOn(t.db);
    const repo = new Repository(t.db, { beforeRead: trail.beforeRead });
    for (let n = 0; n < 3; n++) {
      await trail.record(record(n, 'barrier'));
      // Searched right after each disclosure: no background indexer runs here.
      expect((await search(repo, 'barrier')).matches).toHaveLength(n + 1);
    }
    const one = (await search(repo, 'barrier')).matches[0];
    await trail.record(record(9, 'barrier'));
    await expect(repo.read('AuditEvent', one.id)).resolves.toMatchObject({ id: one.id });
    expect(await journalled('barrier')).toBe(0);
    // Inside a transaction the barrier indexes in it (on PGlite another would wait forever).
    await trail.record(record(10, 'barrier'));
    const inTx = await repo.withTransaction((tx) => search(tx, 'barrier'));
    expect(inTx.matches).toHaveLength(5);
    // Other types are read without touching the journal.
    await trail.record(record(11, 'barrier'));
    await repo.search(parseSearchRequest('Observation', [], { strict: true, defaultCount: 50, maxCount: 1000 }));
    expect(await journalled('barrier')).toBe(1);
  });

  it('two indexers at once (two processes) index every row once', async () => {
    const a = trailOn(t.db, { indexBatch: 7 });
    const b = trailOn(t.db, { indexBatch: 5 });
    await Promise.all(Array.from({ length: 60 }, (_, n) => (n % 2 ? a : b).record(record(n, 'racing'))));
    await Promise.all([a.index(), b.index(), a.index(), b.index()]);
    expect(await journalled('racing')).toBe(0);
    expect(await indexed('racing')).toBe(60);
  });

  it('a failing index transaction leaves its rows in the journal for the next run', async () => {
    const i = instrumented(t.db, INDEX);
    const trail = trailOn(i.db);
    await Promise.all(Array.from({ length: 3 }, (_, n) => trail.record(record(n, 'retried'))));
    i.failNext();
    await expect(trail.index()).rejects.toThrow();
    expect(await journalled('retried')).toBe(3);
    expect(await indexed('retried')).toBe(0);
    await trail.index();
    expect(await journalled('retried')).toBe(0);
    expect(await indexed('retried')).toBe(3);
  });

  it('in the background: what a stopped process left at start, then once the journal is quiet', async () => {
    const stopped = trailOn(t.db);
    await stopped.record(record(0, 'left'));
    const trail = trailOn(t.db, { quietMs: 300 });
    trail.start();
    try {
      await waitFor('the rows left indexed', async () => (await indexed('left')) === 1);
      await trail.record(record(1, 'quiet'));
      expect(await journalled('quiet')).toBe(1); // not before the journal has been quiet a while
      await waitFor('the quiet journal indexed', async () => (await indexed('quiet')) === 1);
    } finally {
      await trail.stop();
    }
  });

  it('in the background: however busy, once the journal holds maxBacklog rows', async () => {
    const trail = trailOn(t.db, { quietMs: 3_600_000, maxBacklog: 5 });
    trail.start();
    try {
      await trail.index(); // after the start's own run (what was there) has ended
      await Promise.all(Array.from({ length: 4 }, (_, n) => trail.record(record(n, 'backlog'))));
      await new Promise((r) => setTimeout(r, 1500)); // several ticks: 4 rows are under the bound
      expect(await journalled('backlog')).toBe(4);
      await trail.record(record(4, 'backlog'));
      await waitFor('the full backlog indexed', async () => (await indexed('backlog')) === 5);
    } finally {
      await trail.stop();
    }
  });
});
