// Receiver and token-endpoint failures, each against a real hub and a real receiver gateway on
// loopback. Every case ends with the same check: every routed resource is at the receiver
// exactly once, with exactly one version (nothing lost, nothing duplicated).
import { randomUUID } from 'node:crypto';
import { patientId } from '../../../src/mappers/common/parties.js';
import { outbox } from '../../../src/exchange/outbox.js';
import {
  alignToAco,
  deliveryStates,
  hubKeyFiles,
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

let hub: Hub;
let receiver: Receiver;
let tmp: ReturnType<typeof tmpDir>;
let samples: string;
const people = [1, 2].map((n) => patientId({ state: '26', msisId: `SYN${String(n).padStart(7, '0')}` }));

beforeEach(async () => {
  tmp = tmpDir('exchange-faults');
  const prefix = `test:exchange-faults:${randomUUID()}:`;
  const keys = await hubKeyFiles(tmp.path);
  receiver = await startReceiver({ tmp: tmp.path, hubPublicJwks: keys.publicJwks, redisPrefix: prefix });
  hub = await startHub({ tmp: tmp.path, receiver, keysFile: keys.keysFile, keys: keys.keys, redisPrefix: prefix });
  samples = await makeSamples(tmp.path, 2);
  await alignToAco(hub, people);
});

afterEach(async () => {
  await hub?.close();
  await receiver?.close();
  tmp?.remove();
});

async function ingestAndCount(): Promise<number> {
  const report = await ingestSample(hub, samples, 'hcbs-assessment');
  expect(report.rejected).toBe(0);
  const states = await deliveryStates(hub);
  expect(states.pending).toBeGreaterThan(0);
  return states.pending;
}

async function settled(): Promise<Record<string, number>> {
  return waitFor('deliveries to settle', async () => {
    const s = await deliveryStates(hub);
    return !s.pending && !s.queued && !s.retrying && s;
  }, 60_000);
}

/** Every routed resource once at the receiver, one version each. */
async function expectExactlyOnce(): Promise<void> {
  const matches = await receiverMatches(receiver, await routedIdentifiers(hub));
  expect(Object.entries(matches).filter(([, n]) => n !== 1)).toEqual([]);
  const counts = await receiverCounts(receiver);
  expect(counts.byType.Patient).toBe(people.length);
  expect(counts.versions).toBe(Object.values(counts.byType).reduce((a, b) => a + b, 0));
}

async function attempts(): Promise<{ outcome: string; http_status: number | null; started_at: Date; finished_at: Date; delivery_id: string }[]> {
  return (await hub.db.db.query<{ outcome: string; http_status: number | null; started_at: Date; finished_at: Date; delivery_id: string }>(
    'SELECT * FROM exchange_attempt ORDER BY started_at',
  )).rows;
}

describe('delivery faults', () => {
  it('retries a receiver answering 500, and delivers once it recovers', async () => {
    const n = await ingestAndCount();
    receiver.faults.transaction.push({ status: 500 }, { status: 500 }, { status: 502 });
    hub.startWorker();
    expect(await settled()).toEqual({ delivered: n });
    const a = await attempts();
    // (On a loaded machine an attempt may also time out: those have no status.)
    expect(a.filter((x) => x.outcome === 'retry' && x.http_status !== null).map((x) => x.http_status)).toEqual([500, 500, 502]);
    await expectExactlyOnce();
  });

  it('waits as long as Retry-After says on 429', async () => {
    const n = await ingestAndCount();
    receiver.faults.transaction.push({ status: 429, retryAfter: '2' });
    hub.startWorker();
    expect(await settled()).toEqual({ delivered: n });
    const a = await attempts();
    const throttled = a.find((x) => x.http_status === 429)!;
    const next = a.find((x) => x.delivery_id === throttled.delivery_id && x.outcome === 'delivered')!;
    expect(new Date(next.started_at).getTime() - new Date(throttled.finished_at).getTime()).toBeGreaterThanOrEqual(1900);
    await expectExactlyOnce();
  });

  it("dead-letters on 400 at once with the receiver's OperationOutcome, and a replay after the fix delivers", async () => {
    const n = await ingestAndCount();
    const rejection = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'profile not supported here' }] };
    for (let i = 0; i < n; i++) receiver.faults.transaction.push({ status: 400, body: rejection });
    hub.startWorker();
    expect(await settled()).toEqual({ dead: n });
    const dead = await outbox.list(hub.db.db, { state: 'dead' });
    expect(dead).toHaveLength(n);
    for (const d of dead) {
      expect(d.attempts).toBe(1); // a permanent 4xx is not retried
      expect(d.lastStatus).toBe(400);
      expect(d.lastOutcome).toEqual(rejection);
    }
    expect((await receiverCounts(receiver)).versions).toBe(0);
    // The fix: the receiver accepts again (the fault plan is empty). Replay every dead letter.
    for (const d of dead) {
      await outbox.replay(hub.db.db, d.id);
      await hub.worker!.queues.removeJob(d.destination, d.id);
    }
    expect(await settled()).toEqual({ delivered: n });
    await expectExactlyOnce();
  });

  it('retries a receiver slower than the timeout without duplicating what it stored late', async () => {
    // This case needs a short timeout: a hub of its own with a 4 s one.
    await hub.close();
    const keys = { keysFile: hub.keysFile, keys: hub.keys };
    hub = await startHub({ tmp: tmp.path, receiver, ...keys, redisPrefix: `test:exchange-faults:${randomUUID()}:`, env: { EXCHANGE_REQUEST_TIMEOUT_MS: '4000' } });
    await alignToAco(hub, people);
    const n = await ingestAndCount();
    // Answered after 8 s; the hub gives up after 4 s — but the receiver still commits it: the
    // retry must update, not copy.
    receiver.faults.transaction.push({ delayMs: 8000 });
    hub.startWorker();
    expect(await settled()).toEqual({ delivered: n });
    const a = await attempts();
    expect(a.some((x) => x.outcome === 'retry' && x.http_status === null)).toBe(true);
    await new Promise((r) => setTimeout(r, 5000)); // the late request has committed by now
    await expectExactlyOnce();
  });

  it('a retry arriving while the receiver is still writing the timed-out request updates what that request creates: no duplicate Patient', async () => {
    await hub.close();
    const keys = { keysFile: hub.keysFile, keys: hub.keys };
    hub = await startHub({ tmp: tmp.path, receiver, ...keys, redisPrefix: `test:exchange-faults:${randomUUID()}:`, env: { EXCHANGE_REQUEST_TIMEOUT_MS: '3000' } });
    await alignToAco(hub, people);
    const n = await ingestAndCount();
    // The receiver's database is stuck: its transactions read (match nothing yet) and then wait
    // to write. The hub gives up after 3 s and sends again while the first request is still
    // inside its transaction; then the database frees up and both requests finish.
    const stuck = receiver.db.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE resource IN EXCLUSIVE MODE');
      hub.startWorker();
      await waitFor('retries to reach the receiver', async () => receiver.faults.seen.transaction >= n + 1, 60_000);
      await new Promise((r) => setTimeout(r, 1000)); // the retries are inside their transactions by now
    });
    await stuck;
    expect(await settled()).toEqual({ delivered: n });
    const a = await attempts();
    expect(a.some((x) => x.outcome === 'retry' && x.http_status === null)).toBe(true);
    // The requests the hub gave up on were released with the rest: let them finish, then check
    // that no transaction of the receiver still holds its resource table.
    await new Promise((r) => setTimeout(r, 2000));
    await waitFor('the receiver to go idle', async () => (await receiver.db.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'resource'::regclass AND pid <> pg_backend_pid()",
    )).rows[0].n === 0);
    await expectExactlyOnce();
  });

  it('retries while the token endpoint fails, then delivers', async () => {
    const n = await ingestAndCount();
    receiver.faults.token.push({ status: 500 }, { status: 503 }, { status: 500 });
    hub.startWorker();
    expect(await settled()).toEqual({ delivered: n });
    expect(receiver.faults.seen.token).toBeGreaterThanOrEqual(4);
    const a = await attempts();
    expect(a.filter((x) => x.outcome === 'retry').length).toBeGreaterThanOrEqual(3);
    await expectExactlyOnce();
  });
});
