// SMART scopes at the FHIR API, end to end: the real gateway, the demo partner directory, tokens
// obtained over HTTP with the demo clients' keys, real Redis (own key prefix).
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createAuth, type Auth } from '../../../src/auth/wiring.js';
import { silentLogger } from '../../../src/logger.js';
import { http, startGateway, type RunningGateway } from '../../helpers/gateway.js';
import { storeFingerprint } from '../../helpers/database.js';
import { cleanupPrefix } from '../auth/helpers.js';
import { demoToken } from '../../helpers/demo-token.js';

const prefix = `test:scope:${randomUUID()}:`;
let gw: RunningGateway;
let auth: Auth;
const keysDir = `${process.cwd()}/tmp/scope-test-${randomUUID()}`;

const token = (clientId: string, scope: string): Promise<string> => demoToken(gw.url, clientId, scope);

let admin: string;
let eligibility: string; // system/Patient.rs system/Coverage.cruds system/Group.rs
let patientId: string;

beforeAll(async () => {
  gw = await startGateway('pglite', {
    env: { PARTNERS_FILE: 'config/partners.json', GATEWAY_KEYS_FILE: '' },
    auth: async (config) => {
      auth = await createAuth({ ...config, dataDir: keysDir }, silentLogger, { keyPrefix: prefix });
      return auth.wiring;
    },
  });
  admin = await token('sma-admin', 'system/*.cruds');
  eligibility = await token('sma-eligibility', 'system/Patient.rs system/Coverage.cruds system/Group.rs');
  const org = await http('POST', `${gw.fhir}/Organization`, { resourceType: 'Organization', name: 'Sunrise ACO' }, { authorization: `Bearer ${admin}` });
  const p = await http(
    'POST',
    `${gw.fhir}/Patient`,
    { resourceType: 'Patient', name: [{ family: 'Scoped' }], generalPractitioner: [{ reference: `Organization/${org.body.id}` }] },
    { authorization: `Bearer ${admin}` },
  );
  patientId = p.body.id;
  await http('POST', `${gw.fhir}/Observation`, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patientId}` } }, { authorization: `Bearer ${admin}` });
});

afterAll(async () => {
  await gw?.close();
  await cleanupPrefix(auth.redis, prefix);
  await auth?.close();
  rmSync(keysDir, { recursive: true, force: true });
});

const as = (t: string) => ({ authorization: `Bearer ${t}` });

describe('scope enforcement on the FHIR API', () => {
  it('needs a bearer token for everything but the discovery documents', async () => {
    expect((await http('GET', `${gw.fhir}/metadata`)).status).toBe(200);
    expect((await http('GET', `${gw.fhir}/.well-known/smart-configuration`)).status).toBe(200);
    const r = await http('GET', `${gw.fhir}/Patient/${patientId}`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('allows what the scopes grant', async () => {
    expect((await http('GET', `${gw.fhir}/Patient/${patientId}`, undefined, as(eligibility))).status).toBe(200);
    const c = await http('POST', `${gw.fhir}/Coverage`, { resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${patientId}` }, payor: [{ display: 'State Medicaid' }] }, as(eligibility));
    expect(c.status).toBe(201);
  });

  it('refuses a type outside the scopes with 403 and an OperationOutcome', async () => {
    const r = await http('GET', `${gw.fhir}/Observation?subject=Patient/${patientId}`, undefined, as(eligibility));
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
  });

  it('refuses an interaction the scope lacks (read-only client writing)', async () => {
    const r = await http('POST', `${gw.fhir}/Patient`, { resourceType: 'Patient' }, as(eligibility));
    expect(r.status).toBe(403);
  });

  it('refuses an _include or _revinclude that reaches a type outside the scopes', async () => {
    const inc = await http('GET', `${gw.fhir}/Patient?_id=${patientId}&_include=Patient:general-practitioner:Organization`, undefined, as(eligibility));
    expect(inc.status).toBe(403);
    const rev = await http('GET', `${gw.fhir}/Patient?_id=${patientId}&_revinclude=Observation:subject`, undefined, as(eligibility));
    expect(rev.status).toBe(403);
  });

  it('leaves out included resources of types outside the scopes when the include may reach several types', async () => {
    const r = await http('GET', `${gw.fhir}/Patient?_id=${patientId}&_include=Patient:general-practitioner`, undefined, as(eligibility));
    expect(r.status).toBe(200);
    expect(r.body.entry.map((e: any) => e.resource.resourceType)).toEqual(['Patient']);
    const full = await http('GET', `${gw.fhir}/Patient?_id=${patientId}&_include=Patient:general-practitioner`, undefined, as(admin));
    expect(full.body.entry.map((e: any) => e.resource.resourceType)).toEqual(['Patient', 'Organization']);
  });

  it('applies the scopes to every entry of a transaction, and a refused entry writes nothing', async () => {
    const before = await storeFingerprint(gw.testDb.db);
    const r = await http(
      'POST',
      gw.fhir,
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${patientId}` }, payor: [{ display: 'x' }] }, request: { method: 'POST', url: 'Coverage' } },
          { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
        ],
      },
      as(eligibility),
    );
    expect(r.status).toBe(403);
    expect(r.body.issue[0].expression[0]).toBe('Bundle.entry[1]');
    expect(await storeFingerprint(gw.testDb.db)).toBe(before);
  });
});

describe('the partner directory in FHIR', () => {
  it('publishes each organization as Organization and Endpoint resources', async () => {
    const org = await http('GET', `${gw.fhir}/Organization/aco-sunrise`, undefined, as(admin));
    expect(org.status).toBe(200);
    expect(org.body.type[0].coding[0]).toMatchObject({ code: 'ACO' });
    const ep = await http('GET', `${gw.fhir}/Endpoint/aco-sunrise`, undefined, as(admin));
    expect(ep.status).toBe(200);
    expect(ep.body.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir$/);
    expect(ep.body.managingOrganization.reference).toBe('Organization/aco-sunrise');
  });
});
