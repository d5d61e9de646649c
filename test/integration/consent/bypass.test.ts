// The consent bypass paths of consent-security.md §4.3, over HTTP against the real gateway
// (SMART tokens from the demo partner keys, PostgreSQL, Redis, the in-process export worker).
// Fixture: person P has an opioid use disorder Condition (F11.20, Part 2), an Encounter at a Part 2
// program, a Provenance about the Condition, a hypertension Condition and an HbA1c (normal data).
// BlueCare (MCO, HPAYMT, covers P, no Part 2 consent) and Metro HIE (TREAT, P's HIE) must get
// only the normal data, and every answer must look as if the SUD data did not exist.
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import { http } from '../../helpers/gateway.js';
import { downloadAll, runExport, startBulkGateway, type BulkFixture } from '../bulk/helpers.js';

const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';
let fx: BulkFixture;
let fhir: string;
let admin: string;
let bluecare: string;
let greenway: string;
let hie: string;
const ids: Record<string, string> = {};

const as = (t: string) => ({ authorization: `Bearer ${t}` });
async function create(resource: Record<string, unknown>): Promise<string> {
  const r = await http('POST', `${fhir}/${resource.resourceType as string}`, resource, as(admin));
  if (r.status !== 201) throw new Error(`create ${String(resource.resourceType)}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}
const get = (path: string, token: string, headers: Record<string, string> = {}) => http('GET', `${fhir}/${path}`, undefined, { ...as(token), ...headers });
const entryIds = (bundle: any): string[] => (bundle.entry ?? []).filter((e: any) => e.resource?.resourceType !== 'OperationOutcome').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
/** A search answer with the parts that legitimately differ between two queries removed. */
const shape = (bundle: any) => ({ ...bundle, link: (bundle.link ?? []).map((l: any) => l.relation), entry: bundle.entry?.length ?? 0 });

beforeAll(async () => {
  fx = await startBulkGateway('postgres');
  fhir = fx.gw.fhir;
  admin = await fx.token('sma-admin', 'system/*.cruds');
  bluecare = await fx.token('bluecare-care-mgmt', 'system/Patient.rs system/Observation.rs system/Condition.rs system/QuestionnaireResponse.cruds');
  greenway = await fx.token('greenway-care-mgmt', 'system/Patient.read system/Observation.read');
  hie = await fx.token('metro-hie', 'system/Patient.rs system/Encounter.cruds system/Condition.cruds system/Observation.cruds');

  for (const id of ['sma-state', 'mco-bluecare', 'mco-greenway', 'hie-metro', 'aco-riverside']) {
    await http('PUT', `${fhir}/Organization/${id}`, { resourceType: 'Organization', id, name: id }, as(admin));
  }
  const person = (family: string) => ({ resourceType: 'Patient', name: [{ family }], generalPractitioner: [{ reference: 'Organization/hie-metro' }] });
  ids.p = await create(person('Protected'));
  ids.other = await create({ resourceType: 'Patient', name: [{ family: 'Elsewhere' }] });
  ids.optedOut = await create(person('OptedOut'));
  ids.consented = await create(person('Consented'));
  for (const p of [ids.p, ids.optedOut, ids.consented]) {
    await create({ resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${p}` }, payor: [{ reference: 'Organization/mco-bluecare' }] });
  }
  const cond = (p: string, code: string, display: string) =>
    create({
      resourceType: 'Condition',
      subject: { reference: `Patient/${p}`, display: 'Pat Protected' },
      code: { coding: [{ system: ICD, code, display }] },
      recordedDate: '2027-01-15',
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${display}</div>` },
    });
  ids.sud = await cond(ids.p, 'F11.20', 'Opioid dependence, uncomplicated');
  ids.htn = await cond(ids.p, 'I10', 'Essential hypertension');
  ids.a1c = await create({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '4548-4' }] },
    subject: { reference: `Patient/${ids.p}` },
    performer: [{ reference: 'Organization/sma-state', display: 'Acme Methadone Clinic' }],
    valueQuantity: { value: 6.1, unit: '%' },
  });
  ids.otp = await create({
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: `Patient/${ids.p}` },
    serviceProvider: { reference: 'Organization/aco-riverside' },
  });
  ids.prov = await create({ resourceType: 'Provenance', target: [{ reference: `Condition/${ids.sud}` }], recorded: '2027-01-15T00:00:00Z', agent: [{ who: { reference: 'Organization/sma-state' } }] });
  ids.otherObs = await create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${ids.other}` } });
  ids.optedOutObs = await create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${ids.optedOut}` } });
  ids.consentedSud = await cond(ids.consented, 'F11.20', 'Opioid dependence');
});

afterAll(async () => {
  await fx?.close();
});

describe('labels on write', () => {
  it('stores the SUD Condition as R + SUD + 42CFRPart2 and the hypertension as N', async () => {
    const sud = await get(`Condition/${ids.sud}`, admin);
    expect(sud.status).toBe(404); // even the SMA needs a Part 2 consent
    const row = await fx.gw.gateway.repo.read('Condition', ids.sud);
    expect(row.meta?.security?.map((c) => c.code)).toEqual(['R', '42CFRPart2', 'OPIOIDUD', 'SUD']);
    const htn = await get(`Condition/${ids.htn}`, admin);
    expect(htn.body.meta.security).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }]);
  });

  it('labels the Encounter at the Part 2 program and the Provenance about the SUD Condition', async () => {
    const enc = await fx.gw.gateway.repo.read('Encounter', ids.otp);
    expect(enc.meta?.security?.map((c) => c.code)).toEqual(['R', '42CFRPart2', 'SSP']);
    const prov = await fx.gw.gateway.repo.read('Provenance', ids.prov);
    expect(prov.meta?.security?.map((c) => c.code)).toContain('SUD');
  });

  it('C20: a client cannot lower labels or send an unknown label system', async () => {
    const qr = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: { reference: `Patient/${ids.p}` },
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] },
      item: [{ linkId: 'dx', answer: [{ valueCoding: { system: ICD, code: 'F11.20' } }] }],
    };
    const w = await http('POST', `${fhir}/QuestionnaireResponse`, qr, as(bluecare));
    expect(w.status).toBe(201);
    expect(w.body.meta.security.map((c: any) => c.code)).toEqual(['R', '42CFRPart2', 'OPIOIDUD', 'SUD']);
    // …and the writer itself now needs a Part 2 consent to read it back.
    expect((await get(`QuestionnaireResponse/${w.body.id}`, bluecare)).status).toBe(404);
    const bad = await http('POST', `${fhir}/QuestionnaireResponse`, { ...qr, meta: { security: [{ system: 'http://example.org/x', code: 'OK' }] } }, as(bluecare));
    expect(bad.status).toBe(422);
  });
});

describe('read paths', () => {
  it('C14: a withheld read is the same 404 as a missing one (and no 304 via If-None-Match)', async () => {
    const hidden = await get(`Condition/${ids.sud}`, bluecare);
    const missing = await get('Condition/no-such-condition', bluecare);
    expect(hidden.status).toBe(404);
    expect(JSON.stringify(hidden.body).replace(ids.sud, 'X')).toBe(JSON.stringify(missing.body).replace('no-such-condition', 'X'));
    expect(hidden.headers.get('etag')).toBeNull();
    expect((await get(`Condition/${ids.sud}`, bluecare, { 'if-none-match': 'W/"1"' })).status).toBe(404);
  });

  it('permits normal data with narrative dropped and Reference.display scrubbed (C12)', async () => {
    const htn = await get(`Condition/${ids.htn}`, bluecare);
    expect(htn.status).toBe(200);
    expect(htn.body.text).toBeUndefined();
    expect(htn.body.subject).toEqual({ reference: `Patient/${ids.p}` });
    const a1c = await get(`Observation/${ids.a1c}`, bluecare);
    expect(a1c.body.performer).toEqual([{ reference: 'Organization/sma-state' }]);
  });

  it('C6: _elements and _summary do not reveal a withheld resource', async () => {
    expect((await get(`Condition/${ids.sud}?_elements=id`, bluecare)).status).toBe(404);
    expect((await get(`Condition/${ids.sud}?_summary=true`, bluecare)).status).toBe(404);
  });

  it('C7: vread of the labelled version is 404; instance history is refused the same way for any id', async () => {
    expect((await get(`Condition/${ids.sud}/_history/1`, bluecare)).status).toBe(404);
    const h1 = await get(`Condition/${ids.sud}/_history`, bluecare);
    const h2 = await get(`Condition/${ids.htn}/_history`, bluecare);
    const h3 = await get('Condition/no-such-condition/_history', bluecare);
    expect([h1.status, h2.status, h3.status]).toEqual([403, 403, 403]);
    expect(h1.body).toEqual(h3.body);
  });

  it('T12: a person outside the relationship does not exist for the organization', async () => {
    expect((await get(`Patient/${ids.other}`, bluecare)).status).toBe(404);
    expect((await get(`Observation/${ids.otherObs}`, bluecare)).status).toBe(404);
    expect((await get(`Patient/${ids.p}`, greenway)).status).toBe(404);
    expect((await get(`Observation/${ids.a1c}`, greenway)).status).toBe(404);
    expect((await get(`Patient/${ids.p}`, bluecare)).status).toBe(200);
  });
});

describe('search paths', () => {
  it('returns only the normal data, with no total', async () => {
    const r = await get(`Condition?patient=${ids.p}`, bluecare);
    expect(r.status).toBe(200);
    expect(entryIds(r.body)).toEqual([`Condition/${ids.htn}`]);
    expect(r.body.total).toBeUndefined();
  });

  it('C4: a search by the sensitive code looks exactly like a search for a code nobody has', async () => {
    const sud = await get(`Condition?patient=${ids.p}&code=${ICD}|F11.20`, bluecare);
    const none = await get(`Condition?patient=${ids.p}&code=${ICD}|ZZZ`, bluecare);
    expect(sud.status).toBe(200);
    expect(shape(sud.body)).toEqual(shape(none.body));
    expect(sud.body.entry ?? []).toEqual([]);
  });

  it('C1: _include and _revinclude are filtered like matches', async () => {
    const r = await get(`Patient?_id=${ids.p}&_revinclude=Condition:subject`, bluecare);
    expect(entryIds(r.body)).toEqual([`Condition/${ids.htn}`, `Patient/${ids.p}`].sort());
    const enc = await get(`Patient?_id=${ids.p}&_revinclude=Encounter:subject`, hie);
    expect(entryIds(enc.body)).toEqual([`Patient/${ids.p}`]);
    const iter = await get(`Condition?_id=${ids.htn},${ids.sud}&_include=Condition:subject&_revinclude:iterate=Condition:subject`, bluecare);
    expect(entryIds(iter.body)).not.toContain(`Condition/${ids.sud}`);
  });

  it('C2, C3, C13: _has, chained parameters and _security search are refused whatever the data', async () => {
    const has1 = await get(`Patient?_id=${ids.p}&_has:Condition:patient:code=F11.20`, bluecare);
    const has2 = await get(`Patient?_id=${ids.p}&_has:Condition:patient:code=ZZZ`, bluecare);
    expect([has1.status, has2.status]).toEqual([400, 400]);
    expect(has1.body).toEqual(has2.body);
    expect((await get('Encounter?service-provider.name=methadone', hie)).status).toBe(400);
    expect((await get('Condition?subject:Patient.name=Protected', bluecare)).status).toBe(400);
    const sec = await get('Condition?_security=http://terminology.hl7.org/CodeSystem/v3-ActCode|SUD', bluecare);
    expect(sec.status).toBe(400);
    expect(JSON.stringify(sec.body)).not.toContain(ids.sud);
  });

  it('C5: counts are refused (_summary=count, _total)', async () => {
    expect((await get(`Condition?patient=${ids.p}&_summary=count`, bluecare)).status).toBe(400);
    expect((await get(`Condition?patient=${ids.p}&_total=accurate`, bluecare)).status).toBe(400);
    expect((await get(`Condition?patient=${ids.p}&_total=estimate`, bluecare)).status).toBe(400);
  });

  it('C6: projections are applied after the decision', async () => {
    const r = await get(`Condition?patient=${ids.p}&_elements=id`, bluecare);
    expect(entryIds(r.body)).toEqual([`Condition/${ids.htn}`]);
    const s = await get(`Condition?patient=${ids.p}&_summary=true`, bluecare);
    expect(entryIds(s.body)).toEqual([`Condition/${ids.htn}`]);
  });

  it('C8: the HIE (treatment) gets the same filtering: no Part 2 Encounter, no SUD Condition', async () => {
    const enc = await get(`Encounter?patient=${ids.p}`, hie);
    expect(entryIds(enc.body)).toEqual([]);
    const cond = await get(`Condition?patient=${ids.p}`, hie);
    expect(entryIds(cond.body)).toEqual([`Condition/${ids.htn}`]);
  });
});

describe('batch and transaction', () => {
  it('filters GET entries of a batch like direct reads and searches', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Condition/${ids.sud}` } },
        { request: { method: 'GET', url: 'Condition/no-such-condition' } },
        { request: { method: 'GET', url: `Condition?patient=${ids.p}` } },
        { request: { method: 'GET', url: `Condition/${ids.sud}/_history/1` } },
      ],
    };
    const r = await http('POST', fhir, bundle, as(bluecare));
    expect(r.status).toBe(200);
    const [hidden, missing, search, vread] = r.body.entry;
    expect(hidden.response.status).toBe('404');
    expect(missing.response.status).toBe('404');
    expect(vread.response.status).toBe('404');
    expect(entryIds(search.resource)).toEqual([`Condition/${ids.htn}`]);
    expect(JSON.stringify(r.body)).not.toContain('F11.20');
  });

  it('filters GET entries of a transaction', async () => {
    const r = await http('POST', fhir, { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: `Condition?patient=${ids.p}` } }] }, as(hie));
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).not.toContain(ids.sud);
  });
});

