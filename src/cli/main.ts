// The `lead-gateway` command line. One file per command; this file only registers them.
import { Command } from 'commander';
import { serveCommand } from './serve.js';

const program = new Command();
program.name('lead-gateway').description('LEAD FHIR Gateway: Medicare ACO / Medicaid data exchange').showHelpAfterError();

program
  .command('serve')
  .description('Serve the FHIR API (and, with --with-worker, the queue workers in the same process)')
  .action(async () => {
    await serveCommand(process.env);
  });

// Other commands register themselves here as their modules land.
const extra = await import('./commands.js').catch(() => undefined);
extra?.register(program);

await program.parseAsync(process.argv);
