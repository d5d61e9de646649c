// AuditTrail's group commit: disclosures recorded while the statements in flight are busy go to
// the database together, each record() settles only once its own event is committed, and a
// statement that fails takes every event of its group with it (none on record, every caller
// told) — never a disclosure reported as audited that is not.
import { AuditTrail, type DisclosureRecord } from '../../../src/consent/audit.js';
import type { Database, QueryOptions, QueryResult } from '../../../src/fhir/store/database.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
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

/** The database, counting the audit statements and failing them on demand. */
function instrumented(db: Database): { db: Database; statements: number[]; failNext: () => void } {
  const statements: number[] = [];
  let fail = false;
  const wrapped: Database = Object.create(db) as Database;
  wrapped.query = async <T>(text: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>> => {
    if (text.includes('INSERT INTO resource_history')) {
      statements.push(Array.isArray(params?.[0]) ? (params[0] as unknown[]).length : 1);
      if (fail) {
        fail = false;
        // A real failing statement: the whole group rolls back inside PostgreSQL / PGlite.
        return db.query<T>(`${text} UNION ALL SELECT NULL, 1 / 0`, params, opts);
      }
    }
    return db.query<T>(text, params, opts);
  };
  return { db: wrapped, statements, failNext: () => (fail = true) };
}

const events = async (db: Database, patient: string): Promise<number> =>
  (
    await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM idx_reference WHERE resource_type = 'AuditEvent' AND param = 'entity' AND target_type = 'Patient' AND target_id = $1`,
      [patient],
    )
  ).rows[0].n;

describe.each(STORE_KINDS)('AuditTrail group commit (%s)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    loadDefinitions();
    t = await openTestDatabase(kind);
  });
  afterAll(() => t.drop());

  it('a lone disclosure is one statement of one event', async () => {
    const i = instrumented(t.db);
    const trail = new AuditTrail(new Repository(i.db, { baseUrl: 'http://test/fhir' }), undefined, { concurrency: 1, maxBatch: 32 });
    await trail.record(record(1, 'lone'));
    expect(i.statements).toEqual([1]);
    expect(await events(t.db, 'lone')).toBe(1);
  });

  it('disclosures recorded while a statement is in flight are written together, each one on record', async () => {
    const i = instrumented(t.db);
    const trail = new AuditTrail(new Repository(i.db, { baseUrl: 'http://test/fhir' }), undefined, { concurrency: 1, maxBatch: 8 });
    await Promise.all(Array.from({ length: 21 }, (_, n) => trail.record(record(n, 'busy'))));
    // The first goes alone; the 20 that arrived meanwhile go 8, 8 and 4 at a time.
    expect(i.statements).toEqual([1, 8, 8, 4]);
    expect(await events(t.db, 'busy')).toBe(21);
    const stored = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM resource r JOIN resource_history h USING (resource_type, id)
        WHERE r.resource_type = 'AuditEvent' AND r.content->'entity'->0->'what'->>'reference' = 'Patient/busy'`,
    );
    expect(stored.rows[0].n).toBe(21);
  });

  it('a failing statement rejects every disclosure of its group and writes none of them', async () => {
    const i = instrumented(t.db);
    const trail = new AuditTrail(new Repository(i.db, { baseUrl: 'http://test/fhir' }), undefined, { concurrency: 1, maxBatch: 8 });
    const first = trail.record(record(0, 'failed-first'));
    i.failNext(); // the group written after the first one
    const group = Array.from({ length: 5 }, (_, n) => trail.record(record(n, 'failed-group')));
    await expect(first).resolves.toBeUndefined();
    const settled = await Promise.allSettled(group);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    expect(i.statements).toEqual([1, 5]);
    expect(await events(t.db, 'failed-first')).toBe(1);
    expect(await events(t.db, 'failed-group')).toBe(0);
    // The trail goes on after a failure.
    await trail.record(record(9, 'after'));
    expect(await events(t.db, 'after')).toBe(1);
  });
});
