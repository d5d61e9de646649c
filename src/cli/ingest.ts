// `lead-gateway ingest --layout <name> --source <organization-id> FILE`: stream a source file
// through the pipeline into the store, with a progress bar; prints the report (counts and every
// rejected record with its lines, fields and reasons) as JSON on stdout.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Transform } from 'node:stream';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '../config/env.js';
import { loadPartners, medicaidPlansOf } from '../config/partners.js';
import { openDatabase } from '../fhir/store/open-database.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { runAsSource } from '../exchange/write-source.js';
import { createWritePath } from '../write-path.js';
import { ingest } from '../ingest/pipeline.js';
import { createLayouts, type FridClassList, LAYOUT_NAMES, type LayoutName, parseRxNormCrosswalk } from '../mappers/index.js';

interface IngestCliOptions {
  layout: string;
  source: string;
  format?: string;
  crosswalk: string;
  fridClasses: string;
  maxRecordBytes: string;
  progress: boolean;
}

export function registerIngest(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('ingest')
    .description('Ingest a source file (CSV with header, or NDJSON) into the FHIR store')
    .argument('<file>', 'the source file')
    .requiredOption('--layout <name>', `one of ${LAYOUT_NAMES.join(', ')}`)
    .requiredOption('--source <organization-id>', 'sending organization (partner directory id)')
    .option('--format <format>', 'csv or ndjson (default: from the file extension)')
    .option('--crosswalk <file>', 'NDC → RxNorm crosswalk CSV (ndc11,rxcui,rxnorm_display)', 'samples/ndc-rxnorm-crosswalk.csv')
    .option('--frid-classes <file>', 'fall-risk-increasing drug class list', 'config/medication-risk/frid-classes.json')
    .option('--max-record-bytes <n>', 'largest accepted record', String(1024 * 1024))
    .option('--no-progress', 'no progress bar')
    .action(async (file: string, o: IngestCliOptions) => {
      process.exitCode = await ingestCommand(env, file, o);
    });
}

async function ingestCommand(env: NodeJS.ProcessEnv, file: string, o: IngestCliOptions): Promise<number> {
  if (!(LAYOUT_NAMES as readonly string[]).includes(o.layout)) {
    process.stderr.write(`--layout must be one of ${LAYOUT_NAMES.join(', ')}\n`);
    return 2;
  }
  const format = (o.format ?? (file.endsWith('.ndjson') ? 'ndjson' : 'csv')) as 'csv' | 'ndjson';
  const config = loadConfig(env);
  const partners = loadPartners(config.partnersFile);
  const partner = partners.findOrganization(o.source);
  if (!partner) {
    process.stderr.write(`--source ${o.source} is not an organization of the partner directory\n`);
    return 2;
  }
  const crosswalk = parseRxNormCrosswalk(readFileSync(o.crosswalk, 'utf8'));
  const layout = createLayouts({ crosswalk })[o.layout as LayoutName];
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  loadDefinitions();
  // The gateway's write path (consent labels, validation, exchange outbox rows), as POST /ingest uses.
  const { repo } = createWritePath({ config, db, partners });

  const bar = o.progress ? new cliProgress.SingleBar({ format: '{bar} {percentage}% | {records} records, {rejected} rejected' }, cliProgress.Presets.shades_classic) : undefined;
  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      read += chunk.length;
      done(null, chunk);
    },
  });
  bar?.start(statSync(file).size, 0, { records: 0, rejected: 0 });
  try {
    const report = await runAsSource(partner.id, () => ingest(createReadStream(file).pipe(counter), {
      layout,
      format,
      repo,
      ctx: { sourceOrg: partner.id, sourceOrgName: partner.name, fileName: basename(file), now: () => new Date(), medicaidPlans: medicaidPlansOf(partners) },
      maxRecordBytes: Number(o.maxRecordBytes),
      store: { lanes: config.ingest.storeLanes, records: config.ingest.batchRecords },
      medicationRisk:
        o.layout === 'pharmacy-claims' ? { fridClasses: JSON.parse(readFileSync(o.fridClasses, 'utf8')) as FridClassList } : undefined,
      onRecord: (r) => bar?.update(read, { records: r.records, rejected: r.rejected }),
    }));
    bar?.update(read);
    bar?.stop();
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.rejected > 0 ? 1 : 0;
  } finally {
    bar?.stop();
    await db.close();
  }
}
