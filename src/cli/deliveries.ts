// `lead-gateway deliveries list|show|replay`: the delivery log and dead letters of the queued
// exchange (src/exchange). Reads and updates the database only: a replayed delivery goes back
// to the outbox (pending) with a new job id, and the dispatcher of a running worker queues it.
import type { Command } from 'commander';
import { loadConfig } from '../config/env.js';
import { DeliveryQueues } from '../exchange/delivery-queue.js';
import { DELIVERY_STATES, jobIdOf, outbox, type DeliveryRow, type DeliveryState } from '../exchange/outbox.js';
import type { Database } from '../fhir/store/database.js';
import { openDatabase } from '../fhir/store/open-database.js';

async function withDb<T>(env: NodeJS.ProcessEnv, fn: (db: Database, config: ReturnType<typeof loadConfig>) => Promise<T>): Promise<T> {
  const config = loadConfig(env);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await fn(db, config);
  } finally {
    await db.close();
  }
}

function line(r: DeliveryRow): string {
  const status = r.lastStatus ? ` HTTP ${r.lastStatus}` : '';
  return `${r.id}  ${r.state.padEnd(9)} ${r.destination.padEnd(16)} patient ${r.patientId}  attempts ${r.attempts}${status}  ${r.createdAt}  ${r.dataClasses.join(',')}`;
}

interface ListOptions {
  partner?: string;
  patient?: string;
  state?: string;
  since?: string;
  until?: string;
  limit: string;
  json?: boolean;
}

export function registerDeliveries(program: Command, env: NodeJS.ProcessEnv): void {
  const cmd = program.command('deliveries').description('The queued exchange delivery log: list, inspect and replay deliveries (dead letters)');
  cmd
    .command('list')
    .description('List deliveries, newest first')
    .option('--partner <organization-id>', 'destination organization')
    .option('--patient <id>', 'Patient id')
    .option('--state <state>', `one of ${DELIVERY_STATES.join(', ')} (dead = dead letters)`)
    .option('--since <time>', 'committed at or after (ISO 8601)')
    .option('--until <time>', 'committed before (ISO 8601)')
    .option('--limit <n>', 'most rows', '100')
    .option('--json', 'JSON lines instead of a table')
    .action(async (o: ListOptions) => {
      if (o.state && !DELIVERY_STATES.includes(o.state as DeliveryState)) {
        process.stderr.write(`--state must be one of ${DELIVERY_STATES.join(', ')}\n`);
        process.exitCode = 2;
        return;
      }
      await withDb(env, async (db) => {
        const rows = await outbox.list(db, {
          destination: o.partner,
          patientId: o.patient,
          state: o.state as DeliveryState | undefined,
          since: o.since,
          until: o.until,
          limit: Number(o.limit),
        });
        for (const r of rows) process.stdout.write(`${o.json ? JSON.stringify(r) : line(r)}\n`);
        if (!o.json) process.stderr.write(`${rows.length} deliveries\n`);
      });
    });
  cmd
    .command('show')
    .description("One delivery: its resources (by reference), every attempt, and the receiver's last OperationOutcome")
    .argument('<id>', 'delivery id')
    .action(async (id: string) => {
      await withDb(env, async (db) => {
        const row = await outbox.get(db, id);
        if (!row) {
          process.stderr.write(`No delivery ${id}\n`);
          process.exitCode = 1;
          return;
        }
        const detail = { ...row, jobId: jobIdOf(row), items: await outbox.items(db, id), attemptLog: await outbox.attemptsOf(db, id) };
        process.stdout.write(`${JSON.stringify(detail, null, 2)}\n`);
      });
    });
  cmd
    .command('replay')
    .description('Send deliveries again (after fixing what made them fail): back to the outbox with a new job id')
    .argument('[ids...]', 'delivery ids')
    .option('--all-dead', 'every dead delivery (with --partner: of that destination)')
    .option('--partner <organization-id>', 'with --all-dead: only this destination')
    .action(async (ids: string[], o: { allDead?: boolean; partner?: string }) => {
      if (!o.allDead && !ids.length) {
        process.stderr.write('Nothing to replay (give delivery ids or --all-dead)\n');
        process.exitCode = 2;
        return;
      }
      await withDb(env, async (db, config) => {
        const targets = o.allDead ? (await outbox.list(db, { state: 'dead', destination: o.partner, limit: 100000 })).map((r) => r.id) : ids;
        if (!targets.length) {
          // Asked for every dead letter and there are none: nothing to do is not an error.
          process.stderr.write(`No dead-lettered deliveries${o.partner ? ` for ${o.partner}` : ''}: nothing to replay\n`);
          return;
        }
        const queues = new DeliveryQueues({ redisUrl: config.redisUrl, prefix: config.exchange.queuePrefix, attempts: config.exchange.attempts });
        let replayed = 0;
        try {
          for (const id of targets) {
            const before = await outbox.get(db, id);
            const row = await outbox.replay(db, id);
            if (!row || !before) {
              process.stderr.write(`${id}: not replayed (unknown, or already delivered)\n`);
              continue;
            }
            // The old failed job goes: the new one (new id) is what bull-board should show.
            await queues.removeJob(before.destination, jobIdOf(before));
            replayed++;
            process.stdout.write(`${id}: pending again (job ${jobIdOf(row)})\n`);
          }
        } finally {
          await queues.close();
        }
        process.stderr.write(`${replayed} of ${targets.length} deliveries back in the outbox; a running worker sends them\n`);
        if (replayed < targets.length) process.exitCode = 1;
      });
    });
}
