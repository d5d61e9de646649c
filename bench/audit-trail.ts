// What a disclosure's audit costs, alone: AuditTrail.record() (the journal row, committed before
// the response) and AuditTrail.index() (journal rows into indexed AuditEvents, 500 a transaction),
// as CPU of this process and of PostgreSQL's processes (/proc) per event.
//
//   node bin/run-ts.js bench/audit-trail.ts [--events 3000] [--concurrency 1,16] [--references 45]
//                                           [--index-batch 500] [--database-url postgres://…]
//
// Each event is a search page's: one person, `references` disclosed versioned references (random
// ids, as real ones are), the MCO recipient. `concurrency` disclosures record at once (group commit
// puts those that wait into one statement). A fresh schema, dropped at the end.
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { AuditTrail, type DisclosureRecord } from '../src/consent/audit.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { postgresCpuSeconds } from './postgres-cpu.js';

const args = Object.fromEntries(
  process.argv.slice(2).flatMap((a, i, all) => (a.startsWith('--') ? [[a.slice(2), all[i + 1]]] : [])),
) as Record<string, string>;
const EVENTS = Number(args.events ?? 3000);
const CONCURRENCY = (args.concurrency ?? '1,16').split(',').map(Number);
const REFERENCES = Number(args.references ?? 45);
/** Journal rows indexed per transaction (AuditWriteOptions.indexBatch). */
const INDEX_BATCH = Number(args['index-batch'] ?? 500);
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
try {
  const trail = new AuditTrail(db, undefined, { indexBatch: INDEX_BATCH });
  for (const concurrency of CONCURRENCY) {
    // 200 disclosures, cycled: building (and collecting) a fresh one per event would be measured too.
    const list = Array.from({ length: 200 }, disclosure);
    const record = async (n: number): Promise<void> => {
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < n) await trail.record(list[next++ % list.length]);
      }));
    };
    await record(200); // warm-up (JIT, prepared statements)
    await trail.index();
    const r = await measure(EVENTS, () => record(EVENTS));
    const i = await measure(EVENTS, () => trail.index());
    rows.push(`| ${concurrency} | ${r.wall} | ${r.node} | ${r.pg} | ${i.wall} | ${i.node} | ${i.pg} |`);
    process.stderr.write(`concurrency ${concurrency}: record ${JSON.stringify(r)}, index ${JSON.stringify(i)}\n`);
  }
} finally {
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db.close();
}
process.stdout.write(
  [
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model}; load average ${loadavg()[0].toFixed(2)}; ${EVENTS} events of ${REFERENCES} references`,
    '',
    '| disclosures at once | record: wall µs/event | record: Node CPU µs | record: PostgreSQL CPU µs | index: wall µs/event | index: Node CPU µs | index: PostgreSQL CPU µs |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n'),
);
process.exit(0);
