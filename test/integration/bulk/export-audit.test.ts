// Bulk export gathers its pages' disclosures into AuditEvents of BULK_AUDIT_EVENT_RESOURCES
// resources, each written while the next pages are processed (ConsentEngine.filterStored with
// deferAudit and a series); every one — the last, partial one too — must be committed before the
// export completes, and one that fails must fail the export and leave no files (fail closed). A
// person is indexed (AuditEvent?patient=) by one AuditEvent per export, not one per page.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import { loadConfig } from '../../../src/config/env.js';
import { loadPartners } from '../../../src/config/partners.js';
import { loadPolicy } from '../../../src/config/policy.js';
import { AuditTrail, type DisclosureRecord } from '../../../src/consent/audit.js';
import { auditEventStore } from '../../../src/consent/audit-events.js';
import { ConsentEngine } from '../../../src/consent/engine.js';
import { Labeler } from '../../../src/consent/labeler.js';
import { loadValueSets } from '../../../src/consent/value-sets.js';
import { trustedAccess } from '../../../src/fhir/access.js';
import { bulkUrls, type BulkContext } from '../../../src/fhir/bulk/bulk-context.js';
import { execExportJob } from '../../../src/fhir/bulk/exec-export-job.js';
import { exportJobs } from '../../../src/fhir/bulk/export-job.js';
import type { ExportQueue } from '../../../src/fhir/bulk/export-queue.js';
import { LocalExportStorage } from '../../../src/fhir/bulk/export-storage.js';
import { kickOff } from '../../../src/fhir/bulk/kick-off.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { parseSearchRequest } from '../../../src/fhir/search/search-request.js';
import type { Database } from '../../../src/fhir/store/database.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { silentLogger } from '../../../src/logger.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/database.js';

let t: TestDatabase;
let dataDir: string;
let patientId: string;
// Pages of 5; an AuditEvent per 10 disclosed resources (two pages): 22 resources → events of 10, 10 and 2.
const config = loadConfig({ DATABASE_URL: 'postgres://unused', LOG_LEVEL: 'silent', BULK_PAGE_SIZE: '5', BULK_AUDIT_EVENT_RESOURCES: '10' });
const fhirBase = 'http://test/fhir';

class FailingAuditTrail extends AuditTrail {
  calls = 0;
  constructor(
    db: Database,
    private readonly failAt: number,
  ) {
    super(db);
  }
  override async record(rec: DisclosureRecord): Promise<void> {
    if (++this.calls === this.failAt) throw new Error('audit store unavailable');
    return super.record(rec);
  }
}

