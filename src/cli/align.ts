// `lead-gateway align --period YYYY [--roster FILE ...]`: runs Medicaid-enrollment alignment for
// a performance period over the stored enrollment data and the ACO-supplied claims-based and
// voluntary rosters, writes one roster Group per ACO, and prints the run summary as JSON (counts
// only: no identifiers, no names).
import type { Command } from 'commander';
import { loadConfig } from '../config/env.js';
import { loadPartners } from '../config/partners.js';
import { openDatabase } from '../fhir/store/open-database.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { createWritePath } from '../write-path.js';
import { runAlignment } from '../alignment/run.js';
import { readSuppliedRoster, RosterFileError } from '../alignment/supplied-rosters.js';
import type { SuppliedAlignment } from '../alignment/rules.js';

export function registerAlign(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('align')
    .description('Align beneficiaries to ACOs for a performance period and write the roster Groups')
    .requiredOption('--period <year>', 'performance period (calendar year), e.g. 2027')
    .option('--roster <file...>', 'ACO-supplied claims-based / voluntary alignment roster CSV (docs/alignment.md)', [])
    .action(async (o: { period: string; roster: string[] }) => {
      process.exitCode = await alignCommand(env, o);
    });
}

async function alignCommand(env: NodeJS.ProcessEnv, o: { period: string; roster: string[] }): Promise<number> {
  if (!/^20\d{2}$/.test(o.period)) {
    process.stderr.write('--period must be a year YYYY\n');
    return 2;
  }
  const config = loadConfig(env);
  const partners = loadPartners(config.partnersFile);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    loadDefinitions();
    const supplied: SuppliedAlignment[] = [];
    for (const file of o.roster) supplied.push(...(await readSuppliedRoster(file, db, partners)));
    // The gateway's write path: roster Groups are labelled, validated, routed and notified like any write.
    const { repo } = createWritePath({ config, db, partners });
    const result = await runAlignment({ db, repo, directory: partners, period: o.period, supplied });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof RosterFileError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    await db.close();
  }
}
