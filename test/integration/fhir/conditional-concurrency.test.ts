// Concurrent conditional writes with the same criteria, black-box over HTTP: however many
// arrive at once (a sender retrying while its first request is still being written), exactly
// one resource is created and every request answers with it (R4 http.html#ccreate, #cond-update).
// PostgreSQL is where requests really overlap (a pool of connections); PGlite, one connection,
// checks the same SQL runs there.
import { randomUUID } from 'node:crypto';
import { http, startGateway, type RunningGateway } from '../../helpers/gateway.js';
import { STORE_KINDS } from '../../helpers/database.js';

const N = 16;
const SYSTEM = 'urn:oid:2.16.840.1.113883.4.927';

const patient = (mbi: string) => ({
  resourceType: 'Patient',
  identifier: [{ system: SYSTEM, value: mbi }],
  name: [{ family: 'Concurrent' }],
  birthDate: '1948-07-01',
  gender: 'female',
});

describe.each(STORE_KINDS)('concurrent conditional writes on %s', (kind) => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway(kind);
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** Ids of the current Patients carrying the identifier, through the API. */
  async function patientsWith(mbi: string): Promise<string[]> {
    const r = await http('GET', `${gw.fhir}/Patient?identifier=${encodeURIComponent(`${SYSTEM}|${mbi}`)}&_count=100`);
    expect(r.status).toBe(200);
    return (r.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
  }

  const all = <T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, (_, i) => fn(i)));

  it(`${N} POSTs with the same If-None-Exist at once create one Patient`, async () => {
    const mbi = `C${randomUUID().slice(0, 8)}`;
    const res = await all(N, () => http('POST', `${gw.fhir}/Patient`, patient(mbi), { 'if-none-exist': `identifier=${SYSTEM}|${mbi}` }));
    const ids = await patientsWith(mbi);
    expect(ids).toHaveLength(1);
    expect(res.filter((r) => r.status === 201)).toHaveLength(1);
    expect(res.filter((r) => r.status === 200)).toHaveLength(N - 1);
    expect(new Set(res.map((r) => r.body.id))).toEqual(new Set(ids));
  });

  it(`${N} transaction Bundles with the same ifNoneExist at once create one Patient, referenced by every entry`, async () => {
    const mbi = `T${randomUUID().slice(0, 8)}`;
    const bundle = (i: number) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:7d0e3a57-5d6a-4f3c-9a43-0c1f8e3b2a11', resource: patient(mbi), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|${mbi}` } },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: `reading ${i}` },
            subject: { reference: 'urn:uuid:7d0e3a57-5d6a-4f3c-9a43-0c1f8e3b2a11' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    const res = await all(N, (i) => http('POST', gw.fhir, bundle(i)));
    expect(res.map((r) => r.status)).toEqual(Array(N).fill(200));
    const ids = await patientsWith(mbi);
    expect(ids).toHaveLength(1);
    expect(res.filter((r) => r.body.entry[0].response.status === '201')).toHaveLength(1);
    const obs = await http('GET', `${gw.fhir}/Observation?subject=Patient/${ids[0]}&_count=100`);
    expect(obs.body.entry).toHaveLength(N);
  });

  it('conditional updates, conditional creates and transaction PUTs on the same criteria, however spelled, create one Patient', async () => {
    const mbi = `U${randomUUID().slice(0, 8)}`;
    const criteria = [`identifier=${SYSTEM}|${mbi}`, 'birthdate=1948-07-01'];
    const forward = criteria.map((c) => c.replace('|', '%7C')).join('&');
    const reversed = [...criteria].reverse().map((c) => c.replace('|', '%7C')).join('&');
    const res = await all(N, (i) => {
      if (i % 3 === 0) return http('PUT', `${gw.fhir}/Patient?${forward}`, patient(mbi));
      if (i % 3 === 1) return http('POST', `${gw.fhir}/Patient`, patient(mbi), { 'if-none-exist': reversed });
      return http('POST', gw.fhir, { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient(mbi), request: { method: 'PUT', url: `Patient?${reversed}` } }] });
    });
    expect(res.map((r) => r.status).filter((s) => s !== 200 && s !== 201)).toEqual([]);
    expect(await patientsWith(mbi)).toHaveLength(1);
  });

  it('transactions locking the same Patients in opposite entry order neither deadlock nor duplicate', async () => {
    const [a, b] = [`A${randomUUID().slice(0, 8)}`, `B${randomUUID().slice(0, 8)}`];
    const put = (mbi: string) => ({ resource: patient(mbi), request: { method: 'PUT', url: `Patient?identifier=${SYSTEM}|${mbi}` } });
    const res = await all(N, (i) => http('POST', gw.fhir, { resourceType: 'Bundle', type: 'transaction', entry: i % 2 ? [put(a), put(b)] : [put(b), put(a)] }));
    expect(res.map((r) => r.status)).toEqual(Array(N).fill(200));
    expect(await patientsWith(a)).toHaveLength(1);
    expect(await patientsWith(b)).toHaveLength(1);
  });
});