describe('patient Consent', () => {
  it('an opt-out hides the person from everyone; revoking it takes effect on the next request', async () => {
    expect((await get(`Observation/${ids.optedOutObs}`, hie)).status).toBe(200);
    const consent = {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${ids.optedOut}` },
      dateTime: '2027-01-01T00:00:00Z',
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
      provision: { type: 'deny' },
    };
    const c = await http('POST', `${fhir}/Consent`, consent, as(admin));
    expect(c.status).toBe(201);
    expect(c.body.meta.profile).toContain('https://lead-gateway.example.org/fhir/StructureDefinition/lead-consent');
    // A directive the engine could not evaluate is refused (profile: patient, dateTime, provision).
    const { patient: _p, ...noPatient } = consent;
    expect((await http('POST', `${fhir}/Consent`, noPatient, as(admin))).status).toBe(422);
    expect((await get(`Observation/${ids.optedOutObs}`, hie)).status).toBe(404);
    expect((await get(`Patient/${ids.optedOut}`, bluecare)).status).toBe(404);
    await http('PUT', `${fhir}/Consent/${c.body.id}`, { ...consent, id: c.body.id, status: 'inactive' }, as(admin));
    expect((await get(`Observation/${ids.optedOutObs}`, hie)).status).toBe(200);
  });

  it('C25: a Part 2 consent naming BlueCare discloses the SUD record with NORDSCLCD and the 2.32 notice, to BlueCare only', async () => {
    expect((await get(`Condition/${ids.consentedSud}`, bluecare)).status).toBe(404);
    const c = await http(
      'POST',
      `${fhir}/Consent`,
      {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${ids.consented}` },
        dateTime: '2027-01-01T00:00:00Z',
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
        // Applies only to Part 2 data for BlueCare's payment work; everything else stays under the default policy.
        provision: {
          type: 'permit',
          actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/mco-bluecare' } }],
          purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' }],
          securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: '42CFRPart2' }],
        },
      },
      as(admin),
    );
    expect(c.status).toBe(201);
    const r = await get(`Condition/${ids.consentedSud}`, bluecare);
    expect(r.status).toBe(200);
    expect(r.body.meta.security.map((s: any) => s.code)).toEqual(expect.arrayContaining(['R', 'SUD', '42CFRPart2', 'NORDSCLCD']));
    expect(r.body.meta.extension[0].valueString).toMatch(/42 CFR part 2/);
    expect(r.body.text).toBeUndefined();
    // Other recipients still see nothing; nor does BlueCare see a consent document it is not owed.
    expect((await get(`Condition/${ids.consentedSud}`, hie)).status).toBe(404);
    expect((await get(`Consent/${c.body.id}`, hie)).status).toBe(403); // no Consent scope
  });
});

