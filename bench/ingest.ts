// Ingest end to end (parse → group → check → map → label → validate → store, one transaction
// per source record) for each layout, on PGlite (in memory) and PostgreSQL (a fresh schema,
// dropped after), through the gateway's write path (src/write-path.ts: consent labeler,
// validation, exchange outbox rows). Reports records/s, resource writes/s, peak RSS, and where
// the time goes: SQL statements per resource written (by kind), time in SQL, in the labeler
// (which itself runs SQL lookups) and in validation.
//
//   npx tsx bench/ingest.ts [--rows 100000] [--store pglite|postgres|both] [--layout name]
//                           [--database-url postgres://postgres@127.0.0.1:5432/test]
//
// Input: synthetic people from the samples generator (src/ingest/samples.ts), each layout's
// file cut to its first N data rows (a record cut in two is simply a smaller record).
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config/env.js';
import { loadPartners } from '../src/config/partners.js';
import type { Database, QueryOptions, Sql } from '../src/fhir/store/database.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { openDatabase } from '../src/fhir/store/open-database.js';
import { Validator } from '../src/fhir/validation/validator.js';
import { runAsSource } from '../src/exchange/write-source.js';
import { loadIngestLayouts } from '../src/ingest/ingest-layouts.js';
import { ingest } from '../src/ingest/pipeline.js';
import { generateSamples } from '../src/ingest/samples.js';
import { LAYOUT_NAMES, type LayoutName } from '../src/mappers/index.js';
import { createWritePath, DEFAULT_PROFILES_DIR } from '../src/write-path.js';

interface Args {
  rows: number;
  store: 'pglite' | 'postgres' | 'both';
  layouts: LayoutName[];
  databaseUrl: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rows: 100_000, store: 'both', layouts: [...LAYOUT_NAMES], databaseUrl: 'postgres://postgres@127.0.0.1:5432/test' };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--rows') a.rows = Number(v.replace(/_/g, ''));
    else if (argv[i] === '--store') a.store = v as Args['store'];
    else if (argv[i] === '--layout') a.layouts = [v as LayoutName];
    else if (argv[i] === '--database-url') a.databaseUrl = v;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return a;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Time and statement counts, by kind of SQL statement. */
class Profile {
  statements = new Map<string, { n: number; ms: number }>();
  labelerMs = 0;
  validateMs = 0;
  sqlMs = 0;

