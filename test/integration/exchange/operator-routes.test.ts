// The operator routes of a real hub gateway over HTTP on loopback: Prometheus /metrics (the
// documented metric names, moving as a delivery happens, no patient in any label) and the
// bull-board dashboard at /admin/queues (ADMIN_TOKEN only, read-only, off without ADMIN_TOKEN).
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../../src/config/env.js';
import { patientId } from '../../../src/mappers/common/parties.js';
import { http } from '../../helpers/gateway.js';
import { ACO, alignToAco, deliveryStates, hubKeyFiles, ingestSample, makeSamples, startHub, startReceiver, tmpDir, waitFor, type Hub, type Receiver } from './helpers.js';

const ADMIN_TOKEN = randomBytes(24).toString('base64url'); // 32 characters
let hub: Hub;
let hubServer: Server;
let hubUrl: string;
let receiver: Receiver;
let tmp: ReturnType<typeof tmpDir>;
const people = [1, 2].map((n) => patientId({ state: '26', msisId: `SYN${String(n).padStart(7, '0')}` }));

beforeAll(async () => {
  tmp = tmpDir('exchange-operator');
  const prefix = `test:exchange-operator:${randomUUID()}:`;
  const keys = await hubKeyFiles(tmp.path);
  receiver = await startReceiver({ tmp: tmp.path, hubPublicJwks: keys.publicJwks, redisPrefix: prefix });
  hub = await startHub({ tmp: tmp.path, receiver, keysFile: keys.keysFile, keys: keys.keys, redisPrefix: prefix, env: { ADMIN_TOKEN } });
  hubServer = createServer(hub.gateway.app);
  await new Promise<void>((r) => hubServer.listen(0, '127.0.0.1', r));
  hubUrl = `http://127.0.0.1:${(hubServer.address() as AddressInfo).port}`;
  await alignToAco(hub, people);
});

afterAll(async () => {
  hubServer?.closeAllConnections();
  await new Promise((r) => hubServer?.close(r));
  await hub?.close();
  await receiver?.close();
  tmp?.remove();
});