describe('bulk export (C9)', () => {
  it('writes only the permitted resources to the NDJSON files', async () => {
    const m = await runExport(`${fhir}/Patient/$export?_type=Patient,Condition,Observation`, bluecare);
    const files = await downloadAll(m, bluecare);
    const all = Object.values(files).flat() as Resource[];
    const keys = all.map((r) => `${r.resourceType}/${r.id}`);
    expect(keys).toContain(`Condition/${ids.htn}`);
    expect(keys).not.toContain(`Condition/${ids.sud}`);
    expect(keys).not.toContain(`Patient/${ids.other}`);
    expect(keys).toContain(`Patient/${ids.consented}`);
    // The only SUD record in the files is the consented one, carrying its refrain and notice.
    const sud = all.filter((r) => JSON.stringify(r).includes('F11.20'));
    expect(sud.map((r) => `${r.resourceType}/${r.id}`)).toEqual([`Condition/${ids.consentedSud}`]);
    expect(sud[0].meta?.security?.map((c) => c.code)).toContain('NORDSCLCD');
  });
});

describe('audit', () => {
  it('records every disclosure as an AuditEvent the SMA can search by person and by recipient', async () => {
    await get(`Condition/${ids.htn}`, bluecare);
    const byPerson = await get(`AuditEvent?entity=Patient/${ids.p}&agent=Organization/mco-bluecare&_count=200`, admin);
    expect(byPerson.status).toBe(200);
    const events = byPerson.body.entry.map((e: any) => e.resource);
    expect(events.length).toBeGreaterThan(0);
    const ev = events.find((e: any) => e.entity.some((x: any) => x.detail?.[0].valueString.split(' ').some((ref: string) => ref.startsWith(`Condition/${ids.htn}/_history/`))));
    expect(ev.purposeOfEvent[0].coding[0]).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' });
    expect(ev.agent[0].who.reference).toBe('Organization/mco-bluecare');
    expect(ev.agent[0].altId).toBe('bluecare-care-mgmt');
    expect(ev.outcome).toBe('0');
    // References and codes only: no names, no clinical content.
    expect(JSON.stringify(events)).not.toMatch(/Protected|hypertension|F11\.20/i); // not bare F11: random UUIDs contain "f11"
    // The export above (describe 'bulk export') was audited too, one AuditEvent per page.
    const exportEvents = await get(`AuditEvent?agent=Organization/mco-bluecare&subtype=https://lead-gateway.example.org/fhir/CodeSystem/disclosure-channel|bulk-export`, admin);
    expect(exportEvents.body.entry?.length ?? 0).toBeGreaterThan(0);
  });

  it('an export of AuditEvents kicked off right after a disclosure includes it (on record before the response)', async () => {
    const since = new Date().toISOString();
    expect((await get(`Condition/${ids.htn}`, bluecare)).status).toBe(200);
    const m = await runExport(`${fhir}/Patient/$export?_type=AuditEvent&_since=${since}`, admin);
    const events = (Object.values(await downloadAll(m, admin)).flat() as AuditEvent[]).filter((e) => e.agent?.[0]?.who?.reference === 'Organization/mco-bluecare');
    const refs = events.flatMap((e) => (e.entity ?? []).flatMap((x) => x.detail?.[0]?.valueString?.split(' ') ?? []));
    expect(refs.some((r) => r.startsWith(`Condition/${ids.htn}/_history/`))).toBe(true);
  });

  it('AuditEvents cannot be written through the API, not even by the SMA: 405, nothing changes', async () => {
    const [ev] = (await get(`AuditEvent?entity=Patient/${ids.p}&_count=1`, admin)).body.entry.map((e: any) => e.resource);
    const forged = { ...ev, outcomeDesc: 'disclosed 0, withheld 0' };
    const attempts = [
      await http('POST', `${fhir}/AuditEvent`, { ...forged, id: undefined }, as(admin)),
      await http('PUT', `${fhir}/AuditEvent/${ev.id}`, forged, as(admin)),
      await http('DELETE', `${fhir}/AuditEvent/${ev.id}`, undefined, as(admin)),
      await http('PUT', `${fhir}/AuditEvent?_id=${ev.id}`, forged, as(admin)),
    ];
    for (const r of attempts) {
      expect(r.status).toBe(405);
      expect(r.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] });
    }
    const batch = await http('POST', fhir, { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: `AuditEvent/${ev.id}` } }] }, as(admin));
    expect(batch.body.entry[0].response.status).toMatch(/^405/);
    expect((await get(`AuditEvent/${ev.id}`, admin)).body).toEqual(ev);
    // The CapabilityStatement says so, and lists the search parameters the type answers.
    const cs = (await get('metadata', admin)).body;
    const entry = cs.rest[0].resource.find((r: any) => r.type === 'AuditEvent');
    expect(entry.interaction.map((i: any) => i.code)).toEqual(['read', 'vread', 'history-instance', 'search-type']);
    expect(entry.searchParam.map((p: any) => p.name).sort()).toEqual(['action', 'agent', 'altid', 'date', 'entity', 'entity-name', 'outcome', 'patient', 'policy', 'subtype', 'type']);
    // One it does not answer is refused, not ignored (it would widen the accounting's answer).
    const unsupported = await get('AuditEvent?site=x', admin);
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.issue[0]).toMatchObject({ code: 'not-supported' });
  });

  it('AuditEvents are not disclosed to partners', async () => {
    const all = await fx.token('sma-eligibility', 'system/Patient.rs');
    expect((await get('AuditEvent', all)).status).toBe(403);
  });
});

