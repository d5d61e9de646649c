// The FHIR REST API, black-box over HTTP, against both engines: real PostgreSQL and PGlite.
import { http, startGateway, type RunningGateway } from '../../helpers/gateway.js';
import { STORE_KINDS, storeFingerprint } from '../../helpers/database.js';

const patient = (family: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.4.927', value: `MBI-${family}` }],
  name: [{ family, given: ['Ana'] }],
  birthDate: '1950-03-04',
  gender: 'female',
  ...extra,
});

describe.each(STORE_KINDS)('FHIR REST API on %s', (kind) => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway(kind);
  });
  afterAll(async () => {
    await gw?.close();
  });
  const unchanged = async (fn: () => Promise<void>) => {
    const before = await storeFingerprint(gw.testDb.db);
    await fn();
    expect(await storeFingerprint(gw.testDb.db)).toBe(before);
  };

  it('serves a CapabilityStatement listing every R4 type and its search parameters', async () => {
    const r = await http('GET', `${gw.fhir}/metadata`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(r.body.fhirVersion).toBe('4.0.1');
    const types = r.body.rest[0].resource.map((x: { type: string }) => x.type);
    expect(types).toEqual(expect.arrayContaining(['Patient', 'Observation', 'QuestionnaireResponse', 'Consent', 'VisionPrescription']));
    expect(types).not.toContain('SubscriptionStatus'); // R4B, not R4
    expect(types.length).toBe(146);
    const obs = r.body.rest[0].resource.find((x: { type: string }) => x.type === 'Observation');
    expect(obs.searchParam.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['code', 'subject', 'date', 'value-quantity']));
  });

  it('creates, reads, versions, updates with If-Match, deletes and keeps history', async () => {
    const c = await http('POST', `${gw.fhir}/Patient`, patient('Lifecycle'));
    expect(c.status).toBe(201);
    const id = c.body.id as string;
    expect(c.headers.get('location')).toBe(`${gw.fhir}/Patient/${id}/_history/1`);
    expect(c.headers.get('etag')).toBe('W/"1"');

    const read = await http('GET', `${gw.fhir}/Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.name[0].family).toBe('Lifecycle');
    expect(read.body.meta.versionId).toBe('1');

    const u = await http('PUT', `${gw.fhir}/Patient/${id}`, { ...read.body, gender: 'male' }, { 'if-match': 'W/"1"' });
    expect(u.status).toBe(200);
    expect(u.body.meta.versionId).toBe('2');

    const stale = await http('PUT', `${gw.fhir}/Patient/${id}`, { ...read.body, gender: 'other' }, { 'if-match': 'W/"1"' });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');

    const same = await http('PUT', `${gw.fhir}/Patient/${id}`, { ...read.body, gender: 'male' });
    expect(same.body.meta.versionId).toBe('2'); // identical content: no new version

    const v1 = await http('GET', `${gw.fhir}/Patient/${id}/_history/1`);
    expect(v1.body.gender).toBe('female');

    expect((await http('DELETE', `${gw.fhir}/Patient/${id}`)).status).toBe(200);
    const gone = await http('GET', `${gw.fhir}/Patient/${id}`);
    expect(gone.status).toBe(410);
    expect(gone.body.issue[0].code).toBe('deleted');

    const hist = await http('GET', `${gw.fhir}/Patient/${id}/_history`);
    expect(hist.body.type).toBe('history');
    expect(hist.body.total).toBe(3);
    expect(hist.body.entry.map((e: any) => e.response.etag)).toEqual(['W/"3"', 'W/"2"', 'W/"1"']);
    expect((await http('GET', `${gw.fhir}/Patient/does-not-exist`)).status).toBe(404);
  });

  it('creates with a client id on PUT (update as create)', async () => {
    const r = await http('PUT', `${gw.fhir}/Patient/client-chosen-1`, { ...patient('Upsert'), id: 'client-chosen-1' });
    expect(r.status).toBe(201);
    expect(r.body.id).toBe('client-chosen-1');
  });

  it('conditional create returns the existing match instead of a duplicate', async () => {
    const body = patient('Conditional', { identifier: [{ system: 'urn:test:medicaid', value: 'COND-1' }] });
    const h = { 'if-none-exist': 'identifier=urn:test:medicaid|COND-1' };
    const a = await http('POST', `${gw.fhir}/Patient`, body, h);
    const b = await http('POST', `${gw.fhir}/Patient`, body, h);
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
  });

  it('conditional update creates once, then updates the match', async () => {
    const body = patient('CondUpdate', { identifier: [{ system: 'urn:test:medicaid', value: 'CU-1' }] });
    const a = await http('PUT', `${gw.fhir}/Patient?identifier=urn:test:medicaid|CU-1`, body);
    expect(a.status).toBe(201);
    const b = await http('PUT', `${gw.fhir}/Patient?identifier=urn:test:medicaid|CU-1`, { ...body, gender: 'male' });
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.meta.versionId).toBe('2');
  });

  describe('search', () => {
    let pid: string;
    let p2: string;
    beforeAll(async () => {
      pid = (await http('POST', `${gw.fhir}/Patient`, patient('Sörén-Ñúñez', { identifier: [{ system: 'urn:test:mid', value: 'S-1' }], birthDate: '1948-07-01' }))).body.id;
      p2 = (await http('POST', `${gw.fhir}/Patient`, patient('Searchable', { identifier: [{ system: 'urn:test:mid', value: 'S-2' }], birthDate: '1960-01-15' }))).body.id;
      for (const [i, [code, value, date]] of ([
        ['89422-0', 12.5, '2027-03-01'],
        ['89422-0', 9, '2027-04-10T10:00:00Z'],
        ['59460-6', 45, '2027-05-20'],
      ] as const).entries()) {
        await http('POST', `${gw.fhir}/Observation`, {
          resourceType: 'Observation',
          status: 'final',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
          code: { coding: [{ system: 'http://loinc.org', code }] },
          subject: { reference: `Patient/${i === 2 ? p2 : pid}` },
          effectiveDateTime: date,
          valueQuantity: { value, unit: 's', system: 'http://unitsofmeasure.org', code: 's' },
        });
      }
    });
    const ids = (r: any) => (r.body.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => e.resource.id);
    const count = async (q: string) => {
      const r = await http('GET', `${gw.fhir}/${q}`);
      expect(r.status).toBe(200);
      return ids(r).length;
    };

    it('token with and without system, identifier, :not', async () => {
      expect(await count('Observation?code=89422-0')).toBe(2);
      expect(await count('Observation?code=http://loinc.org|89422-0')).toBe(2);
      expect(await count('Observation?code=http://snomed.info/sct|89422-0')).toBe(0);
      expect(await count('Observation?code=89422-0,59460-6')).toBe(3);
      expect(await count('Patient?identifier=urn:test:mid|S-1')).toBe(1);
      expect(await count('Observation?code:not=89422-0&subject=Patient/' + pid)).toBe(0);
    });

    it('string: default prefix, accents, :exact and :contains', async () => {
      expect(await count('Patient?family=soren')).toBe(1);
      expect(await count('Patient?family=SÖREN-Ñ')).toBe(1);
      expect(await count('Patient?family:exact=Sörén-Ñúñez')).toBe(1);
      expect(await count('Patient?family:exact=soren-nunez')).toBe(0);
      expect(await count('Patient?family:contains=nune')).toBe(1);
      expect(await count('Patient?name=ana&family=searchable')).toBe(1);
    });

    it('date prefixes on dateTime and date', async () => {
      expect(await count(`Observation?subject=Patient/${pid}&date=2027-03`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&date=ge2027-03-02`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&date=gt2027-03-01`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&date=le2027-03-01`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&date=lt2027-03-01`)).toBe(0);
      expect(await count(`Observation?subject=Patient/${pid}&date=ne2027-03-01`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&date=eq2027-04-10T10:00:00Z`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&date=ge2027-01-01&date=lt2028-01-01`)).toBe(2);
      expect(await count('Patient?birthdate=lt1950-01-01&identifier=urn:test:mid|S-1')).toBe(1);
    });

    it('reference in all its forms, quantity and number', async () => {
      expect(await count(`Observation?subject=Patient/${pid}`)).toBe(2);
      expect(await count(`Observation?subject=${pid}`)).toBe(2);
      expect(await count(`Observation?subject:Patient=${pid}`)).toBe(2);
      expect(await count(`Observation?subject=${gw.fhir}/Patient/${pid}`)).toBe(2);
      expect(await count(`Observation?patient=${pid}`)).toBe(2);
      expect(await count(`Observation?subject=Patient/${pid}&value-quantity=gt10`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&value-quantity=12.5|http://unitsofmeasure.org|s`)).toBe(1);
      expect(await count(`Observation?subject=Patient/${pid}&value-quantity=le12.5||s`)).toBe(2);
      expect(await count(`Observation?subject=Patient/${pid}&value-quantity=12`)).toBe(0);
    });

    it('chained parameters', async () => {
      expect(await count('Observation?subject:Patient.identifier=urn:test:mid|S-1')).toBe(2);
      expect(await count('Observation?subject:Patient.identifier=urn:test:mid|S-2')).toBe(1);
      expect(await count('Observation?patient.family=searchable')).toBe(1);
      const ambiguous = await http('GET', `${gw.fhir}/Observation?subject.identifier=x`);
      expect(ambiguous.status).toBe(400);
    });

    it('_include and _revinclude', async () => {
      const inc = await http('GET', `${gw.fhir}/Observation?subject=Patient/${pid}&_include=Observation:subject`);
      const included = inc.body.entry.filter((e: any) => e.search.mode === 'include');
      expect(included.map((e: any) => e.resource.id)).toEqual([pid]);
      const rev = await http('GET', `${gw.fhir}/Patient?_id=${pid}&_revinclude=Observation:subject`);
      expect(rev.body.entry.filter((e: any) => e.search.mode === 'include')).toHaveLength(2);
    });

    it('_sort, _count, paging links, _total, _summary=count, _elements, _id, _lastUpdated', async () => {
      const sorted = await http('GET', `${gw.fhir}/Observation?subject=Patient/${pid}&_sort=-date`);
      expect(sorted.body.entry.map((e: any) => e.resource.effectiveDateTime)).toEqual(['2027-04-10T10:00:00Z', '2027-03-01']);
      const page1 = await http('GET', `${gw.fhir}/Observation?code=89422-0,59460-6&_count=2&_total=accurate`);
      expect(page1.body.total).toBe(3);
      expect(ids(page1)).toHaveLength(2);
      const next = page1.body.link.find((l: any) => l.relation === 'next').url;
      const page2 = await http('GET', next);
      expect(ids(page2)).toHaveLength(1);
      expect(new Set([...ids(page1), ...ids(page2)]).size).toBe(3);
      const prev = page2.body.link.find((l: any) => l.relation === 'previous').url;
      expect(ids(await http('GET', prev))).toEqual(ids(page1));
      const c = await http('GET', `${gw.fhir}/Observation?code=89422-0&_summary=count`);
      expect(c.body.total).toBe(2);
      expect(c.body.entry).toBeUndefined();
      const el = await http('GET', `${gw.fhir}/Patient?_id=${pid}&_elements=birthDate`);
      expect(Object.keys(el.body.entry[0].resource).sort()).toEqual(['birthDate', 'id', 'meta', 'resourceType']);
      expect(el.body.entry[0].resource.meta.tag).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SUBSETTED' })]));
      expect(await count(`Patient?_id=${pid},${p2}`)).toBe(2);
      expect(await count(`Patient?_id=${pid}&_lastUpdated=gt2000-01-01`)).toBe(1);
      expect(await count(`Patient?_id=${pid}&_lastUpdated=lt2000-01-01`)).toBe(0);
      const capped = await http('GET', `${gw.fhir}/Observation?_count=100000`);
      expect(capped.status).toBe(200);
      expect(capped.body.link[0].url).toContain('_count=1000');
    });

    it('POST _search with a form body equals GET', async () => {
      const r = await http('POST', `${gw.fhir}/Observation/_search`, `code=89422-0&subject=Patient/${pid}`, {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(r.status).toBe(200);
      expect(ids(r)).toHaveLength(2);
    });

    it('unknown parameters: ignored and reported when lenient, 400 when strict', async () => {
      const lenient = await http('GET', `${gw.fhir}/Patient?_id=${pid}&bogus=1`);
      expect(lenient.status).toBe(200);
      expect(ids(lenient)).toEqual([pid]);
      const oo = lenient.body.entry.find((e: any) => e.search.mode === 'outcome');
      expect(oo.resource.issue[0].diagnostics).toContain('bogus');
      expect(lenient.body.link[0].url).not.toContain('bogus');
      const strict = await http('GET', `${gw.fhir}/Patient?bogus=1`, undefined, { prefer: 'handling=strict' });
      expect(strict.status).toBe(400);
      expect(strict.body.resourceType).toBe('OperationOutcome');
    });

    it('SQL metacharacters and unicode in every kind of value are just values', async () => {
      await unchanged(async () => {
        const nasty = ["'; DROP TABLE resource; --", '%', '_', '\\', 'Robert"); DELETE', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃', "O'Brien", '$1', 'a\u0000b'];
        for (const v of nasty) {
          const q = encodeURIComponent(v);
          for (const path of [`Patient?family=${q}`, `Patient?family:contains=${q}`, `Patient?identifier=${q}`, `Patient?identifier=${q}|${q}`, `Observation?subject=${q}`, `Patient?_id=${q}`, `Observation?subject:Patient.family=${q}`, `Patient?address-city:exact=${q}`]) {
            const r = await http('GET', `${gw.fhir}/${path}`);
            expect([200, 400]).toContain(r.status);
            expect(r.body.resourceType).toBe(r.status === 200 ? 'Bundle' : 'OperationOutcome');
            if (r.status === 200) expect(ids(r)).toEqual([]);
          }
          for (const path of [`Observation?date=${q}`, `Observation?value-quantity=${q}`]) {
            const r = await http('GET', `${gw.fhir}/${path}`);
            expect(r.status).toBe(400);
          }
        }
      });
      expect(await count('Patient?family=soren')).toBe(1);
    });
  });

  describe('bad input gets an OperationOutcome and changes nothing', () => {
    const cases: [string, () => Promise<{ status: number; body: any }>, number][] = [
      ['invalid JSON', () => http('POST', `${gw.fhir}/Patient`, '{"resourceType": "Patient",'), 400],
      ['wrong resourceType for the URL', () => http('POST', `${gw.fhir}/Patient`, { resourceType: 'Observation' }), 400],
      ['id mismatch on PUT', () => http('PUT', `${gw.fhir}/Patient/abc`, { resourceType: 'Patient', id: 'xyz' }), 400],
      ['unknown resource type', () => http('POST', `${gw.fhir}/Patientt`, { resourceType: 'Patientt' }), 404],
      ['invalid resource (bad code)', () => http('POST', `${gw.fhir}/Patient`, { resourceType: 'Patient', gender: 'x' }), 422],
      ['invalid resource (unknown element)', () => http('POST', `${gw.fhir}/Patient`, { resourceType: 'Patient', foo: 1 }), 422],
      ['invalid resource (cardinality)', () => http('POST', `${gw.fhir}/Observation`, { resourceType: 'Observation', status: 'final' }), 422],
      ['unsupported media type', () => http('POST', `${gw.fhir}/Patient`, '<Patient/>', { 'content-type': 'application/fhir+xml' }), 415],
      ['a NUL character in the body', () => http('POST', `${gw.fhir}/Patient`, '{"resourceType":"Patient","gender":"female","name":[{"family":"a\\u0000b"}]}'), 400],
      ['method not allowed', () => http('PATCH', `${gw.fhir}/Patient/abc`, {}), 405],
      ['oversize body', () => http('POST', `${gw.fhir}/Patient`, JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: `<div>${'x'.repeat(17 * 1024 * 1024)}</div>` } })), 413],
      ['transaction with one invalid entry', () => http('POST', `${gw.fhir}`, {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:1', resource: patient('TxOk'), request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:1' }, valueString: 1 }, request: { method: 'POST', url: 'Observation' } },
        ],
      }), 422],
    ];
    it.each(cases)('%s', async (_name, call, status) => {
      await unchanged(async () => {
        const r = await call();
        expect(r.status).toBe(status);
        expect(r.body.resourceType).toBe('OperationOutcome');
        expect(JSON.stringify(r.body)).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
      });
    });

    it('points issue.expression at the offending element', async () => {
      const r = await http('POST', `${gw.fhir}/Patient`, { resourceType: 'Patient', gender: 'x', name: [{ family: 1 }] });
      expect(r.status).toBe(422);
      const exprs = r.body.issue.flatMap((i: any) => i.expression ?? []);
      expect(exprs).toEqual(expect.arrayContaining(['Patient.gender', 'Patient.name[0].family']));
    });
  });

  it('$validate reports problems without storing anything', async () => {
    await unchanged(async () => {
      const bad = await http('POST', `${gw.fhir}/Patient/$validate`, { resourceType: 'Patient', gender: 'x' });
      expect(bad.status).toBe(200);
      expect(bad.body.issue[0].severity).toBe('error');
      const good = await http('POST', `${gw.fhir}/Patient/$validate`, { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient('V') }] });
      expect(good.body.issue.every((i: any) => i.severity !== 'error')).toBe(true);
    });
  });

  describe('transactions and batches', () => {
    it('resolves urn:uuid and conditional references and returns a transaction-response', async () => {
      await http('POST', `${gw.fhir}/Organization`, { resourceType: 'Organization', identifier: [{ system: 'urn:test:org', value: 'MCO-1' }], name: 'MCO' });
      const r = await http('POST', gw.fhir, {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Observation', status: 'final', code: { text: 'gait' }, subject: { reference: 'urn:uuid:p1' }, performer: [{ reference: 'Organization?identifier=urn:test:org|MCO-1' }] }, request: { method: 'POST', url: 'Observation' } },
          { fullUrl: 'urn:uuid:p1', resource: patient('TxRef', { identifier: [{ system: 'urn:test:tx', value: 'T1' }] }), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:test:tx|T1' } },
        ],
      });
      expect(r.status).toBe(200);
      expect(r.body.type).toBe('transaction-response');
      const [obs, pat] = r.body.entry;
      expect(obs.response.status).toBe('201');
      expect(obs.resource.subject.reference).toBe(`Patient/${pat.resource.id}`);
      expect(obs.resource.performer[0].reference).toMatch(/^Organization\/[0-9a-f-]+$/);
    });

    it('commits 1,000 entries atomically, and a failure in entry 999 leaves nothing', async () => {
      const entries = (bad: boolean) =>
        Array.from({ length: 1000 }, (_, i) => ({
          resource: patient(`Bulk${i}`, { identifier: [{ system: 'urn:test:bulk', value: `${bad ? 'B' : 'G'}${i}` }], gender: bad && i === 998 ? 'not-a-gender' : 'female' }),
          request: { method: 'POST', url: 'Patient' },
        }));
      await unchanged(async () => {
        const r = await http('POST', gw.fhir, { resourceType: 'Bundle', type: 'transaction', entry: entries(true) });
        expect(r.status).toBe(422);
        expect(r.body.issue[0].expression[0]).toBe('Bundle.entry[998]');
      });
      const ok = await http('POST', gw.fhir, { resourceType: 'Bundle', type: 'transaction', entry: entries(false) });
      expect(ok.status).toBe(200);
      expect(ok.body.entry).toHaveLength(1000);
      const c = await http('GET', `${gw.fhir}/Patient?identifier=urn:test:bulk|G0,urn:test:bulk|G999&_summary=count`);
      expect(c.body.total).toBe(2);
      const all = await http('GET', `${gw.fhir}/Patient?family=Bulk&_summary=count`);
      expect(all.body.total).toBe(1000);
    }, 300000);

    it('batch entries succeed or fail on their own', async () => {
      const r = await http('POST', gw.fhir, {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: patient('BatchOk'), request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient', gender: 'bad' }, request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient?family=BatchOk' } },
        ],
      });
      expect(r.status).toBe(200);
      expect(r.body.type).toBe('batch-response');
      expect(r.body.entry.map((e: any) => e.response.status)).toEqual(['201', '422', '200']);
    });
  });
});
