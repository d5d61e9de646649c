// Bulk Data $export throughput and memory on PostgreSQL, beside the raw ceiling on the same rows.
//
//   node bin/run-ts.js bench/bulk-export.ts [--resources 1000000] [--rounds 1] [--facts false]
//                                           [--database-url postgres://…] [--keep]
//
// Data: one Patient per 10 resources, the rest Observations (the REST bench's generators,
// ≈1.1 KB each), loaded as one template of each through the Repository, then cloned in SQL with
// new ids and subject references (resource rows plus the idx_reference / idx_token rows export
// reads; the other index tables stay empty), then ANALYZE. Schema bench_bulk_<N>, dropped at the
// end unless --keep (a kept schema is reused by the next run with the same N).
//
// Each measurement runs in its own child process, so peak RSS is that phase's alone:
//   ceiling  COPY (SELECT content FROM resource WHERE resource_type IN (…)) TO STDOUT through pg
//            (pg-copy-streams), bytes counted and dropped;
//   export   the real path: kick-off (SMA requester: every patient) → execExportJob with the
//            gateway's consent engine (demo partners, config/policy.json, one AuditEvent per
//            BULK_AUDIT_EVENT_RESOURCES disclosed),
//            NDJSON files written under a temporary DATA_DIR;
//   export-noconsent  the same with a pass-through filter (the consent engine's share);
//   export-noaudit    (only with --phase) consent engine on without the AuditEvents (their share).
// Each export phase reports wall seconds and the process's CPU seconds (user + system).
// Progress goes to stderr; a markdown table and one JSON document go to stdout.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { loadConfig } from '../src/config/env.js';
import { loadPartners } from '../src/config/partners.js';
import { loadPolicy } from '../src/config/policy.js';
import { ConsentEngine } from '../src/consent/engine.js';
import { DiscloseEverything } from './disclose-everything.js';
import { AuditTrail } from '../src/consent/audit.js';
import { DisclosureContextCache } from '../src/consent/disclosure-context-cache.js';
import { factsOfStoredText } from '../src/consent/stored-resource.js';
import { trustedAccess } from '../src/fhir/access.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { bulkUrls, type BulkContext } from '../src/fhir/bulk/bulk-context.js';
import { execExportJob } from '../src/fhir/bulk/exec-export-job.js';
import { exportJobs } from '../src/fhir/bulk/export-job.js';
import type { ExportQueue } from '../src/fhir/bulk/export-queue.js';
import { LocalExportStorage } from '../src/fhir/bulk/export-storage.js';
import { kickOff } from '../src/fhir/bulk/kick-off.js';
import type { Database } from '../src/fhir/store/database.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { Repository } from '../src/fhir/store/repository.js';
import { silentLogger } from '../src/logger.js';
import { createWritePath } from '../src/write-path.js';
import { makeObservation, makePatient } from './fhir-data.js';
import { postgresCpuSeconds } from './postgres-cpu.js';

interface Args {
  resources: number;
  rounds: number;
  databaseUrl: string;
  keep: boolean;
  /** Load (or reuse) the schema and stop: the phases can then run later with --keep. */
  loadOnly: boolean;
  /** Rows carry their disclosure facts, as the write path stores them (default); false: none (scanned at export). */
  facts: boolean;
  phase?: 'ceiling' | 'export' | 'export-noconsent' | 'export-noaudit';
}

function parseArgs(argv: string[]): Args {
  const a: Args = { resources: 1_000_000, rounds: 1, databaseUrl: 'postgres://postgres@127.0.0.1:5432/test', keep: false, loadOnly: false, facts: true };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--resources') a.resources = Number(v.replace(/_/g, ''));
    else if (argv[i] === '--rounds') a.rounds = Number(v);
    else if (argv[i] === '--database-url') a.databaseUrl = v;
    else if (argv[i] === '--keep') a.keep = true;
    else if (argv[i] === '--load-only') a.loadOnly = a.keep = true;
    else if (argv[i] === '--phase') a.phase = v as Args['phase'];
    else if (argv[i] === '--facts') a.facts = v !== 'false';
    else continue;
    if (argv[i] !== '--keep' && argv[i] !== '--load-only') i++;
  }
  return a;
}