/** One sample of a metric with exactly these labels, from the Prometheus text format. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').split(',').filter(Boolean).sort().join(',') === want) return Number(m[3]);
  }
  return undefined;
}

async function scrape(): Promise<string> {
  const res = await fetch(`${hubUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('/metrics', () => {
  it('exposes the documented metrics, and they move when deliveries are made', async () => {
    const report = await ingestSample(hub, await makeSamples(tmp.path, 2), 'hcbs-assessment');
    expect(report.rejected).toBe(0);
    const n = (await deliveryStates(hub)).pending;
    expect(n).toBeGreaterThan(0);

    const before = await scrape();
    for (const name of [
      'lead_exchange_queue_jobs',
      'lead_exchange_deliveries',
      'lead_exchange_deliveries_total',
      'lead_exchange_delivery_attempts_total',
      'lead_exchange_delivery_latency_seconds',
    ]) {
      expect(before).toContain(`# TYPE ${name} `);
    }
    expect(sample(before, 'lead_exchange_deliveries', { destination: ACO, state: 'pending' })).toBe(n);
    expect(sample(before, 'lead_exchange_deliveries', { destination: ACO, state: 'delivered' })).toBeUndefined();
    expect(sample(before, 'lead_exchange_deliveries_total', { destination: ACO, outcome: 'delivered' })).toBeUndefined();

    hub.startWorker();
    await waitFor('deliveries', async () => (await deliveryStates(hub)).delivered === n, 60_000);

    const after = await scrape();
    expect(sample(after, 'lead_exchange_deliveries', { destination: ACO, state: 'delivered' })).toBe(n);
    expect(sample(after, 'lead_exchange_deliveries', { destination: ACO, state: 'pending' })).toBeUndefined();
    expect(sample(after, 'lead_exchange_deliveries_total', { destination: ACO, outcome: 'delivered' })).toBe(n);
    expect(sample(after, 'lead_exchange_delivery_attempts_total', { destination: ACO, outcome: 'delivered' })).toBe(n);
    expect(sample(after, 'lead_exchange_delivery_latency_seconds_count', { destination: ACO })).toBe(n);
    expect(sample(after, 'lead_exchange_delivery_latency_seconds_sum', { destination: ACO })).toBeGreaterThan(0);
    expect(sample(after, 'lead_exchange_delivery_latency_seconds_bucket', { destination: ACO, le: '+Inf' })).toBe(n);
    // Queue depth from Redis: every state BullMQ reports, per destination; nothing waiting now.
    expect(sample(after, 'lead_exchange_queue_jobs', { destination: ACO, state: 'waiting' })).toBe(0);
    expect(sample(after, 'lead_exchange_queue_jobs', { destination: ACO, state: 'active' })).toBe(0);
    // Labels are organization ids and states: never a patient.
    for (const p of people) expect(after).not.toContain(p);
  });
});

describe('/admin/queues', () => {
  const board = (path: string, headers: Record<string, string> = {}, method = 'GET') => http(method, `${hubUrl}/admin/queues${path}`, undefined, headers);

  it('refuses a request without the admin token, or with another token, as a 401 OperationOutcome', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}${ADMIN_TOKEN.endsWith('x') ? 'y' : 'x'}` }, // same length, last character off
      { authorization: `Bearer ${ADMIN_TOKEN}x` },
      { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` },
      { authorization: ADMIN_TOKEN },
    ];
    for (const headers of attempts) {
      for (const path of ['', '/', '/api/queues', '/static/js/main.js', '/api/queues/x/retry/failed']) {
        const r = await board(path, headers);
        expect([path, headers, r.status]).toEqual([path, headers, 401]);
        expect(r.body.resourceType).toBe('OperationOutcome');
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
      }
    }
    // Other spellings of the path reach the same guard, or nothing at all.
    for (const path of ['/ADMIN/QUEUES/api/queues', '/admin/queues/api/queues/', '/admin/queues/%61pi/queues', '/admin//queues/api/queues', '/fhir/../admin/queues/api/queues']) {
      const r = await http('GET', `${hubUrl}${path}`);
      expect([path, [401, 404].includes(r.status)]).toEqual([path, true]);
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
  });

  it('serves the dashboard and its queue API to the admin token, listing the destination queues', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const page = await fetch(`${hubUrl}/admin/queues`, { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const api = await board('/api/queues', auth);
    expect(api.status).toBe(200);
    const names = (api.body.queues as { name: string; readOnlyMode: boolean }[]).map((q) => q.name);
    expect(names.some((q) => q.includes(ACO))).toBe(true);
    expect((api.body.queues as { readOnlyMode: boolean }[]).every((q) => q.readOnlyMode)).toBe(true);
  });

  it('is read-only: retrying, cleaning or emptying a queue through the board is refused', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const api = await board('/api/queues', auth);
    const queue = encodeURIComponent((api.body.queues as { name: string }[]).find((q) => q.name.includes(ACO))!.name);
    const before = await deliveryStates(hub);
    for (const [method, path] of [
      ['PUT', `/api/queues/${queue}/retry/completed`],
      ['PUT', `/api/queues/${queue}/clean/completed`],
      ['PUT', `/api/queues/${queue}/empty`],
      ['PUT', `/api/queues/${queue}/obliterate`],
      ['PUT', `/api/queues/${queue}/pause`],
      ['POST', `/api/queues/${queue}/add`],
    ]) {
      const r = await board(path, auth, method);
      expect([method, path, r.status]).toEqual([method, path, 405]); // bull-board: QUEUE_READ_ONLY
    }
    // "Pause all" skips read-only queues.
    await board('/api/queues/pause', auth, 'PUT');
    expect(await hub.gateway.exchange.queues.all([ACO])[0].isPaused()).toBe(false);
    expect(await deliveryStates(hub)).toEqual(before);
  });

  it('is off (404) on a gateway without ADMIN_TOKEN, whatever the request carries', async () => {
    // The receiver gateway runs without ADMIN_TOKEN.
    const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${ADMIN_TOKEN}` }];
    for (const headers of attempts) {
      const r = await http('GET', `${receiver.url}/admin/queues/api/queues`, undefined, headers);
      expect(r.status).toBe(404);
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
  });

  it('will not start with an ADMIN_TOKEN shorter than 32 characters', () => {
    expect(() => loadConfig({ ADMIN_TOKEN: 'x'.repeat(31) })).toThrow(/ADMIN_TOKEN/);
    expect(loadConfig({ ADMIN_TOKEN: 'x'.repeat(32) }).adminToken).toBe('x'.repeat(32));
  });
});
