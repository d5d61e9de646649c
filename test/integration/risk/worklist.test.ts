// The high-risk worklist is the ordinary FHIR search, over HTTP with real SMART tokens:
//   GET /fhir/RiskAssessment?method=<shared-risk-protocol>|<id>&risk=high&_include=RiskAssessment:subject
// Each ACO sees only the people it is aligned to (roster Group it manages), each MCO only its
// covered members (active Coverage naming it as payor); the consent engine filters every match.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Patient, RiskAssessment } from '@medplum/fhirtypes';
import { createAuth, type Auth } from '../../../src/auth/wiring.js';
import { storeRecord } from '../../../src/ingest/pipeline.js';
import { silentLogger } from '../../../src/logger.js';
import { SHARED_RISK_PROTOCOL_SYSTEM } from '../../../src/risk/codes.js';
import { loadProtocol } from '../../../src/risk/protocol.js';
import { drainAll } from '../../../src/risk/risk-drain.js';
import { demoToken } from '../../helpers/demo-token.js';
import { http, startGateway, type RunningGateway } from '../../helpers/gateway.js';
import { cleanupPrefix } from '../auth/helpers.js';
import { fallsScreen, person } from '../../support/risk-fixtures.js';

const protocol = loadProtocol();
const prefix = `test:risk:${randomUUID()}:`;
const dataDir = mkdtempSync(join(tmpdir(), 'risk-worklist-'));
let gw: RunningGateway;
let auth: Auth;

// Who is who: aligned ACO (roster), covering MCO (Coverage payor), and the screen result.
const PEOPLE = {
  sunriseBluecareHigh: { aco: 'aco-sunrise', mco: 'mco-bluecare', high: true },
  sunriseLow: { aco: 'aco-sunrise', mco: undefined, high: false },
  riversideGreenwayHigh: { aco: 'aco-riverside', mco: 'mco-greenway', high: true },
  bluecareOnlyHigh: { aco: undefined, mco: 'mco-bluecare', high: true },
  nobodyHigh: { aco: undefined, mco: undefined, high: true },
} as const;
type Key = keyof typeof PEOPLE;
const msis = (k: Key) => `SYNWL${Object.keys(PEOPLE).indexOf(k)}`;
const pid = (k: Key) => person(msis(k)).id;
const WORKLIST = `RiskAssessment?method=${encodeURIComponent(`${SHARED_RISK_PROTOCOL_SYSTEM}|${protocol.id}`)}&risk=high&_include=RiskAssessment:subject`;

beforeAll(async () => {
  gw = await startGateway('postgres', {
    env: { PARTNERS_FILE: 'config/partners.json', GATEWAY_KEYS_FILE: '', DATA_DIR: dataDir, EXCHANGE_ENABLED: 'false' },
    auth: async (config) => {
      auth = await createAuth(config, silentLogger, { keyPrefix: `${prefix}auth:` });
      return auth.wiring;
    },
  });
  const repo = gw.gateway.repo;
  for (const [key, p] of Object.entries(PEOPLE) as [Key, (typeof PEOPLE)[Key]][]) {
    // STEADI three key questions: fallen + unsteady = positive with a fall (3 + 2 = high); all no = low.
    await storeRecord(repo, {
      resources: fallsScreen({ msisId: msis(key), screenId: `WL-${key}`, date: '2026-10-01', tool: 'STEADI_3Q', answers: p.high ? { KQ1: 'Y', KQ2: 'Y' } : {} }),
    });
    if (p.mco) {
      await repo.update({
        resourceType: 'Coverage',
        id: `wl-cov-${pid(key)}`,
        status: 'active',
        beneficiary: { reference: `Patient/${pid(key)}` },
        payor: [{ reference: `Organization/${p.mco}` }],
      });
    }
  }
  for (const aco of ['aco-sunrise', 'aco-riverside']) {
    await repo.update({
      resourceType: 'Group',
      id: `wl-roster-${aco}`,
      identifier: [{ system: 'https://lead-gateway.example.org/fhir/sid/alignment-roster', value: `${aco}|2027` }],
      type: 'person',
      actual: true,
      managingEntity: { reference: `Organization/${aco}` },
      member: (Object.keys(PEOPLE) as Key[]).filter((k) => PEOPLE[k].aco === aco).map((k) => ({ entity: { reference: `Patient/${pid(k)}` } })),
    });
  }
  // What the worker's drain does: recompute everyone marked, through the gateway's write path.
  const counts = await drainAll({ db: gw.gateway.db, repo, protocol, now: () => new Date('2026-11-01T12:00:00Z') });
  expect(counts).toMatchObject({ claimed: 5, created: 5, failed: 0 });
});

