// The `lead-gateway` command line. One file per command; this file only registers them.
import { Command } from 'commander';
import { DataDirInUseError } from '../fhir/store/data-dir-lock.js';
import { registerAlign } from './align.js';
import { registerIngest } from './ingest.js';
import { registerSamples } from './samples.js';
import { serveCommand } from './serve.js';

const program = new Command();
program.name('lead-gateway').description('LEAD FHIR Gateway: Medicare ACO / Medicaid data exchange').showHelpAfterError();

program
  .command('serve')
  .description('Serve the FHIR API (and, with --with-worker, the queue workers in the same process)')
  .option('--with-worker', 'also run the queue workers (Bulk Data export) in this process, for the quick start')
  .action(async (o: { withWorker?: boolean }) => {
    await serveCommand(process.env, { withWorker: o.withWorker === true });
  });

// Other commands register themselves here as their modules land.
const extra = await import('./commands.js').catch(() => undefined);
extra?.register(program);
registerIngest(program, process.env);
registerSamples(program);
registerAlign(program, process.env);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Every command that opens the store can meet it; the message says what to do, a stack would not.
  if (!(err instanceof DataDirInUseError)) throw err;
  process.stderr.write(`${err.message}\n`);
  // Exit now: serve may already hold connections (Redis) that would keep the process alive.
  process.exit(1);
}
