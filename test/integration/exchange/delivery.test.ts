// The queued exchange end to end in one process: a hub gateway on PostgreSQL ingests the
// sample assessments, routes them (outbox rows in the same transaction), the dispatcher
// queues them on real Redis, the delivery worker sends transaction Bundles with a SMART token
// to a receiver gateway (real SMART token server, real store) on loopback.
import { randomUUID } from 'node:crypto';
import { patientId } from '../../../src/mappers/common/parties.js';
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

const prefix = `test:exchange:${randomUUID()}:`;
const tmp = tmpDir('exchange-delivery');
let hub: Hub;
let receiver: Receiver;
let samples: string;

beforeAll(async () => {
  const keys = await hubKeyFiles(tmp.path);
  receiver = await startReceiver({ tmp: tmp.path, hubPublicJwks: keys.publicJwks, redisPrefix: prefix });
  hub = await startHub({ tmp: tmp.path, receiver, keysFile: keys.keysFile, keys: keys.keys, redisPrefix: prefix });
  samples = await makeSamples(tmp.path, 3);
});

afterAll(async () => {
  await hub?.close();
  await receiver?.close();
  tmp.remove();
});

describe('queued exchange, hub → ACO receiver', () => {
  it('delivers ingested assessments once, with their content, to the aligned ACO', async () => {
    const people = [1, 2, 3].map((n) => patientId({ state: '26', msisId: `SYN${String(n).padStart(7, '0')}` }));
    await alignToAco(hub, people.slice(0, 2)); // the third person is not aligned: nothing goes
    const report = await ingestSample(hub, samples, 'hcbs-assessment');
    expect(report.rejected).toBe(0);
    const states = await deliveryStates(hub);
    expect(states.pending).toBeGreaterThan(0);
    hub.startWorker();
    await waitFor('deliveries', async () => {
      const s = await deliveryStates(hub);
      return !s.pending && !s.queued && !s.retrying && s;
    });
    expect(await deliveryStates(hub)).toEqual({ delivered: states.pending });
    const keys = await routedIdentifiers(hub);
    const matches = await receiverMatches(receiver, keys);
    expect(Object.values(matches).every((n) => n === 1)).toBe(true);
    const counts = await receiverCounts(receiver);
    expect(counts.byType.Patient).toBe(2);
    expect(counts.byType.QuestionnaireResponse).toBeGreaterThan(0);
    // Content: the receiver's QuestionnaireResponse equals the hub's, apart from ids and meta.
    const hubQr = (await hub.db.db.query<{ content: string }>(`SELECT content::text AS content FROM resource WHERE resource_type = 'QuestionnaireResponse' LIMIT 1`)).rows[0];
    const q = JSON.parse(hubQr.content);
    const got = await receiver.db.db.query<{ content: string }>(
      `SELECT r.content::text AS content FROM idx_token t JOIN resource r ON r.resource_type = t.resource_type AND r.id = t.id
       WHERE t.resource_type = 'QuestionnaireResponse' AND t.param = 'identifier' AND t.code = $1`,
      [q.identifier.value],
    );
    const r = JSON.parse(got.rows[0].content);
    expect(r.item).toEqual(q.item);
    expect(r.subject.reference).toMatch(/^Patient\//);
    // Nothing was sent twice: one version each.
    expect(counts.versions).toBe(Object.values(counts.byType).reduce((a, b) => a + b, 0));
  });
});
