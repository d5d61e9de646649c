// The consent engine with its disclosure-context cache wired as the gateway wires it: a repeated
// disclosure runs no context query, and the cache never outlives a change to what it holds — a
// Consent, Coverage, Group roster or Patient written through this process applies to the very
// next disclosure (notifications held back, so only the after-commit hook can make it so), one
// written through another pool (another process) once its notification arrives, and while the
// LISTEN connection is down (pg_terminate_backend) every disclosure reads the store.
import type { Consent, Resource } from '@medplum/fhirtypes';
import { loadConfig } from '../../../src/config/env.js';
import { loadPartners } from '../../../src/config/partners.js';
import { loadPolicy } from '../../../src/config/policy.js';
import { DisclosureContextCache } from '../../../src/consent/disclosure-context-cache.js';
import { ConsentEngine } from '../../../src/consent/engine.js';
import type { Recipient } from '../../../src/consent/filter.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { openPostgres, type Database, type QueryOptions, type QueryResult } from '../../../src/fhir/store/database.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { createWritePath } from '../../../src/write-path.js';
import { openTestDatabase, STORE_KINDS, TEST_DATABASE_URL, type TestDatabase } from '../../helpers/database.js';
import { startGateway } from '../../helpers/gateway.js';

const BLUECARE: Recipient = { organizationId: 'mco-bluecare', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' };
const SUNRISE: Recipient = { organizationId: 'aco-sunrise', purposeOfUse: 'TREAT', clientId: 'sunrise-ehr' };

const optOut = (patient: string): Consent => ({
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: `Patient/${patient}` },
  dateTime: '2026-01-01T00:00:00Z',
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
  provision: { type: 'deny' },
});

const coverage = (id: string, patient: string, status = 'active'): Resource =>
  ({ resourceType: 'Coverage', id, status, beneficiary: { reference: `Patient/${patient}` }, payor: [{ reference: 'Organization/mco-bluecare' }] }) as Resource;

const roster = (members: { patient: string; inactive?: boolean }[]): Resource =>
  ({
    resourceType: 'Group',
    id: 'roster-sunrise',
    type: 'person',
    actual: true,
    managingEntity: { reference: 'Organization/aco-sunrise' },
    member: members.map((m) => ({ entity: { reference: `Patient/${m.patient}` }, ...(m.inactive ? { inactive: true } : {}) })),
  }) as Resource;