afterAll(async () => {
  await gw.close();
  await cleanupPrefix(auth.redis, prefix);
  await auth.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function worklist(clientId: string, query = WORKLIST): Promise<{ assessed: string[]; included: string[]; bundle: Bundle }> {
  const token = await demoToken(gw.url, clientId, 'system/RiskAssessment.rs system/Patient.rs');
  const res = await http<Bundle>('GET', `${gw.fhir}/${query}`, undefined, { authorization: `Bearer ${token}` });
  expect(res.status).toBe(200);
  const entries = res.body.entry ?? [];
  const matches = entries.filter((e) => e.search?.mode === 'match').map((e) => e.resource as RiskAssessment);
  if (query === WORKLIST) for (const ra of matches) expect(ra.prediction?.[0].qualitativeRisk?.coding?.[0].code).toBe('high');
  return {
    assessed: matches.map((ra) => ra.subject!.reference!.slice('Patient/'.length)).sort(),
    included: entries.filter((e) => e.search?.mode === 'include' && e.resource?.resourceType === 'Patient').map((e) => (e.resource as Patient).id!).sort(),
    bundle: res.body,
  };
}

const ids = (...keys: Key[]) => keys.map(pid).sort();

describe('high-risk worklist over HTTP (SMART tokens, consent filtered)', () => {
  it('an ACO sees the high-risk people aligned to it, with their Patient included, and no one else', async () => {
    const sunrise = await worklist('sunrise-ehr');
    expect(sunrise.assessed).toEqual(ids('sunriseBluecareHigh'));
    expect(sunrise.included).toEqual(ids('sunriseBluecareHigh'));
    const riverside = await worklist('riverside-ehr');
    expect(riverside.assessed).toEqual(ids('riversideGreenwayHigh'));
    expect(riverside.included).toEqual(ids('riversideGreenwayHigh'));
  });

  it('an MCO sees the high-risk people it covers, aligned or not', async () => {
    const bluecare = await worklist('bluecare-care-mgmt');
    expect(bluecare.assessed).toEqual(ids('sunriseBluecareHigh', 'bluecareOnlyHigh'));
    expect(bluecare.included).toEqual(ids('sunriseBluecareHigh', 'bluecareOnlyHigh'));
  });

  it('without risk=high the ACO gets every tier of its own people (the low one too), still nobody else', async () => {
    const all = await worklist('sunrise-ehr', `RiskAssessment?method=${encodeURIComponent(`${SHARED_RISK_PROTOCOL_SYSTEM}|${protocol.id}`)}`);
    expect(all.assessed).toEqual(ids('sunriseBluecareHigh', 'sunriseLow'));
  });

  it('the SMA sees every high-risk person; the shared assessment carries the protocol version', async () => {
    const sma = await worklist('sma-admin');
    expect(sma.assessed).toEqual(ids('sunriseBluecareHigh', 'riversideGreenwayHigh', 'bluecareOnlyHigh', 'nobodyHigh'));
    const ra = sma.bundle.entry!.find((e) => e.search?.mode === 'match')!.resource as RiskAssessment;
    expect(ra.method?.coding?.[0]).toMatchObject({ system: SHARED_RISK_PROTOCOL_SYSTEM, code: protocol.id, version: protocol.version });
  });

  it('a client without RiskAssessment scope gets 403', async () => {
    const token = await demoToken(gw.url, 'metro-hie', 'system/Patient.rs');
    const res = await http('GET', `${gw.fhir}/${WORKLIST}`, undefined, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});
