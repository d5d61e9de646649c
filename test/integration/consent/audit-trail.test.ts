// AuditTrail: a disclosure's AuditEvent is committed as one audit_event row before record()
// resolves — disclosures recorded while the statements in flight are busy go together, and a
// statement that fails takes every event of its group with it (none on record, every caller
// told) — and a Repository serving the type through auditEventStore finds it at once: read,
// vread, history and the accounting's search. The API cannot write AuditEvents.
import type { AuditEvent } from '@medplum/fhirtypes';
import { AuditTrail, type AuditWriteOptions, type DisclosureRecord } from '../../../src/consent/audit.js';
import { auditEventStore } from '../../../src/consent/audit-events.js';
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
      return run<T>(`${text} UNION ALL SELECT 1 / 0`, params, opts);
    }) as Database['query'];
  wrapped.query = wrap(db.query.bind(db));
  wrapped.transaction = (fn) => db.transaction((tx) => fn({ ...tx, query: wrap(tx.query.bind(tx)) }));
  return { db: wrapped, statements, failNext: () => (fail = true) };
}

const INSERT = 'INSERT INTO audit_event';

describe.each(STORE_KINDS)('AuditTrail (%s)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    loadDefinitions();
    t = await openTestDatabase(kind);
  });
  afterAll(() => t.drop());

  const trailOn = (db: Database, opts: Partial<AuditWriteOptions> = {}): AuditTrail => new AuditTrail(db, undefined, opts);
  /** Rows on record about a person. */
  const onRecord = async (patient: string): Promise<number> =>
    (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_event WHERE $1 = ANY(people)`, [patient])).rows[0].n;
  const search = (repo: Repository, patient: string) =>
    repo.search(parseSearchRequest('AuditEvent', [['patient', `Patient/${patient}`], ['_count', '1000']], { strict: true, defaultCount: 50, maxCount: 1000 }));
  it('a lone disclosure is one statement of one event, committed before record() resolves', async () => {
    const i = instrumented(t.db, INSERT);
    await trailOn(i.db, { concurrency: 1, maxBatch: 32 }).record(record(1, 'lone'));
    expect(i.statements).toEqual([1]);
    expect(await onRecord('lone')).toBe(1);
  });

  it('disclosures recorded while a statement is in flight are written together, each one on record', async () => {
    const i = instrumented(t.db, INSERT);
    const trail = trailOn(i.db, { concurrency: 1, maxBatch: 8 });
    await Promise.all(Array.from({ length: 21 }, (_, n) => trail.record(record(n, 'busy'))));
    // The first goes alone; the 20 that arrived meanwhile go 8, 8 and 4 at a time.
    expect(i.statements).toEqual([1, 8, 8, 4]);
    expect(await onRecord('busy')).toBe(21);
  });

  it('a failing statement rejects every disclosure of its group and writes none of them', async () => {
    const i = instrumented(t.db, INSERT);
    const trail = trailOn(i.db, { concurrency: 1, maxBatch: 8 });
    const first = trail.record(record(0, 'failed-first'));
    i.failNext(); // the group written after the first one
    const group = Array.from({ length: 5 }, (_, n) => trail.record(record(n, 'failed-group')));
    await expect(first).resolves.toBeUndefined();
    const settled = await Promise.allSettled(group);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    expect(i.statements).toEqual([1, 5]);
    expect(await onRecord('failed-first')).toBe(1);
    expect(await onRecord('failed-group')).toBe(0);
    // The trail goes on after a failure.
    await trail.record(record(9, 'after'));
    expect(await onRecord('after')).toBe(1);
  });

  it('a Repository serving AuditEvents from the trail finds each disclosure as soon as record() resolves', async () => {
    const trail = trailOn(t.db);
    const repo = new Repository(t.db, { typeStores: [auditEventStore] });
    for (let n = 0; n < 3; n++) {
      await trail.record(record(n, 'at-once'));
      expect((await search(repo, 'at-once')).matches).toHaveLength(n + 1);
    }
    const found = (await search(repo, 'at-once')).matches;
    const ev = JSON.parse(found[0].content) as AuditEvent;
    expect(ev).toMatchObject({
      resourceType: 'AuditEvent',
      id: found[0].id,
      meta: { versionId: '1' },
      outcomeDesc: 'disclosed 1, withheld 0',
      entity: [{ what: { reference: 'Patient/at-once' } }, { detail: [{ type: 'disclosed', valueString: 'Observation/o0/_history/1' }] }],
    });
    // read, vread and history give that same AuditEvent, its one version.
    await expect(repo.read('AuditEvent', ev.id as string)).resolves.toEqual(ev);
    await expect(repo.vread('AuditEvent', ev.id as string, '1')).resolves.toEqual(ev);
    await expect(repo.vread('AuditEvent', ev.id as string, '2')).rejects.toMatchObject({ status: 404 });
    const history = await repo.history('AuditEvent', ev.id as string, { count: 10, offset: 0 });
    expect(history.total).toBe(1);
    expect(history.versions.map((v) => [v.versionId, v.deleted, JSON.parse(v.content as string)])).toEqual([['1', false, ev]]);
    await expect(repo.read('AuditEvent', 'no-such-event')).rejects.toMatchObject({ status: 404 });
    // Inside a transaction too.
    await expect(repo.withTransaction((tx) => search(tx, 'at-once'))).resolves.toMatchObject({ matches: found });
  });

  it('AuditEvents cannot be created, changed or deleted through the Repository (405), and nothing is written', async () => {
    const trail = trailOn(t.db);
    await trail.record(record(0, 'read-only'));
    const repo = new Repository(t.db, { typeStores: [auditEventStore] });
    const [m] = (await search(repo, 'read-only')).matches;
    const ev = JSON.parse(m.content) as AuditEvent;
    const forged = { ...ev, outcomeDesc: 'disclosed 0, withheld 0' };
    await expect(repo.create({ ...forged, id: undefined })).rejects.toMatchObject({ status: 405 });
    await expect(repo.update(forged)).rejects.toMatchObject({ status: 405 });
    await expect(repo.updateAll([forged])).rejects.toMatchObject({ status: 405 });
    await expect(repo.delete('AuditEvent', ev.id as string)).rejects.toMatchObject({ status: 405 });
    await expect(repo.read('AuditEvent', ev.id as string)).resolves.toEqual(ev);
    expect(await onRecord('read-only')).toBe(1);
    const stored = await t.db.query<{ n: number }>("SELECT count(*)::int AS n FROM resource WHERE resource_type = 'AuditEvent'");
    expect(stored.rows[0].n).toBe(0);
  });
});