/** The store as the engine sees it, counting context queries. */
function counted(db: Database): { db: Database; count: () => number } {
  let n = 0;
  const wrapped: Database = Object.create(db) as Database;
  wrapped.query = <T>(text: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>> => {
    if (text.includes('AS kind')) n++;
    return db.query<T>(text, params, opts);
  };
  return { db: wrapped, count: () => n };
}

/** The store as the cache listens to it, its notifications held back while `held`. */
function holdable(db: Database): { db: Database; hold(): void; release(): void; settle(): Promise<void> } {
  let held: (string | null)[] | undefined;
  let deliver: (p: string | null) => void = () => undefined;
  const received = new Set<string>();
  const wrapped: Database = Object.create(db) as Database;
  wrapped.listen = (channel, onNotify, onLost) => {
    deliver = onNotify;
    return db.listen(
      channel,
      (p) => {
        if (p !== null) received.add(p);
        return held && p !== null ? held.push(p) : onNotify(p);
      },
      onLost,
    );
  };
  return {
    db: wrapped,
    hold: () => (held = []),
    /**
     * Waits for the notifications of every change committed so far (they come in commit order:
     * once a notification sent now arrives, so have they), so a late one cannot empty the cache
     * in the middle of a count.
     */
    async settle() {
      const token = `settle-${Math.random()}`;
      await db.query(`SELECT pg_notify('lead_disclosure_context', $1)`, [token]);
      await until(() => received.has(token));
    },
    release() {
      const h = held ?? [];
      held = undefined;
      for (const p of h) deliver(p);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean> | boolean, ms = 2000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await sleep(5);
  }
}

describe.each(STORE_KINDS)('disclosure-context cache (%s)', (kind) => {
  let t: TestDatabase;
  let cache: DisclosureContextCache;
  let engine: ConsentEngine;
  let repo: Repository;
  let queries: () => number;
  let notifications: ReturnType<typeof holdable>;
  const pid: Record<string, string> = {};
  const obs: Record<string, Resource> = {};

  beforeAll(async () => {
    loadDefinitions();
    t = await openTestDatabase(kind);
    const config = loadConfig({ LOG_LEVEL: 'silent', BASE_URL: 'http://127.0.0.1:1' });
    const partners = loadPartners(config.partnersFile);
    cache = new DisclosureContextCache();
    notifications = holdable(t.db);
    await cache.start(notifications.db);
    const wp = createWritePath({ config, db: t.db, partners, afterCommit: (types) => cache.written(types) });
    repo = wp.repo;
    const c = counted(t.db);
    queries = c.count;
    engine = new ConsentEngine({ db: c.db, partners, policy: loadPolicy(), labeler: wp.labeler, contextCache: cache });
    for (const name of ['a', 'b', 'c']) {
      const p = (await repo.create({ resourceType: 'Patient', name: [{ family: name }] } as Resource)).resource.id as string;
      pid[name] = p;
      obs[name] = (await repo.create({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${p}` } } as Resource)).resource;
    }
    await repo.update(coverage('cov-a', pid.a));
    await repo.update(coverage('cov-b', pid.b));
  });
  afterAll(async () => {
    await cache.stop();
    await t.drop();
  });

  /** Ids of the Observations the recipient gets, of the three people's. */
  const disclosed = async (recipient = BLUECARE): Promise<string[]> => {
    const r = await engine.filter(recipient, [obs.a, obs.b, obs.c]);
    return Object.keys(obs).filter((k) => r.permitted.some((x) => x.id === obs[k].id));
  };

  it('a repeated disclosure runs no context query', async () => {
    expect(cache.serving).toBe(true);
    await notifications.settle();
    const before = queries();
    expect(await disclosed()).toEqual(['a', 'b']);
    expect(queries() - before).toBe(1);
    expect(await disclosed()).toEqual(['a', 'b']);
    expect(await disclosed()).toEqual(['a', 'b']);
    expect(queries() - before).toBe(1);
  });

  it('a Consent added or revoked through this process applies to the very next disclosure', async () => {
    await disclosed();
    notifications.hold(); // only the after-commit hook can empty the cache now
    try {
      const consent = (await repo.create(optOut(pid.a))).resource;
      expect(await disclosed()).toEqual(['b']);
      await repo.update({ ...consent, status: 'inactive' });
      expect(await disclosed()).toEqual(['a', 'b']);
      await repo.update({ ...consent, status: 'active' });
      expect(await disclosed()).toEqual(['b']);
      await repo.delete('Consent', consent.id as string);
      expect(await disclosed()).toEqual(['a', 'b']);
      // And cached again afterwards.
      const before = queries();
      await disclosed();
      expect(queries()).toBe(before);
    } finally {
      notifications.release();
    }
  });

  it('a Coverage change, a Group roster change and a Patient deletion through this process apply at once', async () => {
    notifications.hold();
    try {
      expect(await disclosed()).toEqual(['a', 'b']);
      await repo.update(coverage('cov-b', pid.b, 'cancelled'));
      expect(await disclosed()).toEqual(['a']);
      await repo.update(coverage('cov-b', pid.b));
      expect(await disclosed()).toEqual(['a', 'b']);

      expect(await disclosed(SUNRISE)).toEqual([]);
      await repo.update(roster([{ patient: pid.a }, { patient: pid.c }]));
      expect(await disclosed(SUNRISE)).toEqual(['a', 'c']);
      await repo.update(roster([{ patient: pid.a }, { patient: pid.c, inactive: true }]));
      expect(await disclosed(SUNRISE)).toEqual(['a']);
      await repo.update(roster([{ patient: pid.c }]));
      expect(await disclosed(SUNRISE)).toEqual(['c']);
      const before = queries();
      expect(await disclosed(SUNRISE)).toEqual(['c']);
      expect(queries()).toBe(before);

      const gone = (await repo.create({ resourceType: 'Patient', name: [{ family: 'gone' }] } as Resource)).resource.id as string;
      await repo.update(coverage('cov-gone', gone));
      const o = (await repo.create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${gone}` } } as Resource)).resource;
      expect((await engine.filter(BLUECARE, [o])).permitted).toHaveLength(1);
      expect((await engine.filter(BLUECARE, [o])).permitted).toHaveLength(1);
      await repo.delete('Patient', gone);
      expect((await engine.filter(BLUECARE, [o])).permitted).toHaveLength(0);
    } finally {
      notifications.release();
    }
  });

  if (kind !== 'postgres') return;

  describe('another process (a second pool on the same schema)', () => {
    let other: Database;
    let otherRepo: Repository;
    const delays: Record<string, number> = {};

    beforeAll(async () => {
      const schema = (await t.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
      other = await openPostgres({ connectionString: TEST_DATABASE_URL, schema, max: 2 });
      otherRepo = new Repository(other, { baseUrl: 'http://test/fhir' }); // no afterCommit: only the notification tells
    });
    afterAll(async () => {
      await other.close();
      process.stdout.write(`disclosure-context cache: cross-process change seen after ${JSON.stringify(delays)} ms\n`);
    });

    it('a Consent and a Coverage written elsewhere apply once the notification arrives', async () => {
      await notifications.settle();
      expect(await disclosed()).toEqual(['a', 'b']);
      const before = queries();
      expect(await disclosed()).toEqual(['a', 'b']);
      expect(queries()).toBe(before); // cached
      const consent = (await otherRepo.create(optOut(pid.a))).resource;
      delays.consent = await until(async () => JSON.stringify(await disclosed()) === '["b"]');
      await otherRepo.update(coverage('cov-b', pid.b, 'cancelled'));
      delays.coverage = await until(async () => JSON.stringify(await disclosed()) === '[]');
      await otherRepo.delete('Consent', consent.id as string);
      await otherRepo.update(coverage('cov-b', pid.b));
      delays.restore = await until(async () => JSON.stringify(await disclosed()) === '["a","b"]');
      await otherRepo.update(roster([{ patient: pid.b }]));
      delays.group = await until(async () => JSON.stringify(await disclosed(SUNRISE)) === '["b"]');
    });

    it('while the LISTEN connection is down nothing stale is served; after it reconnects the cache works again', async () => {
      const schema = (await t.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
      const listener = async (): Promise<number | undefined> =>
        (await t.db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`lead-listen ${schema}`])).rows[0]?.pid;
      const first = await listener();
      expect(first).toBeDefined();
      expect(await disclosed()).toEqual(['a', 'b']);
      await t.db.query('SELECT pg_terminate_backend($1)', [first]);
      await until(() => !cache.serving);
      // Changed while nobody listens (its notification is lost): still seen at once.
      const consent = (await otherRepo.create(optOut(pid.a))).resource;
      expect(await disclosed()).toEqual(['b']);
      // Not served from memory while down: every disclosure reads the store.
      if (!cache.serving) {
        const before = queries();
        await disclosed();
        expect(queries() - before).toBe(1);
      }
      delays.reconnect = await until(() => cache.serving, 5000);
      const again = await listener();
      expect(again).toBeDefined();
      expect(again).not.toBe(first);
      await notifications.settle();
      expect(await disclosed()).toEqual(['b']);
      const before = queries();
      expect(await disclosed()).toEqual(['b']);
      expect(queries()).toBe(before);
      // And notifications reach it again.
      await otherRepo.delete('Consent', consent.id as string);
      await until(async () => JSON.stringify(await disclosed()) === '["a","b"]');
    });
  });
});

it('the gateway listens with its cache from start to close', async () => {
  const gw = await startGateway('pglite');
  const cache = gw.gateway.consent.opts.contextCache;
  try {
    expect(cache?.serving).toBe(true);
  } finally {
    await gw.close();
  }
  expect(cache?.serving).toBe(false);
});
