// What a disclosure's audit costs, alone: AuditTrail.record() (one audit_event row, committed
// before the response) as CPU of this process and of PostgreSQL's processes (/proc) per event;
// then what the accounting costs to read: `AuditEvent?patient=<person>` (one event each) and
// `AuditEvent?agent=<recipient>&_count=50`, through a Repository serving the type (audit-events.ts).
//
//   node bin/run-ts.js bench/audit-trail.ts [--events 3000] [--concurrency 1,16] [--references 45]
//                                           [--searches 500] [--database-url postgres://…]
//
// Each event is a search page's: one person, `references` disclosed versioned references (random
// ids, as real ones are), the MCO recipient. `concurrency` disclosures record at once (group commit
// puts those that wait into one statement). A fresh schema, dropped at the end.
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { AuditTrail, type DisclosureRecord } from '../src/consent/audit.js';
import { auditEventStore } from '../src/consent/audit-events.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { parseSearchRequest } from '../src/fhir/search/search-request.js';
import { Repository } from '../src/fhir/store/repository.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { postgresCpuSeconds } from './postgres-cpu.js';

const args = Object.fromEntries(
  process.argv.slice(2).flatMap((a, i, all) => (a.startsWith('--') ? [[a.slice(2), all[i + 1]]] : [])),
) as Record<string, string>;
const EVENTS = Number(args.events ?? 3000);
const CONCURRENCY = (args.concurrency ?? '1,16').split(',').map(Number);
const REFERENCES = Number(args.references ?? 45);
const SEARCHES = Number(args.searches ?? 500);
const DATABASE_URL = args['database-url'] ?? 'postgres://postgres@127.0.0.1:5432/test';

const disclosure = (): DisclosureRecord => ({
  recipient: { organizationId: 'mco-bluecare', organizationType: 'MCO', purposeOfUse: 'HPAYMT', clientId: 'bluecare-care-mgmt' },
  channel: 'search',
  disclosed: Array.from({ length: REFERENCES }, () => `Observation/${randomUUID()}/_history/1`),
  withheld: 5,
  patientIds: [randomUUID()],
  basedOn: ['https://lead-gateway.example.org/fhir/policy/default'],
  rules: ['tpo', 'part2-no-consent'],
});

/** CPU µs per event of this process and of PostgreSQL while `fn` runs. */
async function measure(events: number, fn: () => Promise<void>): Promise<{ node: number; pg: number; wall: number }> {
  const cpu0 = process.cpuUsage();
  const pg0 = postgresCpuSeconds();
  const t0 = performance.now();
  await fn();
  const cpu = process.cpuUsage(cpu0);
  return {
    node: Math.round((cpu.user + cpu.system) / events),
    pg: Math.round(((postgresCpuSeconds() - pg0) * 1e6) / events),
    wall: Math.round(((performance.now() - t0) * 1000) / events),
  };
}

const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
const db = await openDatabase({ databaseUrl: DATABASE_URL, dataDir: '', schema });
const rows: string[] = [];
const reads: string[] = [];
const people: string[] = [];
try {
  loadDefinitions();
  const trail = new AuditTrail(db);
  for (const concurrency of CONCURRENCY) {
    // 200 disclosures, cycled: building (and collecting) a fresh one per event would be measured too.
    const list = Array.from({ length: 200 }, disclosure);
    people.push(...list.map((d) => d.patientIds[0]));
    const record = async (n: number): Promise<void> => {
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < n) await trail.record(list[next++ % list.length]);
      }));
    };
    await record(200); // warm-up (JIT, prepared statements)
    const r = await measure(EVENTS, () => record(EVENTS));
    rows.push(`| ${concurrency} | ${r.wall} | ${r.node} | ${r.pg} |`);
    process.stderr.write(`concurrency ${concurrency}: record ${JSON.stringify(r)}\n`);
  }
  await db.query('ANALYZE audit_event');
  const repo = new Repository(db, { typeStores: [auditEventStore] });
  const total = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event')).rows[0].n;
  const opts = { strict: true, defaultCount: 50, maxCount: 1000 };
  const queries: [string, (n: number) => [string, string][]][] = [
    ['`AuditEvent?patient=<person>`', (n) => [['patient', `Patient/${people[n % people.length]}`]]],
    ['`AuditEvent?agent=Organization/mco-bluecare&_count=50`', () => [['agent', 'Organization/mco-bluecare'], ['_count', '50']]],
  ];
  for (const [name, query] of queries) {
    let found = 0;
    await repo.search(parseSearchRequest('AuditEvent', query(0), opts)); // warm-up
    const m = await measure(SEARCHES, async () => {
      for (let n = 0; n < SEARCHES; n++) found += (await repo.search(parseSearchRequest('AuditEvent', query(n), opts))).matches.length;
    });
    reads.push(`| ${name} | ${(found / SEARCHES).toFixed(1)} | ${m.wall} | ${m.node} | ${m.pg} |`);
  }
  reads.unshift(`${total} AuditEvents on record; ${SEARCHES} searches each, one at a time`, '');
} finally {
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db.close();
}
process.stdout.write(
  [
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model}; load average ${loadavg()[0].toFixed(2)}; ${EVENTS} events of ${REFERENCES} references`,
    '',
    '| disclosures at once | record: wall µs/event | record: Node CPU µs | record: PostgreSQL CPU µs |',
    '|---:|---:|---:|---:|',
    ...rows,
    '',
    ...reads.slice(0, 2),
    '| accounting search | AuditEvents found | wall µs/search | Node CPU µs | PostgreSQL CPU µs |',
    '|---|---:|---:|---:|---:|',
    ...reads.slice(2),
    '',
  ].join('\n'),
);
process.exit(0);
