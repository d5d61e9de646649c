// Shared risk recomputation against the real PostgreSQL: inputs written through the gateway's
// write path mark the person, the drain writes the one shared RiskAssessment, a changed input
// makes a new version with the new tier, an unrelated write makes none; marks survive a crash
// and a newer input arriving while the person is being recomputed.
import type { RiskAssessment } from '@medplum/fhirtypes';
import { loadConfig } from '../../../src/config/env.js';
import { loadPartners } from '../../../src/config/partners.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import type { Repository } from '../../../src/fhir/store/repository.js';
import { storeRecord } from '../../../src/ingest/pipeline.js';
import type { MappedResource } from '../../../src/mappers/common/types.js';
import { loadProtocol } from '../../../src/risk/protocol.js';
import { drainAll, drainOnce, type RiskDrainOptions } from '../../../src/risk/risk-drain.js';
import { claimPending, completeClaim, markPending, pendingCount, riskInputWriteHook } from '../../../src/risk/risk-pending.js';
import { sharedRiskAssessmentId } from '../../../src/risk/shared-risk-assessment.js';
import { createWritePath } from '../../../src/write-path.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { FIVE_PLAIN_DRUGS, fallsScreen, hcbsAssessment, medicationRisk, person } from '../../support/risk-fixtures.js';

const protocol = loadProtocol();
const NOW = () => new Date('2026-11-01T12:00:00.000Z');
let testDb: TestDatabase;
let repo: Repository;
let drain: RiskDrainOptions;

beforeAll(async () => {
  loadDefinitions();
  testDb = await openTestDatabase('postgres');
  const config = loadConfig({ LOG_LEVEL: 'silent', BASE_URL: 'http://127.0.0.1:1' });
  repo = createWritePath({ config, db: testDb.db, partners: loadPartners(config.partnersFile), hooks: [riskInputWriteHook] }).repo;
  drain = { db: testDb.db, repo, protocol, now: NOW, batchSize: 10, leaseMs: 60000 };
});
afterAll(async () => {
  await testDb.drop();
});

const store = (resources: MappedResource[]) => storeRecord(repo, { resources });
const shared = (msisId: string) => repo.read<RiskAssessment>('RiskAssessment', sharedRiskAssessmentId(person(msisId).id));
const tierOf = (ra: RiskAssessment) => ra.prediction?.[0].qualitativeRisk?.coding?.[0].code;
const scoreOf = (ra: RiskAssessment) => ra.prediction?.[0].extension?.[0].valueInteger;
const versions = async (msisId: string) => (await repo.history('RiskAssessment', sharedRiskAssessmentId(person(msisId).id), { count: 50, offset: 0 })).total;
const pendingFor = async (msisId: string) =>
  (await testDb.db.query('SELECT 1 FROM risk_pending WHERE patient_id = $1', [person(msisId).id])).rows.length === 1;