beforeAll(async () => {
  loadDefinitions();
  t = await openTestDatabase('postgres');
  dataDir = mkdtempSync(join(tmpdir(), 'export-audit-'));
  const labeler = new Labeler({ valueSets: loadValueSets(), part2Organizations: new Set() });
  const repo = new Repository(t.db, { prepare: (tx, r) => labeler.prepare(tx, r) });
  const p = (await repo.create({ resourceType: 'Patient', name: [{ family: 'A' }] } as Resource)).resource.id as string;
  patientId = p;
  await repo.create({ resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${p}` }, payor: [{ reference: 'Organization/mco-bluecare' }] } as Resource);
  for (let i = 0; i < 22; i++) {
    await repo.create({ resourceType: 'Observation', status: 'final', code: { text: `o${i}` }, subject: { reference: `Patient/${p}`, display: 'A' } } as Resource);
  }
});

afterAll(async () => {
  await t?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function runExport(audit: AuditTrail): Promise<{ result: string; files: string[]; id: string }> {
  const engine = new ConsentEngine({ db: t.db, partners: loadPartners(config.partnersFile), policy: loadPolicy(), labeler: new Labeler({ valueSets: loadValueSets(), part2Organizations: new Set() }), audit });
  const storage = new LocalExportStorage(dataDir);
  const ctx: BulkContext = {
    db: t.db,
    storage,
    queue: { add: async () => undefined } as unknown as ExportQueue,
    config: config.bulk,
    fhirBase,
    now: () => new Date(),
    requiresAccessToken: true,
    ...bulkUrls(fhirBase),
  };
  const k = await kickOff(
    ctx,
    {
      method: 'GET',
      url: `${fhirBase}/Patient/$export?_type=Observation`,
      query: [['_type', 'Observation']],
      headers: { prefer: 'respond-async' },
      access: trustedAccess,
      requester: { clientId: 'bluecare-care-mgmt', organizationId: 'mco-bluecare', organizationType: 'MCO', purposeOfUse: 'HPAYMT' },
    },
    { kind: 'patient' },
  );
  const id = (k.headers?.['Content-Location'] as string).split('/').pop() as string;
  const result = await execExportJob({ db: t.db, storage, config: config.bulk, fhirBase, logger: silentLogger, consent: engine }, id);
  let files: string[] = [];
  try {
    files = readdirSync(join(dataDir, id));
  } catch {
    /* no directory: no files */
  }
  return { result, files, id };
}

// Read from the audit trail's table directly.
const auditEvents = async (): Promise<number> => (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event')).rows[0].n;

it('completes with one committed AuditEvent per BULK_AUDIT_EVENT_RESOURCES disclosed, the rest in a last one', async () => {
  const trail = new AuditTrail(t.db);
  const before = await auditEvents();
  const { result, id } = await runExport(trail);
  expect(result).toBe('completed');
  const job = await exportJobs.get(t.db, id);
  expect(job?.output.reduce((n, f) => n + f.count, 0)).toBe(22);
  expect((await auditEvents()) - before).toBe(3); // 22 resources: 10 + 10 + 2
});

it('fails, with no files, when any of its AuditEvents cannot be written (the last one too)', async () => {
  for (const failAt of [1, 2, 3]) {
    const { result, files, id } = await runExport(new FailingAuditTrail(t.db, failAt));
    expect(result).toBe('failed');
    expect(files).toEqual([]);
    expect((await exportJobs.get(t.db, id))?.output ?? []).toEqual([]);
  }
});

it('indexes each person once per export: AuditEvent?patient= finds the export, whose events list every disclosed resource', async () => {
  const trail = new AuditTrail(t.db);
  const { result, id } = await runExport(trail);
  expect(result).toBe('completed');
  const series = `bulk-export/${id}`;
  // The export's events: each names the export (22 Observations of one person: 10 + 10 + 2).
  const rows = (await t.db.query<{ id: string; people: string[] }>('SELECT id, people FROM audit_event WHERE series = $1', [series])).rows;
  expect(rows).toHaveLength(3);
  // The person is listed by one of the export's events, though they are on all five pages.
  expect(rows.map((r) => r.people).flat()).toEqual([patientId]);
  // AuditEvent?patient=<person>, through the search engine, finds the export's disclosure.
  const repo = new Repository(t.db, { typeStores: [auditEventStore] });
  const events = await Promise.all(rows.map(async (r) => ({ id: r.id, content: (await repo.readText('AuditEvent', r.id)).content })));
  const found = await repo.search(parseSearchRequest('AuditEvent', [['patient', `Patient/${patientId}`], ['_count', '1000']], { strict: true, defaultCount: 50, maxCount: 1000 }));
  const hit = found.matches.filter((m) => events.some((e) => e.id === m.id));
  expect(hit).toHaveLength(1);
  // … and from it the export's other events (entity-name), which together list all 22 resources.
  const byName = await repo.search(parseSearchRequest('AuditEvent', [['entity-name:exact', series], ['_count', '1000']], { strict: true, defaultCount: 50, maxCount: 1000 }));
  expect(byName.matches.map((m) => m.id).sort()).toEqual(events.map((e) => e.id).sort());
  const disclosed = events.flatMap((e) => {
    const ev = JSON.parse(e.content) as AuditEvent;
    return (ev.entity ?? []).flatMap((en) => (en.detail ?? []).filter((d) => d.type === 'disclosed').flatMap((d) => (d.valueString ?? '').split(' ')));
  });
  expect(disclosed).toHaveLength(22);
  expect(new Set(disclosed).size).toBe(22);
  expect(disclosed.every((r) => r.startsWith('Observation/'))).toBe(true);
});
