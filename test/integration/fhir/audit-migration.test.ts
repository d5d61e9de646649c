// Migration 13 moves the audit into audit_event: the journal's rows not yet indexed, and the
// AuditEvents already indexed as resources (kept whole, their resource, history and index rows
// removed). Afterwards both are read, searched and exported as before: the journal's as the
// AuditEvent auditEventFor makes, the indexed ones exactly as they were stored.
import type { AuditEvent } from '@medplum/fhirtypes';
import { auditEventFor, packDisclosed, type DisclosureRecord } from '../../../src/consent/audit.js';
import { auditEventStore } from '../../../src/consent/audit-events.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { parseSearchRequest } from '../../../src/fhir/search/search-request.js';
import { openPglite, openPostgres, type Database } from '../../../src/fhir/store/database.js';
import { migrate } from '../../../src/fhir/store/migrations.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { dropSchema, newSchemaName, STORE_KINDS, TEST_DATABASE_URL } from '../../helpers/database.js';

const record = (patient: string, over: Partial<DisclosureRecord> = {}): DisclosureRecord => ({
  recipient: { organizationId: 'mco-bluecare', organizationType: 'MCO', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' },
  channel: 'search',
  disclosed: [`Observation/o-${patient}/_history/1`, `Condition/c-${patient}/_history/3`],
  withheld: 2,
  patientIds: [patient],
  basedOn: ['https://lead-gateway.example.org/fhir/policy/default', 'Consent/k1'],
  rules: ['tpo', 'part2-consent'],
  ...over,
});

describe.each(STORE_KINDS)('migration 13: the audit moves to audit_event (%s)', (kind) => {
  let db: Database;
  let schema: string | undefined;
  beforeAll(async () => {
    loadDefinitions();
    if (kind === 'pglite') db = await openPglite({});
    else {
      schema = newSchemaName();
      db = await openPostgres({ connectionString: TEST_DATABASE_URL, schema });
    }
    await migrate(db, 12);
  });
  afterAll(async () => {
    await db?.close();
    if (schema) await dropSchema(schema);
  });

  it('moves journal rows and indexed AuditEvents, removes their resource rows, and serves both', async () => {
    // Before: one disclosure still in the journal, one indexed as a resource (with its index rows).
    const journalled = record('p1', { series: 'bulk-export/j1', channel: 'bulk-export' });
    await db.query('INSERT INTO audit_journal (entry) VALUES ($1)', [
      JSON.stringify({ id: 'journal-1', recorded: '2027-02-01T10:00:00.000Z', record: { ...journalled, disclosed: packDisclosed(journalled.disclosed) } }),
    ]);
    const indexedEvent = { ...auditEventFor(record('p2'), new Date('2027-01-15T08:00:00.000Z')), id: 'indexed-1' };
    const { resource: stored } = await new Repository(db).update(indexedEvent as AuditEvent);
    const indexRows = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM idx_reference WHERE resource_type = 'AuditEvent'");
    expect(indexRows.rows[0].n).toBeGreaterThan(0);

    await migrate(db);

    const left = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM resource WHERE resource_type = 'AuditEvent') + (SELECT count(*) FROM resource_history WHERE resource_type = 'AuditEvent')
            + (SELECT count(*) FROM idx_reference WHERE resource_type = 'AuditEvent') + (SELECT count(*) FROM idx_token WHERE resource_type = 'AuditEvent')
            + (SELECT count(*) FROM idx_date WHERE resource_type = 'AuditEvent') + (SELECT count(*) FROM idx_uri WHERE resource_type = 'AuditEvent') AS n`,
    );
    expect(Number(left.rows[0].n)).toBe(0);
    expect((await db.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'audit_journal'")).rows).toEqual([]);

    const repo = new Repository(db, { typeStores: [auditEventStore] });
    expect(await repo.read('AuditEvent', 'journal-1')).toEqual({
      ...auditEventFor(journalled, new Date('2027-02-01T10:00:00.000Z')),
      id: 'journal-1',
      meta: { versionId: '1', lastUpdated: '2027-02-01T10:00:00.000Z' },
    });
    expect(await repo.read('AuditEvent', 'indexed-1')).toEqual(stored);
    // Found by the accounting's parameters, whichever way they came.
    const ids = async (q: [string, string][]): Promise<string[]> =>
      (await repo.search(parseSearchRequest('AuditEvent', q, { strict: true, defaultCount: 50, maxCount: 100 }))).matches.map((m) => m.id).sort();
    expect(await ids([['patient', 'Patient/p1,Patient/p2']])).toEqual(['indexed-1', 'journal-1']);
    expect(await ids([['agent', 'Organization/mco-bluecare'], ['altid', 'bluecare-care-mgmt'], ['policy', 'Consent/k1']])).toEqual(['indexed-1', 'journal-1']);
    expect(await ids([['subtype', 'part2-consent'], ['date', 'lt2027-02-01']])).toEqual(['indexed-1']);
    expect(await ids([['entity-name:exact', 'bulk-export/j1'], ['subtype', 'bulk-export']])).toEqual(['journal-1']);
  });
});
