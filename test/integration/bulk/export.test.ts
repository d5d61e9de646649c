// Bulk Data $export end to end (Bulk Data Access v2.0.0 export.md): the real gateway with SMART
// auth and the demo partners, real Redis (BullMQ, own prefix), PostgreSQL (own schema), the
// export worker in-process. One describe per concern; the three kick-off levels share cases.
import { gunzipSync } from 'node:zlib';
import type { Resource } from '@medplum/fhirtypes';
import { Queue } from 'bullmq';
import { EXPORT_QUEUE } from '../../../src/fhir/bulk/export-queue.js';
import { download, downloadAll, kickOff, runExport, startBulkGateway, waitForManifest, type BulkFixture } from './helpers.js';

let fx: BulkFixture;
let fhir: string;
let admin: string; // sma-admin: system/*.cruds, SMA (every patient)
let bluecare: string; // MCO mco-bluecare: Patient, Observation, Condition, QuestionnaireResponse, CarePlan
let greenway: string; // MCO mco-greenway

const put = (r: Resource) => fx.gw.gateway.repo.update(r);
const obs = (id: string, patient: string, code: string): Resource =>
  ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: `Patient/${patient}` } }) as Resource;

beforeAll(async () => {
  fx = await startBulkGateway('postgres');
  fhir = fx.gw.fhir;
  for (const org of ['mco-bluecare', 'mco-greenway', 'aco-sunrise']) await put({ resourceType: 'Organization', id: org, name: org } as Resource);
  // p1, p2: BlueCare members; p3: Greenway member, aligned to Sunrise; p4: nobody's.
  for (const p of ['p1', 'p2', 'p3', 'p4']) {
    await put({ resourceType: 'Patient', id: p, gender: 'female', birthDate: '1950-01-01', name: [{ family: `Fam-${p}` }],
      ...(p === 'p3' ? { generalPractitioner: [{ reference: 'Organization/aco-sunrise' }] } : {}) } as Resource);
  }
  const coverage = (id: string, p: string, payor: string, status = 'active'): Resource =>
    ({ resourceType: 'Coverage', id, status, beneficiary: { reference: `Patient/${p}` }, payor: [{ reference: `Organization/${payor}` }] }) as Resource;
  await put(coverage('c1', 'p1', 'mco-bluecare'));
  await put(coverage('c2', 'p2', 'mco-bluecare'));
  await put(coverage('c3', 'p3', 'mco-greenway'));
  await put(coverage('c4', 'p4', 'mco-bluecare', 'cancelled'));
  await put(obs('o1', 'p1', '8867-4'));
  await put(obs('o2', 'p1', '2339-0'));
  await put(obs('o3', 'p2', '8867-4'));
  await put(obs('o4', 'p3', '8867-4'));
  await put(obs('o5', 'p4', '8867-4'));
  await put({ resourceType: 'Condition', id: 'cond1', subject: { reference: 'Patient/p2' }, code: { text: 'x' } } as Resource);
  await put({ resourceType: 'Group', id: 'g1', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/p1' } }, { entity: { reference: 'Patient/p3' } }] } as Resource);
  admin = await fx.token('sma-admin', 'system/*.cruds');
  bluecare = await fx.token('bluecare-care-mgmt', 'system/Patient.rs system/Observation.rs system/Condition.rs');
  greenway = await fx.token('greenway-care-mgmt', 'system/Patient.read system/Observation.read');
}, 60000);

afterAll(async () => {
  await fx?.close();
});

const ids = (rs: any[] | undefined) => (rs ?? []).map((r) => r.id).sort();

describe.each([
  ['system', () => `${fhir}/$export`],
  ['Patient', () => `${fhir}/Patient/$export`],
  ['Group', () => `${fhir}/Group/g1/$export`],
])('kick-off at %s level', (_level, url) => {
  it('answers 202 with an absolute Content-Location, then a manifest of the required shape', async () => {
    const k = await kickOff(url(), admin);
    expect(k.status).toBe(202);
    expect(k.location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir\/bulk-status\/[0-9a-f-]{36}$/);
    const m = await waitForManifest(k.location as string, admin);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^application\/json/);
    expect(m.headers.get('expires')).toBeTruthy();
    expect(Object.keys(m.body).sort()).toEqual(['error', 'output', 'request', 'requiresAccessToken', 'transactionTime']);
    expect(m.body.request).toBe(url());
    expect(m.body.requiresAccessToken).toBe(true);
    expect(m.body.error).toEqual([]);
    for (const o of m.body.output) expect(o).toEqual({ type: expect.any(String), url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/fhir\/bulk-files\//), count: expect.any(Number) });
  });

  it('accepts POST with a Parameters body', async () => {
    const m = await runExport(url(), admin, { body: { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }] } });
    expect(m.output.map((o) => o.type)).toEqual(['Patient']);
    expect(m.request).toBe(url());
  });

  it('requires Prefer: respond-async (400 OperationOutcome)', async () => {
    const k = await kickOff(url(), admin, { prefer: null });
    expect(k.status).toBe(400);
    expect(k.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error' }] });
  });

  it('needs a token (401)', async () => {
    const res = await fetch(url(), { headers: { prefer: 'respond-async', accept: 'application/fhir+json' } });
    expect(res.status).toBe(401);
  });
});

describe('what an export contains', () => {
  it('SMA: every patient and their compartment, only types in scope, never Group', async () => {
    const all = await downloadAll(await runExport(`${fhir}/$export`, admin), admin);
    expect(ids(all.Patient)).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(ids(all.Observation)).toEqual(['o1', 'o2', 'o3', 'o4', 'o5']);
    expect(ids(all.Coverage)).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(all.Group).toBeUndefined();
    expect(all.Organization).toBeUndefined();
  });

  it('MCO: only its members (active Coverage naming it as payor), only its scoped types', async () => {
    const m = await runExport(`${fhir}/$export`, bluecare);
    const all = await downloadAll(m, bluecare);
    expect(ids(all.Patient)).toEqual(['p1', 'p2']);
    expect(ids(all.Observation)).toEqual(['o1', 'o2', 'o3']);
    expect(ids(all.Condition)).toEqual(['cond1']);
    expect(Object.keys(all).sort()).toEqual(['Condition', 'Observation', 'Patient']);
    expect(m.output.find((o) => o.type === 'Observation')?.count).toBe(3);
  });

  it('Group: members at kick-off, within the relationship', async () => {
    expect(ids((await downloadAll(await runExport(`${fhir}/Group/g1/$export`, admin), admin)).Patient)).toEqual(['p1', 'p3']);
    expect(ids((await downloadAll(await runExport(`${fhir}/Group/g1/$export`, bluecare), bluecare)).Patient)).toEqual(['p1']);
    expect(ids((await downloadAll(await runExport(`${fhir}/Group/g1/$export`, greenway), greenway)).Patient)).toEqual(['p3']);
  });

  it('Group: an unknown Group is a 404', async () => {
    expect((await kickOff(`${fhir}/Group/nope/$export`, admin)).status).toBe(404);
  });

  it('refuses a _type outside the scopes (403), never narrows it silently', async () => {
    const k = await kickOff(`${fhir}/$export?_type=Coverage`, bluecare);
    expect(k.status).toBe(403);
    expect(k.body.resourceType).toBe('OperationOutcome');
  });
});

describe('parameters', () => {
  it.each(['application/fhir+ndjson', 'application/ndjson', 'ndjson'])('_outputFormat=%s is accepted', async (f) => {
    const m = await runExport(`${fhir}/Patient/$export?_outputFormat=${encodeURIComponent(f)}&_type=Patient`, admin);
    expect(m.output[0].type).toBe('Patient');
  });

  it('_outputFormat=text/csv is a 400', async () => {
    expect((await kickOff(`${fhir}/$export?_outputFormat=text%2Fcsv`, admin)).status).toBe(400);
  });

  it('_type narrows; repeated parameters are one comma-joined list', async () => {
    const m = await runExport(`${fhir}/$export?_type=Patient&_type=Condition`, admin);
    expect(m.output.map((o) => o.type).sort()).toEqual(['Condition', 'Patient']);
  });

  it('_since returns only what changed after it; transactionTime bounds the export', async () => {
    const first = await runExport(`${fhir}/$export?_type=Observation`, admin);
    await new Promise((r) => setTimeout(r, 20));
    await put({ ...(obs('o2', 'p1', '2339-0') as object), status: 'amended' } as Resource);
    await put(obs('o6', 'p2', '8867-4'));
    const next = await runExport(`${fhir}/$export?_type=Observation&_since=${encodeURIComponent(first.transactionTime)}`, admin);
    const all = await downloadAll(next, admin);
    expect(ids(all.Observation)).toEqual(['o2', 'o6']);
    expect(all.Observation.find((o) => o.id === 'o2').status).toBe('amended');
    expect(Date.parse(next.transactionTime)).toBeGreaterThan(Date.parse(first.transactionTime));
  });

  it('_since accepts an offset whose "+" arrived as a space; rejects a non-instant', async () => {
    const k = await kickOff(`${fhir}/$export?_type=Patient&_since=2020-01-01T00:00:00+00:00`, admin);
    expect(k.status).toBe(202);
    await waitForManifest(k.location as string, admin);
    expect((await kickOff(`${fhir}/$export?_since=yesterday`, admin)).status).toBe(400);
  });

  it('_typeFilter narrows with the search grammar; criteria of one type are OR-ed', async () => {
    const q = encodeURIComponent('Observation?code=http://loinc.org|2339-0');
    const one = await downloadAll(await runExport(`${fhir}/$export?_type=Observation,Patient&_typeFilter=${q}`, admin), admin);
    expect(ids(one.Observation)).toEqual(['o2']);
    expect(ids(one.Patient)).toEqual(['p1', 'p2', 'p3', 'p4']);
    const q2 = encodeURIComponent('Observation?subject=Patient/p3');
    const two = await downloadAll(await runExport(`${fhir}/$export?_type=Observation&_typeFilter=${q}&_typeFilter=${q2}`, admin), admin);
    expect(ids(two.Observation)).toEqual(['o2', 'o4']);
  });

  it('_typeFilter that cannot be applied is a 400, never ignored', async () => {
    for (const bad of ['Observation?nosuchparam=1', 'Observation?_include=Observation:subject', 'NotAType?x=1', 'Observation']) {
      const k = await kickOff(`${fhir}/$export?_typeFilter=${encodeURIComponent(bad)}`, admin);
      expect({ bad, status: k.status }).toEqual({ bad, status: 400 });
    }
  });

  it('_elements keeps the listed elements and marks resources SUBSETTED', async () => {
    const all = await downloadAll(await runExport(`${fhir}/$export?_type=Patient&_elements=birthDate`, admin), admin);
    expect(all.Patient[0].birthDate).toBe('1950-01-01');
    expect(all.Patient[0].name).toBeUndefined();
    expect(all.Patient[0].meta.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
  });

  it('patient (POST) limits to those patients and reports unknown ones in the error file', async () => {
    const m = await runExport(`${fhir}/Patient/$export`, bluecare, {
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'patient', valueReference: { reference: 'Patient/p2' } },
          { name: 'patient', valueReference: { reference: 'Patient/p3' } }, // not a BlueCare member
        ],
      },
    });
    const all = await downloadAll(m, bluecare);
    expect(ids(all.Patient)).toEqual(['p2']);
    expect(ids(all.Observation)).toEqual(['o3', 'o6']);
    expect(m.error).toHaveLength(1);
    const [oo] = await download(m.error[0].url, bluecare);
    expect(oo.issue[0].diagnostics).toMatch(/1 patient reference/);
  });

  it('unsupported parameters: ignored and reported in the error file, or 400 with handling=strict', async () => {
    const m = await runExport(`${fhir}/$export?_type=Patient&includeAssociatedData=LatestProvenanceResources&_foo=1`, admin);
    expect(m.error[0].type).toBe('OperationOutcome');
    const issues = (await download(m.error[0].url, admin)).map((o) => o.issue[0].expression[0]).sort();
    expect(issues).toEqual(['_foo', 'includeAssociatedData']);
    const strict = await kickOff(`${fhir}/$export?includeAssociatedData=LatestProvenanceResources`, admin, { prefer: 'respond-async, handling=strict' });
    expect(strict.status).toBe(400);
    expect(strict.body.issue[0].diagnostics).toMatch(/includeAssociatedData is not supported/);
  });
});

