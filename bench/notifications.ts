// Change-in-condition report → subscriber notification latency, end to end: N reports POSTed
// over HTTP at the gateway (SMART token of the demo MCO client) → write hook (Observations,
// Flag, Communication, topic match, notification row, all in the report's transaction) →
// OutboxDispatcher → BullMQ → notification worker (consent filter + AuditEvent, SMART token)
// → the ACO's rest-hook endpoint, a separate process on loopback (test/support/notification-receiver.ts)
// that stamps each arrival with its own clock. Latency = arrival − the moment the client started
// the POST (and − the moment the 201 came back, i.e. after commit).
//
//   npm run bench:notifications -- [--reports 1000] [--people 50] [--concurrency 8] [--rate 5] [--worker-process]
//
// Two runs of --reports each: a burst (--concurrency writers back to back: the latency then
// includes the backlog) and a paced run (--rate reports/s, at most 2 in flight). Needs
// PostgreSQL (postgres://postgres@127.0.0.1:5432/test, a fresh schema, dropped after) and Redis
// (127.0.0.1:6379, own key prefix, removed after). One Node process runs the gateway and the
// notification worker (EXCHANGE_CONCURRENCY 4, dispatch interval 50 ms); with --worker-process
// the worker runs as a `lead-gateway worker` process on the same store and queues.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { CHANGE_IN_CONDITION_QUESTIONNAIRE } from '../src/care/change-in-condition/vocabulary.js';
import { TOPICS } from '../src/notifications/topics.js';
import { startNotificationHub, type NotificationHub } from '../test/support/notification-hub.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const log = (line: string) => process.stdout.write(`${line}\n`);
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

