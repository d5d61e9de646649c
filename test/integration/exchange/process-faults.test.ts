// Faults of the gateway's own parts: a worker process SIGKILLed mid-delivery, Redis down when
// the data commits, Redis killed (losing its data) during a burst. Real worker processes, a
// private redis-server per test (never the shared 6379), a real receiver gateway on loopback.
import { randomUUID } from 'node:crypto';
import { patientId } from '../../../src/mappers/common/parties.js';
import {
  alignToAco,
  deliveryStates,
  hubKeyFiles,
  hubProcessEnv,
  ingestSample,
  makeSamples,
  receiverCounts,
  receiverMatches,
  routedIdentifiers,
  startHub,
  startReceiver,
  tmpDir,
  waitFor,
  type Hub,
  type Receiver,
} from './helpers.js';
import { logPath, privateRedis, spawnCli, type ChildHandle, type PrivateRedis } from './processes.js';

let hub: Hub;
let receiver: Receiver;
let redis: PrivateRedis;
let tmp: ReturnType<typeof tmpDir>;
let samples: string;
const children: ChildHandle[] = [];
const people = [1, 2, 3].map((n) => patientId({ state: '26', msisId: `SYN${String(n).padStart(7, '0')}` }));

beforeEach(async () => {
  tmp = tmpDir('exchange-process-faults');
  const prefix = `test:exchange-proc:${randomUUID()}:`;
  redis = await privateRedis(tmp.path);
  const keys = await hubKeyFiles(tmp.path);
  receiver = await startReceiver({ tmp: tmp.path, hubPublicJwks: keys.publicJwks, redisPrefix: prefix });
  hub = await startHub({ tmp: tmp.path, receiver, keysFile: keys.keysFile, keys: keys.keys, redisPrefix: prefix, redisUrl: redis.url });
  samples = await makeSamples(tmp.path, 3);
  await alignToAco(hub, people);
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await c.exited;
  }
  await hub?.close();
  await receiver?.close();
  await redis?.kill();
  tmp?.remove();
});

async function ingestAll(): Promise<number> {
  for (const layout of ['hcbs-assessment', 'falls-screen'] as const) expect((await ingestSample(hub, samples, layout)).rejected).toBe(0);
  return (await deliveryStates(hub)).pending;
}

async function settled(timeoutMs = 90_000): Promise<Record<string, number>> {
  return waitFor('deliveries to settle', async () => {
    const s = await deliveryStates(hub);
    return !s.pending && !s.queued && !s.retrying && s;
  }, timeoutMs, 200);
}

async function deadReasons(): Promise<string[]> {
  const r = await hub.db.db.query<{ last_error: string; last_status: number | null; attempts: number }>(`SELECT last_error, last_status, attempts FROM exchange_delivery WHERE state = 'dead'`);
  return r.rows.map((x) => `${x.last_status ?? '-'} ${x.attempts} ${x.last_error}`);
}

async function expectExactlyOnce(): Promise<void> {
  const matches = await receiverMatches(receiver, await routedIdentifiers(hub));
  expect(Object.keys(matches).length).toBeGreaterThan(0);
  expect(Object.entries(matches).filter(([, n]) => n !== 1)).toEqual([]);
  const counts = await receiverCounts(receiver);
  expect(counts.byType.Patient).toBe(people.length);
  expect(counts.versions).toBe(Object.values(counts.byType).reduce((a, b) => a + b, 0));
}

const worker = (name: string): ChildHandle => {
  const c = spawnCli(['worker'], hubProcessEnv(hub, { EXCHANGE_CONCURRENCY: '2' }), logPath(tmp.path, name));
  children.push(c);
  return c;
};

describe('process and Redis faults', () => {
  it('a worker SIGKILLed mid-delivery: another worker takes the stalled jobs over; nothing lost or doubled', async () => {
    const n = await ingestAll();
    expect(n).toBeGreaterThan(0);
    // Slow answers keep the first worker mid-delivery when it dies; the receiver still commits them.
    receiver.faults.transaction.push({ delayMs: 3000 }, { delayMs: 3000 });
    const first = worker('worker-1');
    await waitFor('the first worker to be sending', async () => receiver.faults.seen.transaction >= 1, 120_000);
    first.kill('SIGKILL');
    await first.exited;
    const second = worker('worker-2');
    expect(await settled()).toEqual({ delivered: n });
    await new Promise((r) => setTimeout(r, 3500)); // the killed worker's slow requests have committed
    await expectExactlyOnce();
    // Graceful shutdown: SIGTERM lets the worker finish and exit 0.
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('Redis down at commit time: the data and its routing commit; delivery resumes when Redis is back', async () => {
    hub.startWorker();
    await redis.kill();
    const n = await ingestAll();
    expect(n).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await deliveryStates(hub)).toEqual({ pending: n }); // all still in the outbox
    await redis.start();
    expect({ states: await settled(), dead: await deadReasons() }).toEqual({ states: { delivered: n }, dead: [] });
    await expectExactlyOnce();
  });

  it('Redis killed during a burst (its data lost): lost jobs are queued again from the outbox', async () => {
    const n = await ingestAll();
    receiver.faults.transaction.push({ delayMs: 1500 });
    hub.startWorker();
    await waitFor('the burst to be under way', async () => receiver.faults.seen.transaction >= 1, 60_000, 20);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1000));
    await redis.start(); // empty: every queued job is gone
    expect({ states: await settled(120_000), dead: await deadReasons() }).toEqual({ states: { delivered: n }, dead: [] });
    await new Promise((r) => setTimeout(r, 1500));
    await expectExactlyOnce();
  });
});
