// POST /ingest/{layout} and GET /ingest/jobs/{id} end to end: the real gateway with SMART auth
// (demo partners and keys), real Redis (BullMQ, own prefix), PostgreSQL (own schema), and the
// ingest worker in-process on the gateway's own write path (labels, validation, outbox rows).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuth, type Auth } from '../../../src/auth/wiring.js';
import { loadConfig } from '../../../src/config/env.js';
import { loadPartners } from '../../../src/config/partners.js';
import { loadIngestLayouts } from '../../../src/ingest/ingest-layouts.js';
import { initIngestWorker, type IngestWorker } from '../../../src/ingest/ingest-worker.js';
import { silentLogger } from '../../../src/logger.js';
import { startGateway, type RunningGateway } from '../../helpers/gateway.js';
import { cleanupPrefix } from '../auth/helpers.js';
import { demoToken } from '../../helpers/demo-token.js';

const prefix = `test:ingest-http:${randomUUID()}:`;
const MAX_UPLOAD = 256 * 1024;
let dataDir: string;
let gw: RunningGateway;
let auth: Auth;
let worker: IngestWorker;
let admin: string; // sma-admin (SMA): system/*.cruds
let eligibility: string; // sma-eligibility (SMA): Patient.rs, Coverage.cruds — cannot create Patients
let sunrise: string; // aco-sunrise (ACO)
let bluecare: string; // mco-bluecare (MCO)

