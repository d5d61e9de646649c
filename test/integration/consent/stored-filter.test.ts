// ConsentEngine.filterStored — the consent decisions on stored JSON text that search pages and
// bulk export use — must decide exactly as filter() does on the parsed resources, while sending
// plainly permitted rows as their stored text with narrative and Reference.display cut out. The
// shortcuts may never weaken a decision: labelled Part 2 data is withheld (or, with a consent,
// disclosed with its refrain and notice), data labelled by other rules is re-labelled, people
// with Consents are decided on the parsed resource, and any error withholds the whole page.
import type { Consent, Resource } from '@medplum/fhirtypes';
import { loadPartners } from '../../../src/config/partners.js';
import { loadPolicy } from '../../../src/config/policy.js';
import { AuditTrail } from '../../../src/consent/audit.js';
import { auditEventStore } from '../../../src/consent/audit-events.js';
import { ConsentEngine } from '../../../src/consent/engine.js';
import { factsOfStoredText, scanStored, storedFacts } from '../../../src/consent/stored-resource.js';
import { LABELER_TAG_SYSTEM, Labeler } from '../../../src/consent/labeler.js';
import { loadValueSets } from '../../../src/consent/value-sets.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/database.js';

const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';
const BLUECARE = { organizationId: 'mco-bluecare', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' };
const NOTICE_URL = 'https://lead-gateway.example.org/fhir/StructureDefinition/disclosure-notice';

let t: TestDatabase;
let engine: ConsentEngine;
let repo: Repository;
let audit: AuditTrail;
const text: Record<string, string> = {};
/** What the store kept with each stored text (disclosure_facts), where it kept any. */
const facts: Record<string, string | null> = {};
const pid: Record<string, string> = {};

const storedRow = async (type: string, id: string): Promise<{ c: string; f: string | null }> =>
  (await t.db.query<{ c: string; f: string | null }>('SELECT content::text AS c, disclosure_facts AS f FROM resource WHERE resource_type = $1 AND id = $2', [type, id])).rows[0];
const stored = async (type: string, id: string): Promise<string> => (await storedRow(type, id)).c;

const consent = (patient: string, extra: Partial<Consent>): Consent =>
  ({
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` },
    dateTime: '2027-01-01T00:00:00Z',
    ...extra,
  }) as Consent;

beforeAll(async () => {
  loadDefinitions();
  t = await openTestDatabase('postgres');
  const labeler = new Labeler({ valueSets: loadValueSets(), part2Organizations: new Set(['aco-riverside']) });
  audit = new AuditTrail(t.db);
  repo = new Repository(t.db, { prepare: (tx, r) => labeler.prepare(tx, r), baseUrl: 'http://test/fhir', disclosureFacts: factsOfStoredText });
  engine = new ConsentEngine({
    db: t.db,
    partners: loadPartners('config/partners.json'),
    policy: loadPolicy(),
    labeler,
    audit,
  });
  const patient = async (name: string, covered: boolean): Promise<string> => {
    const p = (await repo.create({ resourceType: 'Patient', name: [{ family: name }] } as Resource)).resource.id as string;
    if (covered) await repo.create({ resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${p}` }, payor: [{ reference: 'Organization/mco-bluecare' }] } as Resource);
    return p;
  };
  pid.p = await patient('Covered', true);
  pid.consented = await patient('Consented', true);
  pid.optedOut = await patient('OptedOut', true);
  pid.unrelated = await patient('Unrelated', false);
  const condition = async (key: string, p: string, code: string): Promise<void> => {
    const c = await repo.create({
      resourceType: 'Condition',
      subject: { reference: `Patient/${p}`, display: 'Pat Name' },
      asserter: { reference: 'Practitioner/x', display: 'Dr Who' },
      code: { coding: [{ system: ICD, code, display: code }] },
      recordedDate: '2027-01-15',
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${code} for Pat Name</div>` },
    } as Resource);
    ({ c: text[key], f: facts[key] } = await storedRow('Condition', c.resource.id as string));
  };
  await condition('htn', pid.p, 'I10');
  await condition('sud', pid.p, 'F11.20');
  await condition('consentedSud', pid.consented, 'F11.20');
  await condition('consentedHtn', pid.consented, 'I10');
  await condition('optedOutHtn', pid.optedOut, 'I10');
  await condition('unrelatedHtn', pid.unrelated, 'I10');
  ({ c: text.patient, f: facts.patient } = await storedRow('Patient', pid.p));
  // As stored before the labeler's current rules (another rules version, no sensitivity labels).
  const old = JSON.parse(text.sud) as Resource;
  old.meta = { ...old.meta, security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }], tag: [{ system: LABELER_TAG_SYSTEM, code: 'older-rules' }] };
  // In the store's own layout (jsonb text), so it takes the scan path and is re-labelled there.
  text.oldRulesSud = (await t.db.query<{ c: string }>('SELECT $1::jsonb::text AS c', [JSON.stringify(old)])).rows[0].c;
  await repo.create(consent(pid.optedOut, { policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] }, provision: { type: 'deny' } }));
  await repo.create(
    consent(pid.consented, {
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
      provision: {
        type: 'permit',
        actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/mco-bluecare' } }],
        purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' }],
        securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: '42CFRPart2' }],
      },
    }),
  );
});

afterAll(async () => {
  await t?.drop();
});

const row = (content: string, kept?: string | null) => ({ resourceType: (JSON.parse(content) as Resource).resourceType, content, facts: kept });

// The audit trail's rows, read directly.
const auditCount = async (): Promise<number> => (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event')).rows[0].n;

/**
 * filterStored on texts, checked against filter() on the parsed resources — and, given the facts
 * the store kept with the texts, against itself scanning them: the same texts out.
 */
async function both(keys: string[], recipient = BLUECARE): Promise<(Resource | undefined)[]> {
  const texts = keys.map((k) => text[k]);
  const s = await engine.filterStored(recipient, texts.map((x) => row(x)), 'search');
  const kept = await engine.filterStored(recipient, keys.map((k) => row(text[k], facts[k])), 'search');
  expect(kept).toEqual(s);
  const o = await engine.filter(recipient, texts.map((x) => JSON.parse(x) as Resource), 'search');
  const fromStored = s.texts.filter((x): x is string => x !== undefined).map((x) => JSON.parse(x) as Resource);
  expect(fromStored).toEqual(o.permitted);
  expect(s.withheld).toBe(o.withheld);
  return s.texts.map((x) => (x === undefined ? undefined : (JSON.parse(x) as Resource)));
}

it('the store keeps facts with what the write path writes', () => {
  for (const k of ['htn', 'sud', 'consentedSud', 'optedOutHtn', 'unrelatedHtn', 'patient']) {
    const type = (JSON.parse(text[k]) as Resource).resourceType;
    // Read back for the text every read returns: what a scan of it finds.
    expect(storedFacts(facts[k] as string, text[k], type)).toEqual(scanStored(text[k], type));
  }
});

it('sends normal data as its stored text with narrative and Reference.display cut, deciding as filter() does', async () => {
  const s = await engine.filterStored(BLUECARE, [row(text.htn), row(text.patient)], 'search');
  const [htn, patient] = s.texts;
  // Not re-serialised: still PostgreSQL's jsonb text layout.
  expect(htn).toContain('": "');
  expect(htn).not.toContain('Pat Name');
  expect(htn).not.toContain('Dr Who');
  expect(htn).not.toContain('"text"');
  expect(JSON.parse(htn as string).code.coding[0].display).toBe('I10'); // Coding.display is not a Reference's
  expect(patient).toBe(text.patient); // nothing to cut: the stored text itself
  await both(['htn', 'patient']);
});

it('withholds a labelled Part 2 row on the fast path', async () => {
  expect((await both(['sud', 'htn'])).map((r) => r?.id)).toEqual([undefined, JSON.parse(text.htn).id]);
});

it('re-labels a row labelled by other rules before deciding (withheld as Part 2)', async () => {
  expect(await both(['oldRulesSud'])).toEqual([undefined]);
});

it('decides people with Consents on the parsed resource: Part 2 consent discloses with refrain and notice', async () => {
  const [sud, htn] = await both(['consentedSud', 'consentedHtn']);
  expect(sud?.meta?.security?.map((c) => c.code)).toEqual(expect.arrayContaining(['R', 'SUD', '42CFRPart2', 'NORDSCLCD']));
  expect(sud?.meta?.extension?.find((e) => e.url === NOTICE_URL)?.valueString).toMatch(/42 CFR part 2/);
  expect((sud as { text?: unknown }).text).toBeUndefined();
  expect((sud as { subject?: { display?: string } }).subject?.display).toBeUndefined();
  expect(htn?.id).toBe(JSON.parse(text.consentedHtn).id);
  // The same consent does not reach another recipient.
  expect(await both(['consentedSud'], { organizationId: 'mco-greenway', purposeOfUse: 'HPAYMT', clientId: 'greenway-care-mgmt' })).toEqual([undefined]);
});

it('an opt-out and a missing relationship withhold; revoking the opt-out applies to the next call', async () => {
  expect(await both(['optedOutHtn', 'unrelatedHtn'])).toEqual([undefined, undefined]);
  const c = (await t.db.query<{ id: string }>("SELECT id FROM resource WHERE resource_type = 'Consent' AND content->'provision'->>'type' = 'deny'")).rows[0].id;
  const current = JSON.parse(await stored('Consent', c)) as Consent;
  await repo.update({ ...current, status: 'inactive' });
  expect((await both(['optedOutHtn'])).map((r) => r?.id)).toEqual([JSON.parse(text.optedOutHtn).id]);
  await repo.update({ ...current, status: 'active' });
  expect(await both(['optedOutHtn'])).toEqual([undefined]);
});

it('writes one AuditEvent per call listing the disclosed versions', async () => {
  const before = await auditCount();
  await engine.filterStored(BLUECARE, [row(text.htn), row(text.sud)], 'bulk-export');
  expect(await auditCount()).toBe(before + 1);
  const last = (await t.db.query<{ id: string }>('SELECT id FROM audit_event ORDER BY recorded DESC, id LIMIT 1')).rows[0].id;
  const ev = await new Repository(t.db, { typeStores: [auditEventStore] }).read<any>('AuditEvent', last);
  const htn = JSON.parse(text.htn) as Resource;
  expect(ev.entity.find((e: any) => e.detail)?.detail[0].valueString).toBe(`Condition/${htn.id}/_history/${htn.meta?.versionId}`);
  expect(ev.outcomeDesc).toBe('disclosed 1, withheld 1');
  // Listed for the accounting of disclosures.
  const byPerson = await t.db.query('SELECT 1 FROM audit_event WHERE $1 = ANY(people) AND id = $2', [pid.p, ev.id]);
  expect(byPerson.rows.length).toBe(1);
});

it('fails closed: an unreadable row withholds the whole page', async () => {
  const s = await engine.filterStored(BLUECARE, [row(text.htn), { resourceType: 'Condition', content: '{"id": "c1", "meta": {"versionId": ' }], 'search');
  expect(s.texts).toEqual([undefined, undefined]);
  expect(s.withheld).toBe(2);
});
