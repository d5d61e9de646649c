// `lead-gateway deliveries list|show|replay`, the real CLI as a child process against a hub's
// store (its own PostgreSQL schema) and queues: dead letters made by a real receiver answering
// 400, listed with every filter, shown with the receiver's OperationOutcome, replayed back to
// pending, then delivered by a worker — exactly once at the receiver.
import { execFile } from 'node:child_process';
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

let hub: Hub;
let receiver: Receiver;
let tmp: ReturnType<typeof tmpDir>;
let n: number;
const people = [1, 2].map((n) => patientId({ state: '26', msisId: `SYN${String(n).padStart(7, '0')}` }));
const rejection = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'profile not supported here' }] };

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/lead-gateway.js', 'deliveries', ...args], { env: hubProcessEnv(hub) }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const ids = (r: CliResult): string[] => r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]);

async function rows(): Promise<{ id: string; state: string; patient_id: string; replays: number }[]> {
  return (await hub.db.db.query<{ id: string; state: string; patient_id: string; replays: number }>('SELECT id, state, patient_id, replays FROM exchange_delivery ORDER BY created_at')).rows;
}

beforeAll(async () => {
  tmp = tmpDir('exchange-cli');
  const prefix = `test:exchange-cli:${randomUUID()}:`;
  const keys = await hubKeyFiles(tmp.path);
  receiver = await startReceiver({ tmp: tmp.path, hubPublicJwks: keys.publicJwks, redisPrefix: prefix });
  hub = await startHub({ tmp: tmp.path, receiver, keysFile: keys.keysFile, keys: keys.keys, redisPrefix: prefix });
  await alignToAco(hub, people);
  const report = await ingestSample(hub, await makeSamples(tmp.path, 2), 'hcbs-assessment');
  expect(report.rejected).toBe(0);
  n = (await deliveryStates(hub)).pending;
  // The receiver rejects every delivery once: all of them become dead letters.
  for (let i = 0; i < n; i++) receiver.faults.transaction.push({ status: 400, body: rejection });
  hub.startWorker();
  await waitFor('dead letters', async () => (await deliveryStates(hub)).dead === n, 60_000);
  // No worker while the CLI works: a replayed delivery must stay visibly pending.
  await hub.worker!.close();
  hub.worker = undefined;
});

afterAll(async () => {
  await hub?.close();
  await receiver?.close();
  tmp?.remove();
});

describe('lead-gateway deliveries', () => {
  it('list: every delivery, or only those of a state, partner, patient or time window', async () => {
    const all = await rows();
    expect(all.length).toBe(n);
    expect(n).toBeGreaterThan(1);

    const dead = await cli('list', '--state', 'dead');
    expect(dead.code).toBe(0);
    expect(ids(dead).sort()).toEqual(all.map((r) => r.id).sort());
    for (const l of dead.stdout.trim().split('\n')) expect(l).toMatch(/ dead +aco-test +patient \S+ +attempts 1 HTTP 400 /);
    expect(dead.stderr).toContain(`${n} deliveries`);

    expect(ids(await cli('list', '--state', 'delivered'))).toEqual([]);
    expect(ids(await cli('list', '--partner', 'aco-test')).length).toBe(n);
    expect(ids(await cli('list', '--partner', 'aco-elsewhere'))).toEqual([]);

    const mine = all.filter((r) => r.patient_id === people[0]).map((r) => r.id);
    expect(mine.length).toBeGreaterThan(0);
    expect(ids(await cli('list', '--patient', people[0])).sort()).toEqual(mine.sort());

    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    expect(ids(await cli('list', '--since', hourAgo)).length).toBe(n);
    expect(ids(await cli('list', '--since', inAnHour))).toEqual([]);
    expect(ids(await cli('list', '--until', hourAgo))).toEqual([]);
    expect(ids(await cli('list', '--limit', '1')).length).toBe(1);

    const json = await cli('list', '--json', '--state', 'dead', '--patient', people[0]);
    const parsed = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; state: string; lastStatus: number; lastOutcome: unknown });
    expect(parsed.map((r) => r.id).sort()).toEqual(mine.sort());
    for (const r of parsed) expect(r).toMatchObject({ state: 'dead', lastStatus: 400, lastOutcome: rejection });

    const bad = await cli('list', '--state', 'lost');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--state must be one of');
  });

  it("show: a dead letter's resources, its attempt and the receiver's OperationOutcome", async () => {
    const [first] = await rows();
    const r = await cli('show', first.id);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as {
      id: string;
      state: string;
      destination: string;
      attempts: number;
      jobId: string;
      lastStatus: number;
      lastOutcome: unknown;
      items: { resourceType: string; resourceId: string }[];
      attemptLog: { outcome: string; httpStatus?: number; http_status?: number }[];
    };
    expect(d).toMatchObject({ id: first.id, state: 'dead', destination: 'aco-test', attempts: 1, jobId: first.id, lastStatus: 400, lastOutcome: rejection });
    expect(d.items.length).toBeGreaterThan(0);
    expect(d.items.every((i) => i.resourceType && i.resourceId)).toBe(true);
    expect(d.attemptLog).toHaveLength(1);
    expect(d.attemptLog[0].outcome).toBe('dead');
    // References only: no resource content, such as the person's Medicaid id, in the delivery log.
    expect(r.stdout).not.toMatch(/SYN\d{7}/);

    const missing = await cli('show', randomUUID());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No delivery');
  });

  it('replay: dead letters go back to pending with a new job id, a worker delivers them once; a delivered one is not replayed', async () => {
    const [first, ...rest] = await rows();
    const one = await cli('replay', first.id);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`${first.id}: pending again (job ${first.id}.r1)`);
    let now = await rows();
    expect(now.find((r) => r.id === first.id)).toMatchObject({ state: 'pending', replays: 1 });
    expect(now.filter((r) => r.id !== first.id).every((r) => r.state === 'dead')).toBe(true);

    // No dead letters for that partner: nothing to do, not an error; no ids and no --all-dead: usage.
    const none = await cli('replay', '--all-dead', '--partner', 'aco-elsewhere');
    expect([none.code, none.stderr]).toEqual([0, 'No dead-lettered deliveries for aco-elsewhere: nothing to replay\n']);
    const usage = await cli('replay');
    expect([usage.code, usage.stderr]).toEqual([2, 'Nothing to replay (give delivery ids or --all-dead)\n']);
    const all = await cli('replay', '--all-dead', '--partner', 'aco-test');
    expect(all.code).toBe(0);
    expect(all.stderr).toContain(`${rest.length} of ${rest.length} deliveries back in the outbox`);
    now = await rows();
    expect(now.every((r) => r.state === 'pending' && r.replays === 1)).toBe(true);
    const noneLeft = await cli('replay', '--all-dead');
    expect([noneLeft.code, noneLeft.stderr]).toEqual([0, 'No dead-lettered deliveries: nothing to replay\n']);
    expect((await receiverCounts(receiver)).versions).toBe(0);

    // The receiver is fixed (its fault plan is empty): a worker sends the replays.
    hub.startWorker();
    await waitFor('replays delivered', async () => (await deliveryStates(hub)).delivered === n, 60_000);
    const matches = await receiverMatches(receiver, await routedIdentifiers(hub));
    expect(Object.entries(matches).filter(([, k]) => k !== 1)).toEqual([]);
    expect((await receiverCounts(receiver)).byType.Patient).toBe(people.length);

    const again = await cli('replay', first.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not replayed');
    expect((await rows()).find((r) => r.id === first.id)).toMatchObject({ state: 'delivered', replays: 1 });
  });
});