describe('shared risk recomputation (PostgreSQL)', () => {
  const A = 'SYNRISK0001';
  const screen = (answers: Record<string, string>, action: 'new' | 'amend' = 'new') =>
    fallsScreen({ msisId: A, screenId: 'RS1', date: '2026-10-01', tool: 'STEADI_SI12', answers, action });

  it('writing an input marks the person in the same transaction; the drain writes the shared RiskAssessment', async () => {
    await store(screen({ SI01: 'Y', SI02: 'Y' })); // positive, fallen in the past year: 3 + 2
    expect(await pendingFor(A)).toBe(true);
    const counts = await drainAll(drain);
    expect(counts).toMatchObject({ claimed: 1, created: 1, failed: 0 });
    expect(await pendingCount(testDb.db)).toBe(0);

    const ra = await shared(A);
    expect(ra.meta?.versionId).toBe('1');
    expect(ra).toMatchObject({ status: 'final', subject: { reference: `Patient/${person(A).id}` }, occurrenceDateTime: NOW().toISOString() });
    expect(ra.method?.coding?.[0]).toMatchObject({ code: protocol.id, version: protocol.version });
    expect([tierOf(ra), scoreOf(ra)]).toEqual(['high', 5]);
    // The inputs: the screen's RiskAssessment, its Condition and the fallen-in-past-year item.
    const basis = (ra.basis ?? []).map((b) => b.reference!.split('/')[0]).sort();
    expect(basis).toEqual(['Condition', 'Observation', 'RiskAssessment']);
    // Through the write path: labelled like any write.
    expect(ra.meta?.tag?.some((t) => t.system?.endsWith('/security-labeler'))).toBe(true);
  });

  it('an unrelated write marks no one and makes no version; an input that changes nothing makes no version either', async () => {
    await store(hcbsAssessment({ msisId: A, assessmentId: 'RA1', date: '2026-09-13', items: [['GG0130A', 'usual_3d', '05']] }).filter((m) => m.resource.resourceType === 'QuestionnaireResponse'));
    await repo.update({ resourceType: 'Organization', id: 'risk-unrelated', identifier: [{ system: 'urn:test', value: '1' }], name: 'Unrelated' });
    expect(await pendingCount(testDb.db)).toBe(0);
    expect((await drainOnce(drain)).claimed).toBe(0);
    // The same screen again (re-ingest): unchanged resources, no hook, no mark.
    await store(screen({ SI01: 'Y', SI02: 'Y' }));
    expect(await pendingCount(testDb.db)).toBe(0);
    // A real input that changes nothing considered (a finding older than the look-back): recomputed, unchanged.
    await store(medicationRisk(A, '2026-01-10', FIVE_PLAIN_DRUGS));
    expect(await pendingFor(A)).toBe(true);
    expect(await drainAll(drain)).toMatchObject({ claimed: 1, unchanged: 1 });
    // An explicit recomputation (lead-gateway risk recompute) of an unchanged person: unchanged.
    await markPending(testDb.db, [person(A).id]);
    expect(await drainAll(drain)).toMatchObject({ claimed: 1, unchanged: 1 });
    expect(await versions(A)).toBe(1);
  });

  it('an amended falls screen turning negative: new version, new tier', async () => {
    await store(screen({ SI03: 'Y' }, 'amend'));
    expect(await drainAll(drain)).toMatchObject({ claimed: 1, updated: 1 });
    const ra = await shared(A);
    expect(ra.meta?.versionId).toBe('2');
    expect([tierOf(ra), scoreOf(ra)]).toEqual(['low', 0]);
    const v1 = await repo.vread<RiskAssessment>('RiskAssessment', ra.id!, '1');
    expect(tierOf(v1)).toBe('high');
  });

  it('a new polypharmacy flag with two FRID classes: new version, medium', async () => {
    await store(medicationRisk(A, '2026-10-20', [...FIVE_PLAIN_DRUGS, 'zolpidem tartrate 10 MG Oral Tablet', 'sertraline 50 MG Oral Tablet']));
    expect(await drainAll(drain)).toMatchObject({ claimed: 1, updated: 1 });
    const ra = await shared(A);
    expect(ra.meta?.versionId).toBe('3');
    expect([tierOf(ra), scoreOf(ra)]).toEqual(['moderate', 3]);
    expect(ra.prediction?.[0].rationale).toMatch(/polypharmacy \+1, frid \+1, multiple-frid \+1/);
    expect(await versions(A)).toBe(3);
  });

  it('a mark made while the person is being recomputed is kept (seq), and a crashed claim is taken again after its lease', async () => {
    const B = 'SYNRISK0002';
    await store(fallsScreen({ msisId: B, screenId: 'RS2', date: '2026-10-02', tool: 'STEADI_3Q', answers: { KQ2: 'Y' } }));
    const [claim] = await claimPending(testDb.db, 10, 60000);
    expect(claim.patientId).toBe(person(B).id);
    // Leased: another worker claims nothing.
    expect(await claimPending(testDb.db, 10, 60000)).toEqual([]);
    // A newer input commits while the claim is held; completing the old claim keeps the mark.
    await store(fallsScreen({ msisId: B, screenId: 'RS3', date: '2026-10-03', tool: 'STEADI_3Q', answers: { KQ1: 'Y' } }));
    await completeClaim(testDb.db, claim);
    expect(await pendingFor(B)).toBe(true);

    // A worker that dies holding a claim: after the lease, another one recomputes the person.
    const [crashed] = await claimPending(testDb.db, 10, 300);
    expect(crashed.patientId).toBe(person(B).id);
    expect((await drainOnce(drain)).claimed).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(await drainOnce(drain)).toMatchObject({ claimed: 1, created: 1 });
    expect(tierOf(await shared(B))).toBe('high'); // screen +3, fall +2
  });

  it('two drains running at once recompute each person exactly once (FOR UPDATE SKIP LOCKED)', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `SYNRISKP${String(i).padStart(3, '0')}`);
    for (const id of ids) await store([{ resource: person(id), mode: 'create-if-absent' }, ...medicationRisk(id, '2026-10-20', FIVE_PLAIN_DRUGS)]);
    expect(await pendingCount(testDb.db)).toBe(12);
    const small = { ...drain, batchSize: 3 };
    const [a, b] = await Promise.all([drainAll(small), drainAll(small)]);
    expect(a.claimed + b.claimed).toBe(12);
    expect(a.created + b.created).toBe(12);
    expect(await pendingCount(testDb.db)).toBe(0);
    for (const id of ids) expect(await versions(id)).toBe(1);
  });

  it('a deleted input marks its person again', async () => {
    const C = 'SYNRISK0003';
    const mapped = fallsScreen({ msisId: C, screenId: 'RS4', date: '2026-10-02', tool: 'STEADI_3Q', answers: { KQ2: 'Y' } });
    await store(mapped);
    await drainAll(drain);
    expect(tierOf(await shared(C))).toBe('moderate');
    const condition = mapped.find((m) => m.resource.resourceType === 'Condition')!.resource;
    const fallRa = mapped.find((m) => m.resource.resourceType === 'RiskAssessment')!.resource;
    await repo.delete('Condition', condition.id);
    await repo.delete('RiskAssessment', fallRa.id);
    expect(await pendingFor(C)).toBe(true);
    await drainAll(drain);
    expect(tierOf(await shared(C))).toBe('low');
  });
});