  kind(text: string): string {
    const t = text.trim().replace(/\s+/g, ' ');
    const m = /^(WITH|SELECT|INSERT INTO|UPDATE|DELETE FROM|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b ?([a-z_]*)/i.exec(t);
    if (!m) return t.slice(0, 30);
    if (/^WITH locked/i.test(t)) return 'WITH locked … (prefetch)';
    if (/^WITH/i.test(m[1])) return 'WITH … (write CTE)';
    return `${m[1].toUpperCase()} ${m[2] ?? ''}`.trim();
  }

  wrap<S extends Sql>(sql: S): S {
    const self = this;
    return new Proxy(sql, {
      get(target, prop, recv) {
        if (prop === 'query') {
          return async (text: string, params?: unknown[], opts?: QueryOptions) => {
            const t0 = performance.now();
            try {
              return await target.query(text, params, opts);
            } finally {
              const ms = performance.now() - t0;
              self.sqlMs += ms;
              const k = self.kind(text);
              const s = self.statements.get(k) ?? { n: 0, ms: 0 };
              s.n++;
              s.ms += ms;
              self.statements.set(k, s);
            }
          };
        }
        if (prop === 'transaction') {
          return (fn: (tx: Sql) => Promise<unknown>) => (target as unknown as Database).transaction((tx) => fn(self.wrap(tx)));
        }
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

/** The first `rows` data rows of a CSV file (plus its header). */
async function cut(src: string, dst: string, rows: number): Promise<number> {
  const out = createWriteStream(dst);
  let n = -1;
  for await (const line of createInterface({ input: createReadStream(src) })) {
    if (n >= rows) break;
    if (!out.write(`${line}\n`)) await once(out, 'drain');
    n++;
  }
  out.end();
  await once(out, 'finish');
  return n;
}

async function openStore(kind: 'pglite' | 'postgres', url: string): Promise<{ db: Database; drop(): Promise<void> }> {
  if (kind === 'pglite') {
    const db = await openDatabase({ dataDir: '', inMemory: true });
    return { db, drop: () => db.close() };
  }
  const schema = `bench_ingest_${randomBytes(4).toString('hex')}`;
  const db = await openDatabase({ databaseUrl: url, dataDir: '', schema });
  return {
    db,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  loadDefinitions();
  const work = mkdtempSync(join(tmpdir(), 'bench-ingest-'));
  // About 1 eligibility row, 2 claims, 1 screen and 30 assessment items per person and month:
  // enough people that the smallest file (falls screens) reaches N rows.
  const patients = Math.max(50, Math.ceil(args.rows / 1.5));
  log(`generating samples for ${patients} people…`);
  await generateSamples({ patients, outDir: work, seed: 7 });
  const config = loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: work, INGEST_CROSSWALK_FILE: join(work, 'ndc-rxnorm-crosswalk.csv') });
  const partners = loadPartners(config.partnersFile);
  const layouts = loadIngestLayouts(config.ingest);
  const validator = Validator.fromProfileDir(DEFAULT_PROFILES_DIR);
  const stores = args.store === 'both' ? (['pglite', 'postgres'] as const) : ([args.store] as const);
  const results: string[] = [];
  for (const store of stores) {
    for (const name of args.layouts) {
      const file = join(work, `${name}.bench.csv`);
      const rows = await cut(join(work, `${name}.csv`), file, args.rows);
      const { db, drop } = await openStore(store, args.databaseUrl);
      const profile = new Profile();
      const { repo, labeler } = createWritePath({ config, db: profile.wrap(db), partners, validator });
      const prepare = labeler.prepare.bind(labeler);
      labeler.prepare = async (tx, r, known) => {
        const t0 = performance.now();
        try {
          return await prepare(tx, r, known);
        } finally {
          profile.labelerMs += performance.now() - t0;
        }
      };
      const validate = validator.validate.bind(validator);
      validator.validate = (r) => {
        const t0 = performance.now();
        try {
          return validate(r);
        } finally {
          profile.validateMs += performance.now() - t0;
        }
      };
      let peakRss = process.memoryUsage.rss();
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 200);
      const t0 = performance.now();
      const report = await runAsSource('sma-state', () =>
        ingest(createReadStream(file), {
          layout: layouts.layouts[name],
          format: 'csv',
          repo,
          ctx: { sourceOrg: 'sma-state', sourceOrgName: 'State Department of Medicaid Services', fileName: `${name}.bench.csv`, now: () => new Date() },
          medicationRisk: name === 'pharmacy-claims' ? layouts.medicationRisk : undefined,
        }),
      );
      const s = (performance.now() - t0) / 1000;
      // Synthetic data: the reasons hold no PHI (a record cut at the file's end may be incomplete).
      for (const r of report.rejects.slice(0, 3)) log(`    rejected lines ${r.lines.join(',')}: ${r.issues.map((i) => i.diagnostics).join('; ').slice(0, 300)}`);
      clearInterval(sampler);
      validator.validate = validate;
      const writes = report.resources.created + report.resources.updated + report.resources.unchanged;
      const touched = writes + report.resources.skipped;
      const stmts = [...profile.statements.values()].reduce((n, x) => n + x.n, 0);
      const line =
        `| ${store} | ${name} | ${rows} | ${report.records} | ${report.rejected} | ${s.toFixed(1)} | ${(report.records / s).toFixed(1)} | ` +
        `${(rows / s).toFixed(1)} | ${(writes / s).toFixed(1)} | ${(stmts / Math.max(1, touched)).toFixed(1)} | ` +
        `${((profile.sqlMs / 1000 / s) * 100).toFixed(0)}% | ${((profile.labelerMs / 1000 / s) * 100).toFixed(0)}% | ` +
        `${((profile.validateMs / 1000 / s) * 100).toFixed(0)}% | ${(peakRss / 2 ** 20).toFixed(0)} |`;
      results.push(line);
      log(line);
      const top = [...profile.statements.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8);
      for (const [k, v] of top) log(`    ${k.padEnd(34)} ${String(v.n).padStart(8)} stmts  ${(v.n / Math.max(1, touched)).toFixed(2)}/resource  ${(v.ms / 1000).toFixed(1)} s`);
      await drop();
    }
  }
  rmSync(work, { recursive: true, force: true });
  process.stdout.write(
    '| store | layout | rows | records | rejected | s | records/s | rows/s | resource writes/s | SQL stmts / resource | time in SQL | in labeler | in validation | peak RSS MB |\n' +
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n' +
      `${results.join('\n')}\n`,
  );
}

await main();