const log = (msg: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
const schemaOf = (n: number): string => `bench_bulk_${n}`;

/** Peak RSS, sampled every 20 ms while `fn` runs. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peakRssMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakRssMb: Math.round(peak / 1048576) };
  } finally {
    clearInterval(timer);
  }
}

// --- data ------------------------------------------------------------------------------------

async function load(db: Database, n: number): Promise<void> {
  const patients = Math.max(2, Math.round(n / 10));
  const observations = n - patients;
  const have = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource')).rows[0].n;
  if (have === n) {
    log(`reusing ${n} resources in ${schemaOf(n)}`);
    return;
  }
  if (have) throw new Error(`${schemaOf(n)} holds ${have} resources, not ${n}: drop it`);
  // Templates go in through the labeler, as data written through the gateway does: each row
  // carries its labels and the labeler's rules-version tag (rows without it are re-scanned on read).
  const config = loadConfig({ DATABASE_URL: 'postgres://unused', LOG_LEVEL: 'silent' });
  const labeler = createWritePath({ config, db, partners: loadPartners(config.partnersFile) }).labeler;
  const repo = new Repository(db, { prepare: (tx, r) => labeler.prepare(tx, r) });
  await repo.update({ ...makePatient(0), id: 'tp' } as Resource);
  await repo.update({ ...makeObservation(0), id: 'to', subject: { reference: 'Patient/tp' } } as Resource);
  const clone = async (type: string, tid: string, prefix: string, count: number, ref?: (i: string) => string): Promise<void> => {
    const t = Date.now();
    for (let start = 0; start < count; start += 100_000) {
      const series = `generate_series(${start}, ${Math.min(start + 100_000, count) - 1}) i`;
      let content = `jsonb_set(t.content, '{id}', to_jsonb('${prefix}' || i))`;
      if (ref) content = `jsonb_set(${content}, '{subject,reference}', to_jsonb('Patient/' || ${ref('i')}))`;
      await db.query(
        `INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
         SELECT t.resource_type, '${prefix}' || i, 1, t.last_updated, false, ${content}
         FROM resource t, ${series} WHERE t.resource_type = '${type}' AND t.id = '${tid}'`,
      );
      const target = ref ? `CASE WHEN x.target_id = 'tp' THEN ${ref('i')} ELSE x.target_id END` : 'x.target_id';
      await db.query(
        `INSERT INTO idx_reference (resource_type, id, param, target_type, target_id, target_version, url)
         SELECT x.resource_type, '${prefix}' || i, x.param, x.target_type, ${target}, x.target_version, x.url
         FROM idx_reference x, ${series} WHERE x.resource_type = '${type}' AND x.id = '${tid}'`,
      );
      await db.query(
        `INSERT INTO idx_token (resource_type, id, param, system, code)
         SELECT x.resource_type, '${prefix}' || i, x.param, x.system, x.code FROM idx_token x, ${series}
         WHERE x.resource_type = '${type}' AND x.id = '${tid}'`,
      );
    }
    await repo.delete(type, tid);
    log(`cloned ${count} ${type} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
  await clone('Patient', 'tp', 'bp', patients);
  await clone('Observation', 'to', 'bo', observations, (i) => `'bp' || (${i} % ${patients})`);
  // Tombstones of the templates are not exported; the counts stay N.
  await db.query("DELETE FROM resource WHERE id IN ('tp', 'to')");
  await db.query('ANALYZE');
}

/**
 * The rows' disclosure facts as the write path keeps them (found in each row's stored text, the
 * same function), or none: the clones are made in SQL, which finds none. `--facts false` measures
 * the export scanning every row instead, on the same data.
 */
async function setFacts(db: Database, on: boolean): Promise<void> {
  const t = Date.now();
  if (!on) {
    await db.query('UPDATE resource SET disclosure_facts = NULL WHERE disclosure_facts IS NOT NULL');
    log(`disclosure facts cleared in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return;
  }
  let n = 0;
  for (const type of ['Patient', 'Observation']) {
    for (let after = ''; ; ) {
      const rows = (
        await db.query<{ id: string; c: string }>(
          'SELECT id, content::text AS c FROM resource WHERE resource_type = $1 AND id > $2 AND disclosure_facts IS NULL AND NOT deleted ORDER BY id LIMIT 10000',
          [type, after],
        )
      ).rows;
      if (!rows.length) break;
      after = rows[rows.length - 1].id;
      await db.query('UPDATE resource r SET disclosure_facts = u.f FROM unnest($1::text[], $2::text[]) AS u(id, f) WHERE r.resource_type = $3 AND r.id = u.id', [
        rows.map((r) => r.id),
        rows.map((r) => factsOfStoredText(type, r.c) ?? null),
        type,
      ]);
      n += rows.length;
    }
  }
  if (n) log(`disclosure facts found for ${n} rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

// --- phases (each in a child process) ----------------------------------------------------------

async function ceiling(args: Args): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: args.databaseUrl, options: `-c search_path=${schemaOf(args.resources)}` });
  await client.connect();
  const t = process.hrtime.bigint();
  const pgCpu0 = postgresCpuSeconds();
  const { result, peakRssMb } = await withPeakRss(
    () =>
      new Promise<{ rows: number; bytes: number }>((resolve, reject) => {
        let rows = 0;
        let bytes = 0;
        const stream = client.query(copyTo("COPY (SELECT content FROM resource WHERE resource_type IN ('Patient', 'Observation') AND NOT deleted) TO STDOUT"));
        stream.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
        });
        stream.on('end', () => resolve({ rows, bytes }));
        stream.on('error', reject);
      }),
  );
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  const pgCpuSeconds = postgresCpuSeconds() - pgCpu0;
  await client.end();
  return { rows: result.rows, seconds: s, rowsPerSecond: result.rows / s, mbPerSecond: result.bytes / 1048576 / s, pgCpuSeconds, peakRssMb };
}