async function post(url: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const ITEMS = ['seems-different', 'needs-more-help', 'pain', 'ate-drank-less', 'tired-confused-drowsy', 'help-walking', 'fall'];
const report = (patientId: string, i: number) => ({
  resourceType: 'QuestionnaireResponse',
  questionnaire: CHANGE_IN_CONDITION_QUESTIONNAIRE,
  status: 'completed',
  subject: { reference: `Patient/${patientId}` },
  authored: new Date().toISOString(),
  item: [{ linkId: 'changes', item: [ITEMS[i % ITEMS.length], ITEMS[(i + 3) % ITEMS.length]].map((linkId) => ({ linkId, answer: [{ valueBoolean: true }] })) }],
});

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

interface Sent {
  start: number;
  committed: number;
}

let seen = 0; // notifications read from the receiver so far (across runs)

async function run(hub: NotificationHub, mco: string, people: string[], n: number, mode: { concurrency?: number; rate?: number }, offset: number) {
  const sent = new Map<string, Sent>();
  const one = async (i: number) => {
    const start = Date.now();
    const r = await post(`${hub.gw.fhir}/QuestionnaireResponse`, mco, report(people[i % people.length], i));
    if (r.status !== 201) throw new Error(`report ${i}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    sent.set(r.body.id, { start, committed: Date.now() });
  };
  const t0 = Date.now();
  if (mode.rate) {
    // At most `concurrency` in flight: a rate above what the machine takes must not pile up
    // requests (they would hold every pool connection and starve the worker).
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / mode.rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      if (inFlight.size >= (mode.concurrency ?? 8)) await Promise.race(inFlight);
      const p: Promise<void> = one(offset + i).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  } else {
    let next = 0;
    await Promise.all(Array.from({ length: mode.concurrency ?? 8 }, async () => {
      while (next < n) await one(offset + next++);
    }));
  }
  const postSeconds = (Date.now() - t0) / 1000;
  const arrived = new Map<string, number>();
  const deadline = Date.now() + 600_000;
  while (arrived.size < sent.size && Date.now() < deadline) {
    const batch = await hub.receiver.received(seen);
    seen += batch.length;
    for (const x of batch) {
      const focus = x.body.entry?.[0]?.resource?.parameter
        ?.find((p: { name: string }) => p.name === 'notification-event')
        ?.part?.find((p: { name: string }) => p.name === 'focus')?.valueReference?.reference as string | undefined;
      const id = focus?.split('/').pop();
      if (id && sent.has(id) && !arrived.has(id)) arrived.set(id, x.receivedAt);
    }
    if (arrived.size < sent.size) await new Promise((r) => setTimeout(r, 250));
  }
  const fromPost = [...arrived].map(([id, at]) => at - sent.get(id)!.start);
  const fromCommit = [...arrived].map(([id, at]) => at - sent.get(id)!.committed);
  const drain = (Math.max(...arrived.values()) - t0) / 1000;
  return { postSeconds, drain, delivered: arrived.size, sent: sent.size, fromPost, fromCommit };
}

async function main(): Promise<void> {
  const reports = Number(arg('reports', '1000'));
  const peopleCount = Number(arg('people', '50'));
  const concurrency = Number(arg('concurrency', '8'));
  const rate = Number(arg('rate', '5'));
  const tmp = join(process.cwd(), 'tmp', `bench-notifications-${randomUUID()}`);
  mkdirSync(tmp, { recursive: true });
  log(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}; ${new Date().toISOString()}; load average at start ${load()}`);
  const workerProcess = process.argv.includes('--worker-process');
  const hub = await startNotificationHub({ tmp, prefix: `bench:notify:${randomUUID()}:`, env: { LOG_LEVEL: 'silent' }, workerProcess });
  try {
    const sma = await hub.token('sma-admin', 'system/*.cruds');
    const mco = await hub.token('bluecare-care-mgmt', 'system/QuestionnaireResponse.cruds system/Patient.rs');
    const aco = await hub.token('sunrise-ehr', 'system/Subscription.cruds');
    const people: string[] = [];
    for (let i = 0; i < peopleCount; i++) {
      const p = await post(`${hub.gw.fhir}/Patient`, sma, { resourceType: 'Patient', name: [{ family: `Bench${i}` }], generalPractitioner: [{ reference: 'Organization/aco-sunrise' }] });
      await post(`${hub.gw.fhir}/Coverage`, sma, { resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${p.body.id}` }, payor: [{ reference: 'Organization/mco-bluecare' }] });
      people.push(p.body.id);
    }
    const sub = await post(`${hub.gw.fhir}/Subscription`, aco, {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'bench',
      criteria: TOPICS.changeInCondition,
      channel: { type: 'rest-hook', endpoint: hub.receiver.endpoint, payload: 'application/fhir+json' },
    });
    if (sub.status !== 201) throw new Error(`subscription: HTTP ${sub.status}`);
    for (let i = 0; i < 200 && (await hub.receiver.received()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    log(
      `${peopleCount} aligned people; one id-only change-in-condition subscription (aco-sunrise); notification worker ${workerProcess ? 'in a `lead-gateway worker` process' : 'in the gateway process'}, concurrency ${hub.config.exchange.concurrencyPerDestination}, dispatch interval ${hub.config.exchange.dispatchIntervalMs} ms`,
    );
    log('');
    log('| Run | reports | POST phase s | last delivery s | delivered | POST start → arrival p50 ms | p99 ms | max ms | 201 → arrival p50 ms | p99 ms |');
    log('|---|---|---|---|---|---|---|---|---|---|');
    const row = (name: string, r: Awaited<ReturnType<typeof run>>) =>
      log(
        `| ${name} | ${r.sent} | ${r.postSeconds.toFixed(1)} | ${r.drain.toFixed(1)} | ${r.delivered} | ${pct(r.fromPost, 50).toFixed(0)} | ${pct(r.fromPost, 99).toFixed(0)} | ${Math.max(...r.fromPost).toFixed(0)} | ${pct(r.fromCommit, 50).toFixed(0)} | ${pct(r.fromCommit, 99).toFixed(0)} |`,
      );
    row(`burst, ${concurrency} concurrent writers`, await run(hub, mco, people, reports, { concurrency }, 0));
    log(`(load average ${load()})`);
    row(`paced, ${rate} reports/s (≤ 2 in flight)`, await run(hub, mco, people, reports, { rate, concurrency: 2 }, reports));
    const attempts = await hub.gw.gateway.db.query<{ kind: string; state: string; n: number; retried: number }>(
      `SELECT kind, state, count(*)::int AS n, count(*) FILTER (WHERE attempts > 1)::int AS retried FROM notification GROUP BY kind, state ORDER BY kind, state`,
    );
    log(`notifications: ${attempts.rows.map((r) => `${r.kind} ${r.state} ${r.n}${r.retried ? ` (${r.retried} retried)` : ''}`).join(', ')}`);
    log(`load average at end ${load()}`);
  } finally {
    await hub.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