const token = (clientId: string, scope: string): Promise<string> => demoToken(gw.url, clientId, scope);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ingest-http-'));
  const env = {
    PARTNERS_FILE: 'config/partners.json',
    GATEWAY_KEYS_FILE: '',
    DATA_DIR: dataDir,
    BULK_QUEUE_PREFIX: `${prefix}bull`,
    EXCHANGE_QUEUE_PREFIX: `${prefix}bull`,
    INGEST_QUEUE_PREFIX: `${prefix}bull`,
    INGEST_MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
  };
  gw = await startGateway('postgres', {
    env,
    auth: async (config) => {
      auth = await createAuth(config, silentLogger, { keyPrefix: `${prefix}auth:` });
      return auth.wiring;
    },
  });
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
  worker = initIngestWorker({
    db: gw.gateway.db,
    repo: gw.gateway.repo,
    partners: loadPartners(config.partnersFile),
    layouts: loadIngestLayouts(config.ingest),
    storage: gw.gateway.ingest.storage,
    config: config.ingest,
    logger: silentLogger,
    redisUrl: config.redisUrl,
  });
  admin = await token('sma-admin', 'system/*.cruds');
  eligibility = await token('sma-eligibility', 'system/Patient.rs system/Coverage.cruds');
  sunrise = await token('sunrise-ehr', 'system/Patient.rs system/Observation.rs');
  bluecare = await token('bluecare-care-mgmt', 'system/Patient.rs system/QuestionnaireResponse.cruds');
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await gw?.close();
  if (auth) {
    await cleanupPrefix(auth.redis, prefix);
    await auth.close();
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function upload(layout: string, body: string, bearer: string | undefined, type = 'text/csv', query = '') {
  const headers: Record<string, string> = { 'content-type': type, accept: 'application/fhir+json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const res = await fetch(`${gw.url}/ingest/${layout}${query}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function getJob(url: string, bearer: string) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
  return { status: res.status, body: await res.json() };
}

async function finished(url: string, bearer = admin, timeoutMs = 90_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await getJob(url, bearer);
    expect(status).toBe(200);
    if (body.status === 'completed' || body.status === 'failed') return body;
    if (Date.now() > until) throw new Error(`ingest job still ${body.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function ingestFile(layout: string, body: string, type = 'text/csv') {
  const up = await upload(layout, body, admin, type);
  expect(up.status).toBe(202);
  return finished(up.headers.get('content-location') as string);
}

const versions = async () => (await gw.gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_history')).rows[0].n;
const dataRows = (csv: string) => csv.trim().split('\n').length - 1;

describe('POST /ingest/{layout}', () => {
  it.each(['eligibility-month', 'hcbs-assessment', 'pharmacy-claims', 'falls-screen'])(
    'stores samples/%s.csv: 202 with the job URL, then counts, references and labelled resources',
    async (layout) => {
      const csv = readFileSync(`samples/${layout}.csv`, 'utf8');
      const up = await upload(layout, csv, admin);
      expect(up.status).toBe(202);
      const url = up.headers.get('content-location');
      expect(url).toMatch(new RegExp(`^${gw.url}/ingest/jobs/[0-9a-f-]{36}$`));
      expect(up.headers.get('location')).toBe(url);
      const job = await finished(url as string);
      expect(job).toMatchObject({ layout, format: 'csv', status: 'completed', errors: [] });
      expect(job.counts.recordsRejected).toBe(0);
      expect(job.counts.recordsStored).toBe(job.counts.recordsRead);
      expect(job.counts.recordsRead).toBeGreaterThan(0);
      expect(job.counts.recordsRead).toBeLessThanOrEqual(dataRows(csv));
      expect(job.counts.resourcesWritten).toBeGreaterThan(0);
      expect(job.resources.total).toBeGreaterThanOrEqual(job.counts.resources.created);
      // Every reference is a stored resource, labelled by the consent labeler (write path).
      for (const item of job.resources.items.slice(0, 50)) {
        const [type, id] = item.reference.split('/');
        const stored = JSON.parse((await gw.gateway.repo.readText(type, id)).content);
        expect(stored.meta.security?.length).toBeGreaterThan(0);
      }
      // Provenance names the uploading organization, never one from the file.
      const prov = job.resources.items.find((i: { reference: string }) => i.reference.startsWith('Provenance/'));
      const p = JSON.parse((await gw.gateway.repo.readText('Provenance', prov.reference.split('/')[1])).content);
      expect(JSON.stringify(p.agent)).toContain('State Department of Medicaid Services'); // sma-state's directory name
    },
    120_000,
  );

  it('re-uploading a file writes no new versions', async () => {
    const csv = readFileSync('samples/eligibility-month.csv', 'utf8');
    await ingestFile('eligibility-month', csv);
    const before = await versions();
    const again = await ingestFile('eligibility-month', csv);
    expect(again.counts.resources).toMatchObject({ created: 0, updated: 0 });
    expect(again.counts.resourcesWritten).toBe(0);
    expect(again.resources.items.every((i: { outcome: string }) => i.outcome === 'unchanged')).toBe(true);
    expect(await versions()).toBe(before);
  }, 120_000);

  it('rejects exactly the bad rows, with line, field and reason, and stores the rest', async () => {
    const rows = ['msis_id,submtg_state_cd,year_month,medicaid_enrolled,dual_elgbl_cd'];
    for (let i = 1; i <= 30; i++) rows.push(`HTTPBAD${i},26,${i % 10 === 0 ? '2026-13' : '2026-07'},Y,02`); // lines 11, 21, 31
    const job = await ingestFile('eligibility-month', `${rows.join('\n')}\n`);
    expect(job.counts).toMatchObject({ recordsRead: 30, recordsStored: 27, recordsRejected: 3 });
    expect(job.errors.map((e: { lines: number[] }) => e.lines)).toEqual([[11], [21], [31]]);
    expect(job.errors[0].outcome).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [expect.objectContaining({ severity: 'error', location: ['Line[11]'], expression: ['year_month'] })],
    });
    const stored = await gw.gateway.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Coverage' AND content->>'subscriberId' LIKE 'HTTPBAD%'",
    );
    expect(stored.rows[0].n).toBe(27);
  }, 120_000);

  it('takes NDJSON (application/x-ndjson), and ?format= overrides the content type', async () => {
    const line = (i: number) => JSON.stringify({ msis_id: `NDJ${i}`, submtg_state_cd: '26', year_month: '2026-07', medicaid_enrolled: 'Y', dual_elgbl_cd: '02' });
    const body = `${[1, 2, 3].map(line).join('\n')}\n`;
    expect((await ingestFile('eligibility-month', body, 'application/x-ndjson')).counts).toMatchObject({ recordsRead: 3, recordsStored: 3 });
    const up = await upload('eligibility-month', body.replaceAll('NDJ', 'NDQ'), admin, 'application/octet-stream', '?format=ndjson');
    expect(up.status).toBe(202);
    expect((await finished(up.headers.get('content-location') as string)).counts.recordsStored).toBe(3);
  }, 120_000);
});

describe('who may upload and read', () => {
  const csv = 'msis_id,submtg_state_cd,year_month,medicaid_enrolled,dual_elgbl_cd\nX1,26,2026-07,Y,02\n';

  it('needs a token (401)', async () => {
    expect((await upload('eligibility-month', csv, undefined)).status).toBe(401);
    expect((await fetch(`${gw.url}/ingest/jobs/${randomUUID()}`)).status).toBe(401);
  });

  it('refuses an ACO (403): only SMA and MCO organizations send source data', async () => {
    const res = await upload('eligibility-month', csv, sunrise);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
  });

  it('refuses a client whose scopes do not allow create and update on every type the layout writes (403)', async () => {
    const res = await upload('eligibility-month', csv, eligibility);
    expect(res.status).toBe(403);
    expect(res.body.issue[0].diagnostics).toContain('Patient');
    expect((await upload('falls-screen', csv, bluecare)).status).toBe(403);
  });

  it('lets only the uploading organization read its job (others 404, like an unknown job)', async () => {
    const up = await upload('eligibility-month', csv, admin);
    const url = up.headers.get('content-location') as string;
    await finished(url);
    expect((await getJob(url, bluecare)).status).toBe(404);
    expect((await getJob(`${gw.url}/ingest/jobs/${randomUUID()}`, admin)).status).toBe(404);
    expect((await getJob(url, admin)).status).toBe(200);
  }, 60_000);

  it('answers 404 for an unknown layout, 415 for a type that is not CSV or NDJSON, 413 beyond the size limit', async () => {
    expect((await upload('nope', csv, admin)).status).toBe(404);
    expect((await upload('eligibility-month', csv, admin, 'application/pdf')).status).toBe(415);
    const big = "a".repeat(MAX_UPLOAD + 1);
    const res = await upload('eligibility-month', big, admin);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ resourceType: 'OperationOutcome' });
  });
});