async function exportPhase(args: Args, consentOn: boolean, audited = true): Promise<Record<string, number>> {
  loadDefinitions();
  // BULK_* settings from the environment apply (e.g. BULK_AUDIT_EVENT_RESOURCES=1000: one event a page).
  const bulkEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BULK_'))) as Record<string, string>;
  const config = loadConfig({ ...bulkEnv, DATABASE_URL: args.databaseUrl, LOG_LEVEL: 'silent' });
  const db = await openDatabase({ databaseUrl: args.databaseUrl, dataDir: '', schema: schemaOf(args.resources) });
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-bulk-'));
  const storage = new LocalExportStorage(dataDir);
  const partners = loadPartners(config.partnersFile);
  // As the worker builds it: the disclosure-context cache listening for changes (cli/worker.ts).
  const contextCache = new DisclosureContextCache();
  if (consentOn) await contextCache.start(db);
  const engineOpts = {
    db,
    partners,
    policy: loadPolicy(config.policyFile),
    labeler: createWritePath({ config, db, partners }).labeler,
    audit: audited ? new AuditTrail(db) : undefined,
    contextCache,
  };
  const consent = consentOn ? new ConsentEngine(engineOpts) : new DiscloseEverything(engineOpts);
  const fhirBase = `${config.baseUrl}/fhir`;
  const ctx: BulkContext = {
    db,
    storage,
    queue: { add: async () => undefined } as unknown as ExportQueue,
    config: config.bulk,
    fhirBase,
    now: () => new Date(),
    requiresAccessToken: true,
    ...bulkUrls(fhirBase),
  };
  const t = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const pgCpu0 = postgresCpuSeconds();
  const { result, peakRssMb } = await withPeakRss(async () => {
    const k = await kickOff(
      ctx,
      {
        method: 'GET',
        url: `${fhirBase}/$export?_type=Patient,Observation`,
        query: [['_type', 'Patient,Observation']],
        headers: { prefer: 'respond-async' },
        access: trustedAccess,
        requester: { clientId: 'sma-admin', organizationId: 'sma-state', organizationType: 'SMA', purposeOfUse: 'HOPERAT' },
      },
      { kind: 'system' },
    );
    const id = (k.headers?.['Content-Location'] as string).split('/').pop() as string;
    const outcome = await execExportJob({ db, storage, config: config.bulk, fhirBase, logger: silentLogger, consent }, id);
    const job = await exportJobs.get(db, id);
    await exportJobs.cancel(db, id, new Date());
    await storage.removeJob(id);
    return { outcome, rows: (job?.output ?? []).reduce((n, f) => n + f.count, 0), files: job?.output.length ?? 0 };
  });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  const used = process.cpuUsage(cpu);
  const pgCpuSeconds = postgresCpuSeconds() - pgCpu0;
  if (result.outcome !== 'completed') throw new Error(`export ${result.outcome}`);
  // The audit trail of the run is not part of the data set.
  if (consentOn) await db.query('DELETE FROM audit_event');
  // The next run must not scan this run's dead rows (the job's people, the AuditEvents): this
  // machine's PostgreSQL runs without autovacuum (measured: 5 million dead bulk_export_patient
  // rows after a session of runs slowed the pass-through export from 14.7 to 19 s).
  await db.query('VACUUM (ANALYZE) audit_event, bulk_export_patient, bulk_export_job');
  await contextCache.stop();
  await db.close();
  rmSync(dataDir, { recursive: true, force: true });
  return { rows: result.rows, files: result.files, seconds: s, rowsPerSecond: result.rows / s, cpuSeconds: (used.user + used.system) / 1e6, pgCpuSeconds, peakRssMb };
}