describe('conditional operations (C15)', () => {
  it('refuses If-None-Exist, conditional update/delete and conditional references to partners, whatever the data', async () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${ids.p}` } };
    const a = await http('POST', `${fhir}/Observation`, obs, { ...as(hie), 'if-none-exist': `Observation?code=${ICD}|F11.20` });
    const b = await http('POST', `${fhir}/Observation`, obs, { ...as(hie), 'if-none-exist': `Observation?code=${ICD}|ZZZ` });
    expect([a.status, b.status]).toEqual([403, 403]);
    expect(a.body).toEqual(b.body);
    expect((await http('PUT', `${fhir}/Condition?code=${ICD}|F11.20`, { resourceType: 'Condition', subject: { reference: `Patient/${ids.p}` } }, as(hie))).status).toBe(403);
    expect((await http('DELETE', `${fhir}/Condition?code=${ICD}|F11.20`, undefined, as(hie))).status).toBe(403);
    const tx = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'POST', url: 'Observation' }, resource: { ...obs, subject: { reference: `Patient?_id=${ids.other}` } } }],
    };
    expect((await http('POST', fhir, tx, as(hie))).status).toBe(403);
    // The hidden Condition is untouched.
    expect((await fx.gw.gateway.repo.read('Condition', ids.sud)).meta?.versionId).toBe('1');
  });
});

describe('writes by id to hidden data', () => {
  it('neither overwrites nor deletes a resource the caller may not see', async () => {
    const put = await http('PUT', `${fhir}/Condition/${ids.sud}`, { resourceType: 'Condition', id: ids.sud, subject: { reference: `Patient/${ids.p}` } }, as(hie));
    expect(put.status).toBe(404);
    const del = await http('DELETE', `${fhir}/Condition/${ids.sud}`, undefined, as(hie));
    const delMissing = await http('DELETE', `${fhir}/Condition/no-such-condition`, undefined, as(hie));
    expect(del.status).toBe(200);
    expect(JSON.stringify(del.body).replace(ids.sud, 'X')).toBe(JSON.stringify(delMissing.body).replace('no-such-condition', 'X'));
    expect(del.headers.get('etag')).toBeNull();
    expect((await fx.gw.gateway.repo.read('Condition', ids.sud)).meta?.versionId).toBe('1');
  });
});
