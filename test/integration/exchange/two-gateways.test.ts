// End to end with real processes: the receiver (an ACO's FHIR server) is `lead-gateway serve`
// with its own SMART token server; the hub is `lead-gateway serve --with-worker`; the sample
// assessments go in with `lead-gateway ingest`. PostgreSQL (a schema each), real Redis (own
// prefixes), loopback HTTP. The assessments arrive at the receiver once, with their content.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateJwk, publicJwksOf } from '../../../src/auth/gateway-keys.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { patientId } from '../../../src/mappers/common/parties.js';
import { openTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../../helpers/database.js';
import { FAST_EXCHANGE_ENV, hubPartners, makeSamples, tmpDir, waitFor } from './helpers.js';
import { freePort, logPath, spawnCli, type ChildHandle } from './processes.js';

const tmp = tmpDir('exchange-two-gateways');
const prefix = `test:exchange-2gw:${randomUUID()}:`;
const children: ChildHandle[] = [];
let hubDb: TestDatabase;
let acoDb: TestDatabase;

const urlOf = async (db: TestDatabase) => {
  const schema = (await db.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
  return `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
};
const base = (extra: Record<string, string>) => ({ PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...extra });

afterAll(async () => {
  for (const c of children) {
    c.kill('SIGTERM');
    await c.exited;
  }
  await hubDb?.drop();
  await acoDb?.drop();
  tmp.remove();
});

it('ingested assessments arrive at the ACO gateway once, with the right content', async () => {
  hubDb = await openTestDatabase('postgres');
  acoDb = await openTestDatabase('postgres');
  const hubKeys = { keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] };
  writeFileSync(join(tmp.path, 'hub-keys.json'), JSON.stringify(hubKeys));
  const [acoPort, hubPort] = [await freePort(), await freePort()];
  const aco = { url: `http://127.0.0.1:${acoPort}`, fhir: `http://127.0.0.1:${acoPort}/fhir` };
  writeFileSync(
    join(tmp.path, 'aco-partners.json'),
    JSON.stringify({
      organizations: [{ id: 'lead-hub', type: 'SMA', name: 'LEAD hub', clients: [{ clientId: 'lead-gateway', jwks: publicJwksOf(hubKeys), scopes: ['system/*.cruds'], purposeOfUse: 'TREAT' }] }],
      agreements: [],
    }),
  );
  writeFileSync(join(tmp.path, 'hub-partners.json'), JSON.stringify(hubPartners(aco)));
  const acoEnv = base({
    PORT: String(acoPort),
    BASE_URL: aco.url,
    DATABASE_URL: await urlOf(acoDb),
    PARTNERS_FILE: join(tmp.path, 'aco-partners.json'),
    DATA_DIR: join(tmp.path, 'aco'),
    EXCHANGE_ENABLED: 'false',
    BULK_QUEUE_PREFIX: `${prefix}aco`,
    INGEST_QUEUE_PREFIX: `${prefix}aco`,
  });
  const hubEnv = base({
    PORT: String(hubPort),
    BASE_URL: `http://127.0.0.1:${hubPort}`,
    DATABASE_URL: await urlOf(hubDb),
    PARTNERS_FILE: join(tmp.path, 'hub-partners.json'),
    GATEWAY_KEYS_FILE: join(tmp.path, 'hub-keys.json'),
    DATA_DIR: join(tmp.path, 'hub'),
    EXCHANGE_QUEUE_PREFIX: `${prefix}hub`,
    BULK_QUEUE_PREFIX: `${prefix}hub`,
    INGEST_QUEUE_PREFIX: `${prefix}hub`,
    ...FAST_EXCHANGE_ENV,
  });
  children.push(spawnCli(['serve'], acoEnv, logPath(tmp.path, 'aco')));
  children.push(spawnCli(['serve', '--with-worker'], hubEnv, logPath(tmp.path, 'hub')));
  for (const u of [aco.url, `http://127.0.0.1:${hubPort}`]) {
    await waitFor(`${u} to start`, () => fetch(`${u}/healthz`).then((r) => r.ok, () => false), 150_000, 500);
  }

  // The roster (a Group the ACO manages) for two of the three sample people.
  const people = [1, 2, 3].map((n) => patientId({ state: '26', msisId: `SYN${String(n).padStart(7, '0')}` }));
  await new Repository(hubDb.db).create({
    resourceType: 'Group',
    type: 'person',
    actual: true,
    managingEntity: { reference: 'Organization/aco-test' },
    member: people.slice(0, 2).map((id) => ({ entity: { reference: `Patient/${id}` } })),
  } as never);

  const samples = await makeSamples(tmp.path, 3);
  const ingest = spawnCli(['ingest', '--layout', 'hcbs-assessment', '--source', 'mco-test', '--no-progress', join(samples, 'hcbs-assessment.csv')], hubEnv, logPath(tmp.path, 'ingest'));
  expect(await ingest.exited).toBe(0);

  const routed = (await hubDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM exchange_delivery')).rows[0].n;
  expect(routed).toBeGreaterThan(0);
  await waitFor('deliveries', async () => {
    const r = await hubDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM exchange_delivery WHERE state = 'delivered'`);
    return r.rows[0].n === routed;
  }, 150_000, 500);

  // At the receiver: each routed resource once (one version), with the hub's content.
  const hubQrs = (await hubDb.db.query<{ content: string }>(`SELECT content::text AS content FROM resource WHERE resource_type = 'QuestionnaireResponse'`)).rows.map((r) => JSON.parse(r.content));
  const aligned = hubQrs.filter((q) => people.slice(0, 2).includes(q.subject.reference.split('/')[1]));
  expect(aligned.length).toBeGreaterThan(0);
  for (const q of aligned) {
    const got = await acoDb.db.query<{ content: string; version_id: string }>(
      `SELECT r.content::text AS content, r.version_id::text AS version_id FROM idx_token t JOIN resource r ON r.resource_type = t.resource_type AND r.id = t.id
       WHERE t.resource_type = 'QuestionnaireResponse' AND t.param = 'identifier' AND t.system = $1 AND t.code = $2`,
      [q.identifier.system, q.identifier.value],
    );
    expect(got.rows).toHaveLength(1);
    expect(got.rows[0].version_id).toBe('1');
    const r = JSON.parse(got.rows[0].content);
    expect({ status: r.status, authored: r.authored, item: r.item }).toEqual({ status: q.status, authored: q.authored, item: q.item });
  }
  const patients = await acoDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Patient'`);
  expect(patients.rows[0].n).toBe(2); // the unaligned person never left the hub
}, 600_000);