describe('status, files and cancellation', () => {
  it('reports progress with 202, X-Progress and Retry-After while the job waits', async () => {
    // A paused queue: the job stays accepted for as long as the test needs.
    const queue = new Queue(EXPORT_QUEUE, { connection: { host: '127.0.0.1', port: 6379 }, prefix: fx.gw.gateway.bulk.ctx.config.queuePrefix });
    await queue.pause();
    let lastLocation: string | undefined;
    try {
      const k = await kickOff(`${fhir}/$export?_type=Patient`, greenway);
      const res = await fetch(k.location as string, { headers: { authorization: `Bearer ${greenway}` } });
      expect(res.status).toBe(202);
      expect(res.headers.get('x-progress')).toBeTruthy();
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // One running export per client: the next kick-off is a 429 until this one is deleted.
      const second = await kickOff(`${fhir}/$export?_type=Patient`, greenway);
      expect(second.status).toBe(429);
      expect(second.body.resourceType).toBe('OperationOutcome');
      const del = await fetch(k.location as string, { method: 'DELETE', headers: { authorization: `Bearer ${greenway}` } });
      expect(del.status).toBe(202);
      const third = await kickOff(`${fhir}/$export?_type=Patient`, greenway);
      expect(third.status).toBe(202);
      lastLocation = third.location;
    } finally {
      await queue.resume();
      await queue.close();
    }
    await waitForManifest(lastLocation as string, greenway);
  });

  it('answers 429 with Retry-After to a client polling too fast', async () => {
    const cfg = fx.gw.gateway.bulk.ctx.config;
    const k = await kickOff(`${fhir}/$export?_type=Patient`, admin);
    await waitForManifest(k.location as string, admin);
    cfg.minPollIntervalMs = 60000;
    try {
      const res = await fetch(k.location as string, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBeTruthy();
    } finally {
      cfg.minPollIntervalMs = 0;
    }
  });

  it('serves files as application/fhir+ndjson, gzip when asked, only to the client that started the job', async () => {
    const m = await runExport(`${fhir}/$export?_type=Patient`, bluecare);
    const url = m.output[0].url;
    const plain = await fetch(url, { headers: { authorization: `Bearer ${bluecare}` } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/^application\/fhir\+ndjson/);
    const text = await plain.text();
    expect(text.trim().split('\n').map((l) => JSON.parse(l).resourceType)).toEqual(['Patient', 'Patient']);
    const { request } = await import('node:http');
    const gz = await new Promise<{ enc?: string; body: Buffer }>((resolve, reject) => {
      request(url, { headers: { authorization: `Bearer ${bluecare}`, 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ enc: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      }).on('error', reject).end();
    });
    expect(gz.enc).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(text);
    // Another client's valid token: the job and its files do not exist for it.
    expect((await fetch(url, { headers: { authorization: `Bearer ${greenway}` } })).status).toBe(404);
    const status = m.output[0].url.replace(/bulk-files\/([^/]+)\/.*/, 'bulk-status/$1');
    expect((await fetch(status, { headers: { authorization: `Bearer ${greenway}` } })).status).toBe(404);
    expect((await fetch(status, { method: 'DELETE', headers: { authorization: `Bearer ${greenway}` } })).status).toBe(404);
    // No token at all.
    expect((await fetch(url)).status).toBe(401);
  });

  it('DELETE: 202, then the job and its files are 404', async () => {
    const k = await kickOff(`${fhir}/$export?_type=Patient`, bluecare);
    const m = await waitForManifest(k.location as string, bluecare);
    const file = m.body.output[0].url;
    const del = await fetch(k.location as string, { method: 'DELETE', headers: { authorization: `Bearer ${bluecare}` } });
    expect(del.status).toBe(202);
    const after = await fetch(k.location as string, { headers: { authorization: `Bearer ${bluecare}` } });
    expect(after.status).toBe(404);
    expect(((await after.json()) as any).resourceType).toBe('OperationOutcome');
    expect((await fetch(file, { headers: { authorization: `Bearer ${bluecare}` } })).status).toBe(404);
    expect((await fetch(k.location as string, { method: 'DELETE', headers: { authorization: `Bearer ${bluecare}` } })).status).toBe(404);
  });

  it('declares $export in the CapabilityStatement', async () => {
    const cs = (await (await fetch(`${fhir}/metadata`)).json()) as any;
    expect(cs.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
    expect(cs.rest[0].operation).toContainEqual(expect.objectContaining({ name: 'export' }));
    for (const t of ['Patient', 'Group']) {
      expect(cs.rest[0].resource.find((r: any) => r.type === t).operation).toContainEqual(expect.objectContaining({ name: 'export' }));
    }
  });
});
