// `lead-gateway risk recompute --patient ID | --all`: recompute shared RiskAssessments now,
// through the gateway's write path, with the configured protocol (RISK_PROTOCOL_FILE). --all
// marks every Patient and drains the marks here (running workers share the work); use it after
// a protocol change, or periodically so inputs that age out of the look-back are dropped.
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/env.js';
import { loadPartners } from '../config/partners.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { openDatabase } from '../fhir/store/open-database.js';
import { loadProtocol, ProtocolError } from '../risk/protocol.js';
import { recomputePatient } from '../risk/recompute.js';
import { drainAll } from '../risk/risk-drain.js';
import { markAllPending } from '../risk/risk-pending.js';
import { createWritePath } from '../write-path.js';

export function registerRisk(program: Command, env: NodeJS.ProcessEnv): void {
  const risk = program.command('risk').description('Shared risk stratification (docs/risk-stratification.md)');
  risk
    .command('recompute')
    .description("Recompute the shared RiskAssessment of one person (--patient) or of every Patient (--all); prints the result as JSON")
    .option('--patient <id>', 'the Patient id')
    .option('--all', 'every current Patient')
    .action(async (o: { patient?: string; all?: boolean }) => {
      process.exitCode = await recomputeCommand(env, o);
    });
}

async function recomputeCommand(env: NodeJS.ProcessEnv, o: { patient?: string; all?: boolean }): Promise<number> {
  if (!o.patient === !o.all) {
    process.stderr.write('give exactly one of --patient <id> and --all\n');
    return 2;
  }
  let config;
  let protocol;
  try {
    config = loadConfig(env);
    protocol = loadProtocol(config.risk.protocolFile);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof ProtocolError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    loadDefinitions();
    const { repo } = createWritePath({ config, db, partners: loadPartners(config.partnersFile) });
    if (o.patient) {
      const r = await recomputePatient({ repo, sql: db, protocol }, o.patient);
      const out = { patient: o.patient, protocol: `${protocol.id}|${protocol.version}`, outcome: r.outcome, versionId: r.versionId, tier: r.result?.tier, score: r.result?.score, rulesFired: r.result?.rulesFired };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return r.outcome === 'no-patient' ? 1 : 0;
    }
    const marked = await markAllPending(db);
    const counts = await drainAll({ db, repo, protocol, batchSize: config.risk.batchSize, leaseMs: config.risk.leaseMs });
    process.stdout.write(`${JSON.stringify({ protocol: `${protocol.id}|${protocol.version}`, marked, ...counts }, null, 2)}\n`);
    return counts.failed ? 1 : 0;
  } finally {
    await db.close();
  }
}