function runPhase(args: Args, phase: NonNullable<Args['phase']>): Record<string, number> {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['bin/run-ts.js', self, '--phase', phase, '--resources', String(args.resources), '--database-url', args.databaseUrl], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`phase ${phase} failed (${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number>;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.phase) {
    const out = args.phase === 'ceiling' ? await ceiling(args) : await exportPhase(args, args.phase !== 'export-noconsent', args.phase !== 'export-noaudit');
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  loadDefinitions();
  const schema = schemaOf(args.resources);
  log(`loading ${args.resources} resources into ${schema}`);
  const db = await openDatabase({ databaseUrl: args.databaseUrl, dataDir: '', schema });
  await load(db, args.resources);
  await setFacts(db, args.facts);
  await db.close();
  if (args.loadOnly) return;
  const phases = ['ceiling', 'export', 'export-noconsent'] as const;
  const results: Record<string, Record<string, number>[]> = { ceiling: [], export: [], 'export-noconsent': [] };
  for (let round = 1; round <= args.rounds; round++) {
    for (const p of phases) {
      log(`round ${round}: ${p}`);
      const r = runPhase(args, p);
      log(`  ${JSON.stringify(r)}`);
      results[p].push(r);
    }
  }
  const row = (p: string): Record<string, number> => {
    const rs = results[p];
    return { rows: rs[0].rows, rowsPerSecond: median(rs.map((r) => r.rowsPerSecond)), seconds: median(rs.map((r) => r.seconds)), peakRssMb: Math.max(...rs.map((r) => r.peakRssMb)) };
  };
  const c = row('ceiling');
  const lines = [
    `| What (${args.resources.toLocaleString('en-US')} resources, PostgreSQL) | resources/s | seconds | peak RSS | vs ceiling |`,
    '|---|---|---|---|---|',
    ...phases.map((p) => {
      const r = row(p);
      const name = { ceiling: 'Ceiling: COPY … TO STDOUT through pg', export: '$export, consent engine on (SMA, every patient)', 'export-noconsent': '$export, pass-through consent filter' }[p];
      return `| ${name} | ${Math.round(r.rowsPerSecond).toLocaleString('en-US')} | ${r.seconds.toFixed(1)} | ${r.peakRssMb} MB | ${p === 'ceiling' ? '1.00' : (r.rowsPerSecond / c.rowsPerSecond).toFixed(2)} |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  process.stdout.write(
    `${JSON.stringify({ commit, resources: args.resources, rounds: args.rounds, cpus: cpus().length, memGb: Math.round(totalmem() / 1073741824), loadavg: loadavg(), results })}\n`,
  );
  if (!args.keep) {
    const client = new pg.Client({ connectionString: args.databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}

await main();
